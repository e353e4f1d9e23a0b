/**
 * The rendezvous node's state behind one small interface (DESIGN.md "Storage"): LevelDB is the
 * first implementation; a clustered one (NATS JetStream buckets) can stand behind the same shape.
 */
import { openDb, readKeys } from './db.js'
import type { Db } from './db.js'
import { LevelFileRecords } from './file-records.js'
import { RecordCache } from './record-cache.js'
import type { FileRecordStore } from './file-records.js'

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
  /** The account's sealing key: public half, and private half wrapped by the password (opaque here). */
  accountKey?: { publicKey: string, wrapped: unknown }
  /**
   * Set when the operator reset the password: the wrapped key no longer opens with the new one,
   * so the next device to log in may store a new wrapping (or a new key); cleared when it does.
   */
  keyReset?: boolean
}

/** One sealed copy waiting in an account's archive; the node cannot open `sealed`. */
export interface ArchiveRecord {
  seq: number
  at: number
  from: string
  sealed: string
  /** The sealed envelope's id, when the sender gave it. */
  id?: string
}

export interface RoomRecord {
  sentAt: number
  id: string
  envelope: unknown
}

/** A named room in the registry. `list` is the owner-signed member list of a private room. */
export interface RoomRegistryRecord {
  room: string
  owner: string
  private: boolean
  createdAt: number
  list: unknown
  /** Version of `list` (0 for public rooms). */
  version: number
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
  /** Changes fields of a known device (read and written in one step, so no change is lost). */
  updateDevice: (peer: string, change: Partial<Omit<DeviceRecord, 'peer' | 'user'>>) => Promise<void>
  listDevices: (user: string) => Promise<DeviceRecord[]>
  /** Appends sealed copies to accounts' archives in one batch; returns each copy's sequence number. */
  appendArchive: (items: Array<{ to: string, from: string, sealed: string, at: number, id?: string }>) => Promise<number[]>
  /** Up to `limit` items of `user`'s archive with seq > `after`, oldest first. */
  readArchive: (user: string, after: number, limit: number) => Promise<ArchiveRecord[]>
  /** The newest sequence number in `user`'s archive (0 when empty). */
  archiveHead: (user: string) => Promise<number>
  /** Keeps a room message (idempotent by id), dropping the oldest past `keep`. */
  addRoomMessage: (room: string, record: RoomRecord, keep: number) => Promise<void>
  /** Up to `limit` room messages after `after` (sentAt, id), oldest first; the newest ones when `after` is null. */
  readRoom: (room: string, after: { sentAt: number, id: string } | null, limit: number) => Promise<RoomRecord[]>
  /** The newest profile envelope of a user (opaque here; checked when it was set). */
  getProfile: (user: string) => Promise<unknown>
  putProfile: (user: string, envelope: unknown) => Promise<void>
  getRoom: (room: string) => Promise<RoomRegistryRecord | undefined>
  /** Registers a room and its owner as first member; false when the name is taken. */
  createRoom: (record: RoomRegistryRecord) => Promise<boolean>
  /** Replaces a room's record (a new member list) if `version` is higher than the stored one. */
  updateRoom: (record: RoomRegistryRecord) => Promise<boolean>
  listRooms: (limit: number) => Promise<RoomRegistryRecord[]>
  addMember: (room: string, user: string, at: number) => Promise<void>
  removeMember: (room: string, user: string) => Promise<void>
  isMember: (room: string, user: string) => Promise<boolean>
  members: (room: string, limit: number) => Promise<string[]>
  memberCount: (room: string) => Promise<number>
  /** Rooms `user` is a member of. */
  roomsOf: (user: string, limit: number) => Promise<string[]>
  /** Files waiting for accounts at the node: records, stored parts, quotas (file-records.ts). */
  readonly files: FileRecordStore
  close: () => Promise<void>
}

const pad = (n: number): string => n.toString().padStart(15, '0')
/** Batches mixing sublevels of different value types; each op names its own sublevel. */
type BatchOps = Array<{ type: 'put', key: string, value: unknown } | { type: 'del', key: string }>

/** Accounts, devices and archive heads kept in memory (each), the most recently used. */
const STATE_CACHE_ENTRIES = 20_000

/** LevelDB layout: `accounts!<user>`, `devices!<peer>`, `userdev!<user>!<peer>` (index). */
export class LevelRendezvousState implements RendezvousState {
  private readonly accounts
  private readonly devices
  private readonly userDevices
  private readonly archive
  private readonly archiveHeads
  private readonly rooms
  private readonly roomCounts
  private readonly profiles
  private readonly roomRegistry
  private readonly roomMembers
  private readonly userRooms
  readonly files: LevelFileRecords
  /** Serialises writes that read first (create, update) inside this process. */
  private chain: Promise<unknown> = Promise.resolve()
  /** Read on every request a device makes (record-cache.ts): kept in memory, written through. */
  private readonly accountCache
  private readonly deviceCache
  private readonly headCache

