/**
 * A device's home folder: its key, its login (server address, user, certificate), the servers it
 * pinned on first use, and the control socket of a running process. Several homes can live on one
 * machine, one per device.
 */
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { z } from 'zod'
import { certificate, InvalidInputError, NotLoggedInError } from '../protocol/index.js'
import { loadOrCreateKey } from '../crypto/index.js'
import type { Certificate } from '../protocol/index.js'
import type { PrivateKey } from '@libp2p/interface'

const savedLogin = z.object({
  /** The rendezvous node's address, always ending in /p2p/<its peer id> (pinned). */
  server: z.string(),
  user: z.string(),
  cert: certificate
})
export type SavedLogin = z.infer<typeof savedLogin>

const knownServers = z.record(z.string(), z.string())

const accountKeyFile = z.object({ publicKey: z.string(), privateKey: z.string() })
export type AccountKeyFile = z.infer<typeof accountKeyFile>

export class Home {
  constructor (readonly dir: string) {}

  get keyPath (): string { return join(this.dir, 'device.key') }
  get loginPath (): string { return join(this.dir, 'login.json') }
  get knownServersPath (): string { return join(this.dir, 'known_servers.json') }
  /** The account's sealing key pair, unwrapped at login with the password. */
  get accountKeyPath (): string { return join(this.dir, 'account.key') }
  /** This device's own history (LevelDB). */
  get storePath (): string { return join(this.dir, 'db') }
  /** Unix socket a running device process serves one-shot commands on (owner-only). */
  get controlPath (): string { return join(this.dir, 'control.sock') }

  async ensure (): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 })
  }

  async deviceKey (): Promise<PrivateKey> {
    return await loadOrCreateKey(this.keyPath)
  }

  async readLogin (): Promise<SavedLogin | undefined> {
    const raw = await readJson(this.loginPath)
    if (raw == null) return undefined
    const parsed = savedLogin.safeParse(raw)
    if (!parsed.success) {
      throw new InvalidInputError(`${this.loginPath} is damaged; run meshchat login again`)
    }
    return parsed.data
  }

  async requireLogin (): Promise<SavedLogin> {
    const login = await this.readLogin()
    if (login == null) {
      throw new NotLoggedInError(`this device is not logged in (home ${this.dir}); run meshchat login`)
    }
    return login
  }

  async saveLogin (login: SavedLogin): Promise<void> {
    await writeJson(this.loginPath, login)
  }

  async saveCertificate (cert: Certificate): Promise<void> {
    const login = await this.readLogin()
    if (login != null) await this.saveLogin({ ...login, cert })
  }

  async clearLogin (): Promise<void> {
    await rm(this.loginPath, { force: true })
    await rm(this.accountKeyPath, { force: true })
  }

  async readAccountKey (): Promise<AccountKeyFile | undefined> {
    const raw = await readJson(this.accountKeyPath)
    if (raw == null) return undefined
    const parsed = accountKeyFile.safeParse(raw)
    if (!parsed.success) throw new InvalidInputError(`${this.accountKeyPath} is damaged; run meshchat login again`)
    return parsed.data
  }

  async saveAccountKey (key: AccountKeyFile): Promise<void> {
    await writeJson(this.accountKeyPath, key)
  }

  /** The peer id pinned for a server address without /p2p (trust on first use, like ssh known_hosts). */
  async pinnedServer (addr: string): Promise<string | undefined> {
    const raw = await readJson(this.knownServersPath)
    const parsed = knownServers.safeParse(raw ?? {})
    return parsed.success ? parsed.data[addr] : undefined
  }

  async pinServer (addr: string, peerId: string): Promise<void> {
    const raw = await readJson(this.knownServersPath)
    const parsed = knownServers.safeParse(raw ?? {})
    await writeJson(this.knownServersPath, { ...(parsed.success ? parsed.data : {}), [addr]: peerId })
  }
}

async function readJson (path: string): Promise<unknown> {
  let text
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  try {
    return JSON.parse(text)
  } catch {
    throw new InvalidInputError(`${path} is not valid JSON`)
  }
}

async function writeJson (path: string, value: unknown): Promise<void> {
  await mkdir(join(path, '..'), { recursive: true, mode: 0o700 })
  const tmp = `${path}.${process.pid}.tmp`
  await writeFile(tmp, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 })
  await rename(tmp, path)
}
