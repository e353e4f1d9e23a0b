/**
 * The rendezvous node's state behind one small interface (DESIGN.md "Storage"): LevelDB is the
 * first implementation; a clustered one (NATS JetStream buckets) can stand behind the same shape.
 */
import { openDb } from './db.js'
import type { Db } from './db.js'

export const RENDEZVOUS_SCHEMA_VERSION = 1

export interface StoredPasswordHash {
  alg: 'scrypt'
  N: number
  r: number
  p: number
  salt: string
  hash: string
}

export interface AccountRecord {
  user: string
  password: StoredPasswordHash
  createdAt: number
  disabled: boolean
  /** When the account was last seen online (its last device went offline), or null if never. */
  lastSeen: number | null
  /** The address the account last connected from. */
  lastAddr: string | null
}

export interface DeviceRecord {
  peer: string
  user: string
  firstSeen: number
  lastSeen: number
  lastAddr: string | null
  /** False after the device logged out: its certificate is no longer honoured by the node. */
  loggedIn: boolean
}

export interface RendezvousState {
  getAccount: (user: string) => Promise<AccountRecord | undefined>
  /** Creates the account; resolves false when the name is taken. */
  createAccount: (record: AccountRecord) => Promise<boolean>
  updateAccount: (user: string, change: Partial<Omit<AccountRecord, 'user'>>) => Promise<void>
  listAccounts: () => Promise<AccountRecord[]>
  getDevice: (peer: string) => Promise<DeviceRecord | undefined>
  putDevice: (record: DeviceRecord) => Promise<void>
  listDevices: (user: string) => Promise<DeviceRecord[]>
  close: () => Promise<void>
}

/** LevelDB layout: `accounts!<user>`, `devices!<peer>`, `userdev!<user>!<peer>` (index). */
export class LevelRendezvousState implements RendezvousState {
  private readonly accounts
  private readonly devices
  private readonly userDevices
  /** Serialises writes that read first (create, update) inside this process. */
  private chain: Promise<unknown> = Promise.resolve()

  private constructor (private readonly db: Db) {
    this.accounts = db.sublevel<string, AccountRecord>('accounts', { valueEncoding: 'json' })
    this.devices = db.sublevel<string, DeviceRecord>('devices', { valueEncoding: 'json' })
    this.userDevices = db.sublevel<string, string>('userdev', { valueEncoding: 'utf8' })
  }

  static async open (dir: string): Promise<LevelRendezvousState> {
    return new LevelRendezvousState(await openDb(dir, 'rendezvous', RENDEZVOUS_SCHEMA_VERSION))
  }

  private serial<T> (fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn)
    this.chain = next.catch(() => {})
    return next
  }

  async getAccount (user: string): Promise<AccountRecord | undefined> {
    return await this.accounts.get(user)
  }

  async createAccount (record: AccountRecord): Promise<boolean> {
    return await this.serial(async () => {
      if (await this.accounts.get(record.user) != null) {
        return false
      }
      await this.accounts.put(record.user, record)
      return true
    })
  }

  async updateAccount (user: string, change: Partial<Omit<AccountRecord, 'user'>>): Promise<void> {
    await this.serial(async () => {
      const found = await this.accounts.get(user)
      if (found == null) return
      await this.accounts.put(user, { ...found, ...change })
    })
  }

  async listAccounts (): Promise<AccountRecord[]> {
    return await this.accounts.values().all()
  }

  async getDevice (peer: string): Promise<DeviceRecord | undefined> {
    return await this.devices.get(peer)
  }

  async putDevice (record: DeviceRecord): Promise<void> {
    await this.serial(async () => {
      const old = await this.devices.get(record.peer)
      await this.db.batch([
        // a device that now belongs to another user leaves the old user's index
        ...(old != null && old.user !== record.user
          ? [{ type: 'del' as const, sublevel: this.userDevices, key: `${old.user}!${record.peer}` }]
          : []),
        { type: 'put', sublevel: this.devices, key: record.peer, value: record },
        { type: 'put', sublevel: this.userDevices, key: `${record.user}!${record.peer}`, value: '' }
      ])
    })
  }

  async listDevices (user: string): Promise<DeviceRecord[]> {
    const peers = await this.userDevices.keys({ gt: `${user}!`, lt: `${user}!\xff` }).all()
    const found = await this.devices.getMany(peers.map(k => k.slice(user.length + 1)))
    return found.filter((d): d is DeviceRecord => d != null && d.user === user)
  }

  async close (): Promise<void> {
    await this.chain
    await this.db.close()
  }
}