  private constructor (private readonly db: Db) {
    this.accounts = db.sublevel<string, AccountRecord>('accounts', { valueEncoding: 'json' })
    this.devices = db.sublevel<string, DeviceRecord>('devices', { valueEncoding: 'json' })
    this.userDevices = db.sublevel<string, string>('userdev', { valueEncoding: 'utf8' })
    this.archive = db.sublevel<string, ArchiveRecord>('archive', { valueEncoding: 'json' })
    this.archiveHeads = db.sublevel<string, number>('archhead', { valueEncoding: 'json' })
    this.rooms = db.sublevel<string, RoomRecord>('room', { valueEncoding: 'json' })
    this.roomCounts = db.sublevel<string, number>('roomcount', { valueEncoding: 'json' })
    this.profiles = db.sublevel<string, unknown>('profile', { valueEncoding: 'json' })
    this.roomRegistry = db.sublevel<string, RoomRegistryRecord>('roomreg', { valueEncoding: 'json' })
    this.roomMembers = db.sublevel<string, number>('rmember', { valueEncoding: 'json' })
    this.userRooms = db.sublevel<string, number>('uroom', { valueEncoding: 'json' })
    this.files = new LevelFileRecords(db)
    this.accountCache = new RecordCache<AccountRecord>(this.accounts, STATE_CACHE_ENTRIES)
    this.deviceCache = new RecordCache<DeviceRecord>(this.devices, STATE_CACHE_ENTRIES)
    this.headCache = new RecordCache<number>(this.archiveHeads, STATE_CACHE_ENTRIES)
  }

  /** `lockWaitMs`: how long to wait for another process (an admin command) to let go of the folder. */
  static async open (dir: string, options: { lockWaitMs?: number } = {}): Promise<LevelRendezvousState> {
    return new LevelRendezvousState(await openDb(dir, 'rendezvous', RENDEZVOUS_SCHEMA_VERSION, options))
  }

  private serial<T> (fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn)
    this.chain = next.catch(() => {})
    return next
  }

  async getAccount (user: string): Promise<AccountRecord | undefined> {
    return await this.accountCache.get(user)
  }

  async createAccount (record: AccountRecord): Promise<boolean> {
    return await this.serial(async () => {
      if (await this.accountCache.get(record.user) != null) {
        return false
      }
      await this.accounts.put(record.user, record)
      this.accountCache.written(record.user, record)
      return true
    })
  }

  async updateAccount (user: string, change: Partial<Omit<AccountRecord, 'user'>>): Promise<void> {
    await this.serial(async () => {
      const found = await this.accountCache.get(user)
      if (found == null) return
      const updated = { ...found, ...change }
      await this.accounts.put(user, updated)
      this.accountCache.written(user, updated)
    })
  }

  async listAccounts (): Promise<AccountRecord[]> {
    return await this.accounts.values().all()
  }

  async getDevice (peer: string): Promise<DeviceRecord | undefined> {
    return await this.deviceCache.get(peer)
  }

  async putDevice (record: DeviceRecord): Promise<void> {
    await this.serial(async () => {
      const old = await this.deviceCache.get(record.peer)
      await this.db.batch([
        // a device that now belongs to another user leaves the old user's index
        ...(old != null && old.user !== record.user
          ? [{ type: 'del' as const, sublevel: this.userDevices, key: `${old.user}!${record.peer}` }]
          : []),
        { type: 'put', sublevel: this.devices, key: record.peer, value: record },
        { type: 'put', sublevel: this.userDevices, key: `${record.user}!${record.peer}`, value: '' }
      ])
      this.deviceCache.written(record.peer, record)
    })
  }

  async updateDevice (peer: string, change: Partial<Omit<DeviceRecord, 'peer' | 'user'>>): Promise<void> {
    await this.serial(async () => {
      const found = await this.deviceCache.get(peer)
      if (found == null) return
      const updated = { ...found, ...change }
      await this.devices.put(peer, updated)
      this.deviceCache.written(peer, updated)
    })
  }

  async listDevices (user: string): Promise<DeviceRecord[]> {
    const peers = await this.userDevices.keys({ gt: `${user}!`, lt: `${user}!\xff` }).all()
    const found = await this.deviceCache.getMany(peers.map(k => k.slice(user.length + 1)))
    return found.filter((d): d is DeviceRecord => d != null && d.user === user)
  }

  async appendArchive (items: Array<{ to: string, from: string, sealed: string, at: number, id?: string }>): Promise<number[]> {
    return await this.serial(async () => {
      const heads = new Map<string, number>()
      const ops = []
      const seqs: number[] = []
      for (const item of items) {
        const head = (heads.get(item.to) ?? await this.headCache.get(item.to) ?? 0) + 1
        heads.set(item.to, head)
        seqs.push(head)
        ops.push({ type: 'put' as const, sublevel: this.archive, key: `${item.to}!${pad(head)}`, value: { seq: head, at: item.at, from: item.from, sealed: item.sealed, ...(item.id == null ? {} : { id: item.id }) } })
      }
      for (const [user, head] of heads) {
        ops.push({ type: 'put' as const, sublevel: this.archiveHeads, key: user, value: head })
      }
      await this.db.batch(ops as BatchOps)
      for (const [user, head] of heads) this.headCache.written(user, head)
      return seqs
    })
  }

  async readArchive (user: string, after: number, limit: number): Promise<ArchiveRecord[]> {
    return await this.archive.values({ gt: `${user}!${pad(after)}`, lt: `${user}!\xff`, limit }).all()
  }

  async archiveHead (user: string): Promise<number> {
    return await this.headCache.get(user) ?? 0
  }

  async addRoomMessage (room: string, record: RoomRecord, keep: number): Promise<void> {
    await this.serial(async () => {
      const key = `${room}!${pad(record.sentAt)}!${record.id}`
      const [known] = await readKeys<RoomRecord>(this.rooms, [key])
      if (known != null) return
      let count = ((await readKeys<number>(this.roomCounts, [room]))[0] ?? 0) + 1
      const ops: Array<{ type: 'put' | 'del', sublevel: unknown, key: string, value?: unknown }> = [
        { type: 'put', sublevel: this.rooms, key, value: record }
      ]
      if (count > keep) {
        const oldest = await this.rooms.keys({ gt: `${room}!`, lt: `${room}!\xff`, limit: count - keep }).all()
        for (const k of oldest) ops.push({ type: 'del', sublevel: this.rooms, key: k })
        count -= oldest.length
      }
      ops.push({ type: 'put', sublevel: this.roomCounts, key: room, value: count })
      await this.db.batch(ops as BatchOps)
    })
  }

  async readRoom (room: string, after: { sentAt: number, id: string } | null, limit: number): Promise<RoomRecord[]> {
    if (after == null) {
      const newest = await this.rooms.values({ gt: `${room}!`, lt: `${room}!\xff`, limit, reverse: true }).all()
      return newest.reverse()
    }
    return await this.rooms.values({ gt: `${room}!${pad(after.sentAt)}!${after.id}`, lt: `${room}!\xff`, limit }).all()
  }

  async getProfile (user: string): Promise<unknown> {
    return await this.profiles.get(user)
  }

  async putProfile (user: string, envelope: unknown): Promise<void> {
    await this.serial(async () => { await this.profiles.put(user, envelope) })
  }

  async getRoom (room: string): Promise<RoomRegistryRecord | undefined> {
    return await this.roomRegistry.get(room)
  }

  async createRoom (record: RoomRegistryRecord): Promise<boolean> {
    return await this.serial(async () => {
      if (await this.roomRegistry.get(record.room) != null) return false
      await this.db.batch([
        { type: 'put', sublevel: this.roomRegistry, key: record.room, value: record },
        { type: 'put', sublevel: this.roomMembers, key: `${record.room}!${record.owner}`, value: record.createdAt },
        { type: 'put', sublevel: this.userRooms, key: `${record.owner}!${record.room}`, value: record.createdAt }
      ] as unknown as BatchOps)
      return true
    })
  }

  async updateRoom (record: RoomRegistryRecord): Promise<boolean> {
    return await this.serial(async () => {
      const old = await this.roomRegistry.get(record.room)
      if (old == null || old.version >= record.version) return false
      await this.roomRegistry.put(record.room, record)
      return true
    })
  }

  async listRooms (limit: number): Promise<RoomRegistryRecord[]> {
    return await this.roomRegistry.values({ limit }).all()
  }

  async addMember (room: string, user: string, at: number): Promise<void> {
    await this.serial(async () => {
      await this.db.batch([
        { type: 'put', sublevel: this.roomMembers, key: `${room}!${user}`, value: at },
        { type: 'put', sublevel: this.userRooms, key: `${user}!${room}`, value: at }
      ] as unknown as BatchOps)
    })
  }

  async removeMember (room: string, user: string): Promise<void> {
    await this.serial(async () => {
      await this.db.batch([
        { type: 'del', sublevel: this.roomMembers, key: `${room}!${user}` },
        { type: 'del', sublevel: this.userRooms, key: `${user}!${room}` }
      ] as unknown as BatchOps)
    })
  }

  async isMember (room: string, user: string): Promise<boolean> {
    return await this.roomMembers.get(`${room}!${user}`) != null
  }

  async members (room: string, limit: number): Promise<string[]> {
    const keys = await this.roomMembers.keys({ gt: `${room}!`, lt: `${room}"`, limit }).all()
    return keys.map(k => k.slice(room.length + 1))
  }

  async memberCount (room: string): Promise<number> {
    let n = 0
    for await (const _key of this.roomMembers.keys({ gt: `${room}!`, lt: `${room}"` })) n++
    return n
  }

  async roomsOf (user: string, limit: number): Promise<string[]> {
    const keys = await this.userRooms.keys({ gt: `${user}!`, lt: `${user}"`, limit }).all()
    return keys.map(k => k.slice(user.length + 1))
  }

  async close (): Promise<void> {
    await this.chain
    await this.files.settled()
    await this.db.close()
  }
}
