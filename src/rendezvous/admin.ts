/**
 * The operator's commands on a rendezvous node's accounts (issue 8): list users, add a user,
 * disable or enable one, reset a password.
 *
 * LevelDB lets one process at a time hold a data folder. While `meshchat serve` runs, it serves
 * these commands on an owner-only Unix socket `admin.sock` in the data folder, so the change goes
 * through the running node (its sessions are closed, its presence events sent). When no node
 * answers there, the command opens the store itself for the moment of the change. The same
 * `AdminOps` does the work in both cases, written against the `RendezvousState` interface.
 *
 * This module stays light (no libp2p, no Ink): the `meshchat admin` command imports it directly.
 */
import { createServer } from 'node:net'
import { existsSync } from 'node:fs'
import { chmod, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { z } from 'zod'
import {
  AccountDisabledError, InvalidInputError, MeshchatError, ServerBusyError, UnknownUserError, UsernameTakenError,
  checkPassword, checkUsername, printable, toWireError, MAX_PASSWORD_LENGTH
} from '../protocol/index.js'
import { connectLines, lineReader, socketAnswers } from '../protocol/lines.js'
import { hashPassword, DEFAULT_SCRYPT } from '../crypto/password.js'
import { LevelRendezvousState } from '../store/rendezvous-state.js'
import { StoreLockedError } from '../store/db.js'
import { silentLogger } from './log.js'
import type { PasswordHash } from '../crypto/password.js'
import type { AccountRecord, RendezvousState } from '../store/rendezvous-state.js'
import type { AccountKeyMaterial, WireError } from '../protocol/index.js'
import type { Presence } from './presence.js'
import type { Logger } from './log.js'
import type { Server, Socket } from 'node:net'

/** The admin socket's file name in the data folder. */
export const ADMIN_SOCKET = 'admin.sock'
/** Connections the admin socket serves at once. */
export const MAX_ADMIN_CONNECTIONS = 8
/** Commands one admin connection may have in progress at once. */
export const MAX_ADMIN_IN_FLIGHT = 64
/** How long `serve` waits at start for an admin command that holds the store for a moment. */
export const NODE_LOCK_WAIT_MS = 5_000
/** How long an admin command keeps trying when the store is locked and no node answers. */
export const ADMIN_LOCK_WAIT_MS = 3_000
/** How long an admin command waits for the running node's answer. */
export const ADMIN_CALL_TIMEOUT_MS = 30_000

/** One device of an account, as the operator sees it. */
export interface AdminDevice {
  peer: string
  /** False after the device logged out (or its password was reset): its certificate is refused. */
  loggedIn: boolean
  /** Whether it has a session now; null when no node runs (unknown). */
  online: boolean | null
  firstSeen: number
  lastSeen: number
  lastAddr: string | null
}

/** One account in `meshchat admin users`. */
export interface AdminUser {
  user: string
  createdAt: number
  disabled: boolean
  /** Whether any device is online; null when no node runs (unknown). */
  online: boolean | null
  lastSeen: number | null
  lastAddr: string | null
  /** The public half of the account key; null until a device made one (accounts added by the operator). */
  accountKey: string | null
  devices: AdminDevice[]
}

export interface DisableResult {
  user: string
  disabled: boolean
  /** False when the account already was in that state. */
  changed: boolean
  /** Sessions of the account's devices that were closed. */
  sessionsClosed: number
}

export interface ResetResult {
  user: string
  /** Devices that were logged in and now must log in again with the new password. */
  devicesLoggedOut: number
  sessionsClosed: number
}

/** The admin commands, wherever they run. */
export interface AdminApi {
  /** True when a running node serves the commands (so who is online is known). */
  readonly live: boolean
  users: () => Promise<AdminUser[]>
  addUser: (user: string, password: string) => Promise<AdminUser>
  setDisabled: (user: string, disabled: boolean) => Promise<DisableResult>
  resetPassword: (user: string, password: string) => Promise<ResetResult>
  close: () => Promise<void>
}

/** What the admin needs of a running node; absent when the admin opened a stopped node's store. */
export interface LiveNode {
  /** The one place presence events flow from, and the live sessions. */
  presence: Presence
  /** Runs a password hash within the node's limit of concurrent hashes. */
  runHash: <T>(fn: () => Promise<T>) => Promise<T>
  /** Called when an account was created (the node keeps a count for its metrics). */
  onAccountCreated?: () => void
}

export interface AdminOpsInit {
  state: RendezvousState
  live?: LiveNode
  /** scrypt cost of new password hashes. @default DEFAULT_SCRYPT */
  scrypt?: { N: number, r: number, p: number }
  logger?: Logger
}

/** The admin operations on a rendezvous store, and the account-key hand-over at login. */
export class AdminOps {
  private readonly log: Logger
  /** Serialises the read-then-write changes of accounts' passwords and keys in this process. */
  private chain: Promise<unknown> = Promise.resolve()

  constructor (private readonly init: AdminOpsInit) {
    this.log = init.logger ?? silentLogger
  }

  get live (): boolean {
    return this.init.live != null
  }

  async users (): Promise<AdminUser[]> {
    const accounts = await this.init.state.listAccounts()
    accounts.sort((a, b) => a.user.localeCompare(b.user))
    return await Promise.all(accounts.map(async a => await this.describe(a)))
  }

  async addUser (name: string, password: string): Promise<AdminUser> {
    const user = checkUsername(name)
    checkPassword(password)
    const hash = await this.hash(password)
    const now = Date.now()
    const record: AccountRecord = { user, password: hash, createdAt: now, disabled: false, lastSeen: null, lastAddr: null }
    if (!await this.init.state.createAccount(record)) throw new UsernameTakenError(`username "${user}" is taken`)
    this.log.info('admin: user added', { user })
    this.init.live?.onAccountCreated?.()
    this.init.live?.presence.emit({ type: 'registered', user, accountKey: null, at: now })
    return await this.describe(record)
  }

  /**
   * Disables (or enables) an account. A disabled account cannot log in, its certificates are
   * refused, nothing more is archived for it; the running node closes its sessions and tells
   * every online device.
   */
  async setDisabled (name: string, disabled: boolean): Promise<DisableResult> {
    const user = checkUsername(name)
    const account = await this.requireAccount(user)
    await this.init.state.updateAccount(user, { disabled })
    const at = Date.now()
    const changed = account.disabled !== disabled
    let sessionsClosed = 0
    if (this.init.live != null) {
      if (changed) this.init.live.presence.emit({ type: 'disabled', user, disabled, at })
      if (disabled) sessionsClosed = this.closeSessions(user, 'account disabled')
    }
    this.log.info(disabled ? 'admin: user disabled' : 'admin: user enabled', { user, sessionsClosed })
    return { user, disabled, changed, sessionsClosed }
  }

  /**
   * Sets a new password: every device of the account is logged out and must log in with it. The
   * account key stays wrapped by the old password; the next device to log in wraps it again
   * (or makes a new one), which `setAccountKey` allows until then.
   */
  async resetPassword (name: string, password: string): Promise<ResetResult> {
    const user = checkUsername(name)
    checkPassword(password)
    await this.requireAccount(user)
    const hash = await this.hash(password)
    await this.serial(async () => {
      const account = await this.requireAccount(user)
      await this.init.state.updateAccount(user, { password: hash, ...(account.accountKey == null ? {} : { keyReset: true }) })
    })
    // after the new hash is stored: a login with the old password that was being checked meanwhile
    // either admitted its device before this (logged out here) or sees the new hash (refused)
    let devicesLoggedOut = 0
    for (const d of await this.init.state.listDevices(user)) {
      if (!d.loggedIn) continue
      await this.init.state.updateDevice(d.peer, { loggedIn: false })
      devicesLoggedOut++
    }
    const sessionsClosed = this.closeSessions(user, 'password reset')
    this.log.info('admin: password reset', { user, devicesLoggedOut, sessionsClosed })
    return { user, devicesLoggedOut, sessionsClosed }
  }

  /**
   * A logged-in device stores the account key: accepted only when the account has none yet
   * (made by the operator) or its password was reset. Resolves with the key now in force, which
   * is another device's when that one was first.
   */
  async setAccountKey (user: string, accountKey: AccountKeyMaterial): Promise<AccountKeyMaterial> {
    return await this.serial(async () => {
      const account = await this.requireAccount(user)
      if (account.disabled) throw new AccountDisabledError(`account "${user}" is disabled`)
      if (account.accountKey != null && account.keyReset !== true) {
        return account.accountKey as AccountKeyMaterial
      }
      await this.init.state.updateAccount(user, { accountKey, keyReset: false })
      this.log.info('account key stored', { user, replaced: account.accountKey != null, newKey: account.accountKey?.publicKey !== accountKey.publicKey })
      if (account.accountKey?.publicKey !== accountKey.publicKey) {
        // devices seal offline copies to this key: tell them it exists (or changed)
        this.init.live?.presence.emit({ type: 'registered', user, accountKey: accountKey.publicKey, at: Date.now() })
      }
      return accountKey
    })
  }

  private async hash (password: string): Promise<PasswordHash> {
    const params = this.init.scrypt ?? DEFAULT_SCRYPT
    const run = async (): Promise<PasswordHash> => await hashPassword(password, params)
    return this.init.live == null ? await run() : await this.init.live.runHash(run)
  }

  private async requireAccount (user: string): Promise<AccountRecord> {
    const account = await this.init.state.getAccount(user)
    if (account == null) throw new UnknownUserError(`no user named "${printable(user)}"`)
    return account
  }

  private closeSessions (user: string, reason: string): number {
    const sessions = this.init.live?.presence.sessionsOf(user) ?? []
    for (const s of sessions) s.close(reason)
    return sessions.length
  }

  private async describe (a: AccountRecord): Promise<AdminUser> {
    const presence = this.init.live?.presence
    const devices = await this.init.state.listDevices(a.user)
    devices.sort((x, y) => y.lastSeen - x.lastSeen)
    return {
      user: a.user,
      createdAt: a.createdAt,
      disabled: a.disabled,
      online: presence == null ? null : presence.isOnline(a.user),
      lastSeen: a.lastSeen,
      lastAddr: a.lastAddr,
      accountKey: a.accountKey?.publicKey ?? null,
      devices: devices.map(d => ({
        peer: d.peer,
        loggedIn: d.loggedIn,
        online: presence == null ? null : presence.sessionOf(a.user, d.peer) != null,
        firstSeen: d.firstSeen,
        lastSeen: d.lastSeen,
        lastAddr: d.lastAddr
      }))
    }
  }

  private async serial<T> (fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn)
    this.chain = next.catch(() => {})
    return await next
  }
}

const name = z.string().max(64)
const password = z.string().max(MAX_PASSWORD_LENGTH + 1)
const id = z.unknown().optional()

/** One line on the admin socket. */
export const adminCommand = z.discriminatedUnion('cmd', [
  z.object({ cmd: z.literal('users'), id }),
  z.object({ cmd: z.literal('add-user'), user: name, password, id }),
  z.object({ cmd: z.literal('disable-user'), user: name, disabled: z.boolean(), id }),
  z.object({ cmd: z.literal('reset-password'), user: name, password, id })
])
export type AdminCommand = z.infer<typeof adminCommand>

type AdminAnswer =
  | { id?: unknown, ok: true, result: unknown }
  | { id?: unknown, ok: false, error: WireError }

/** Runs one admin command line; never throws. */
export async function runAdminCommand (ops: AdminOps, line: string, log: Logger = silentLogger): Promise<AdminAnswer> {
  let raw: unknown
  try {
    raw = JSON.parse(line)
  } catch {
    return { ok: false, error: { name: 'InvalidInputError', message: 'admin command is not JSON' } }
  }
  const cmdId = raw != null && typeof raw === 'object' && !Array.isArray(raw) ? (raw as { id?: unknown }).id : undefined
  const answer = (a: AdminAnswer): AdminAnswer => cmdId === undefined ? a : { id: cmdId, ...a }
  try {
    const parsed = adminCommand.safeParse(raw)
    if (!parsed.success) {
      const issue = parsed.error.issues[0]
      throw new InvalidInputError(`invalid admin command${issue?.path.length ? ` at ${issue.path.join('.')}` : ''}: ${issue?.message ?? 'unknown shape'}`)
    }
    const cmd = parsed.data
    let result: unknown
    switch (cmd.cmd) {
      case 'users': result = await ops.users(); break
      case 'add-user': result = await ops.addUser(cmd.user, cmd.password); break
      case 'disable-user': result = await ops.setDisabled(cmd.user, cmd.disabled); break
      case 'reset-password': result = await ops.resetPassword(cmd.user, cmd.password); break
    }
    return answer({ ok: true, result })
  } catch (err) {
    if (!(err instanceof MeshchatError)) log.error('admin command failed', { error: (err as Error).message })
    return answer({ ok: false, error: toWireError(err) })
  }
}

/** Serves the admin socket of a running node (owner-only, like a device's control socket). */
export class AdminServer {
  private server?: Server
  private readonly sockets = new Set<Socket>()

  constructor (private readonly ops: AdminOps, readonly path: string, private readonly log: Logger = silentLogger) {}

  async start (): Promise<void> {
    // a socket file left by a node that died is stale: nobody answers on it
    if (await socketAnswers(this.path)) {
      throw new MeshchatError(`another rendezvous node already serves ${this.path}`)
    }
    await rm(this.path, { force: true })
    const server = createServer(socket => { this.serve(socket) })
    server.maxConnections = MAX_ADMIN_CONNECTIONS
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.path, () => { server.off('error', reject); resolve() })
    })
    this.server = server
    await chmod(this.path, 0o600)
  }

  async stop (): Promise<void> {
    if (this.server == null) return
    for (const s of this.sockets) s.destroy()
    await new Promise<void>(resolve => { this.server!.close(() => { resolve() }) })
    this.server = undefined
    await rm(this.path, { force: true })
  }

  private serve (socket: Socket): void {
    this.sockets.add(socket)
    socket.on('close', () => this.sockets.delete(socket))
    socket.on('error', () => {})
    socket.setTimeout(60_000, () => socket.destroy())
    let inFlight = 0
    const reply = (answer: AdminAnswer): void => { if (!socket.destroyed) socket.write(`${JSON.stringify(answer)}\n`) }
    socket.on('data', lineReader(line => {
      if (inFlight >= MAX_ADMIN_IN_FLIGHT) {
        reply({ ok: false, error: toWireError(new ServerBusyError('too many admin commands at once')) })
        return
      }
      inFlight++
      void runAdminCommand(this.ops, line, this.log).then(answer => {
        inFlight--
        reply(answer)
      })
    }, () => {
      socket.end(`${JSON.stringify({ ok: false, error: { name: 'InvalidInputError', message: 'admin command too long' } })}\n`)
    }))
  }
}

/** The admin commands through the running node's socket; undefined when nobody answers there. */
export async function connectAdmin (path: string, timeoutMs = ADMIN_CALL_TIMEOUT_MS): Promise<AdminApi | undefined> {
  const lines = await connectLines(path, timeoutMs, {
    tooLong: () => new MeshchatError('answer from the rendezvous node too long'),
    closed: () => new MeshchatError('the rendezvous node closed the admin connection (is it stopping?)'),
    timeout: () => new MeshchatError('the rendezvous node did not answer in time'),
    notOpen: () => new MeshchatError('the admin connection is closed')
  })
  if (lines == null) return undefined
  const call = lines.call
  return {
    live: true,
    users: async () => await call({ cmd: 'users' }) as AdminUser[],
    addUser: async (user, password) => await call({ cmd: 'add-user', user, password }) as AdminUser,
    setDisabled: async (user, disabled) => await call({ cmd: 'disable-user', user, disabled }) as DisableResult,
    resetPassword: async (user, password) => await call({ cmd: 'reset-password', user, password }) as ResetResult,
    close: async () => { lines.close() }
  }
}

/** The admin commands on a store this process opened (no node runs); `close` releases it. */
export function storeAdmin (state: RendezvousState, options: { scrypt?: { N: number, r: number, p: number }, close?: () => Promise<void> } = {}): AdminApi {
  const ops = new AdminOps({ state, ...(options.scrypt == null ? {} : { scrypt: options.scrypt }) })
  return {
    live: false,
    users: async () => await ops.users(),
    addUser: async (user, password) => await ops.addUser(user, password),
    setDisabled: async (user, disabled) => await ops.setDisabled(user, disabled),
    resetPassword: async (user, password) => await ops.resetPassword(user, password),
    close: options.close ?? (async () => { await state.close() })
  }
}

export interface OpenAdminOptions {
  /** scrypt cost of password hashes made without a node. @default DEFAULT_SCRYPT */
  scrypt?: { N: number, r: number, p: number }
  /** How long to keep trying while the store is locked and no node answers. @default ADMIN_LOCK_WAIT_MS */
  lockWaitMs?: number
  /** @default ADMIN_CALL_TIMEOUT_MS */
  timeoutMs?: number
}

/**
 * The admin commands for the node whose data folder is `dataDir`: through its socket when it
 * runs, else on its store opened here (close the result soon: the node cannot start meanwhile,
 * though it waits NODE_LOCK_WAIT_MS for it). A store locked by a process that does not answer on
 * the socket (a node starting or stopping) is tried again for a moment, then refused.
 */
export async function openAdmin (dataDir: string, options: OpenAdminOptions = {}): Promise<AdminApi> {
  const socketPath = join(dataDir, ADMIN_SOCKET)
  const dbDir = join(dataDir, 'db')
  const deadline = Date.now() + (options.lockWaitMs ?? ADMIN_LOCK_WAIT_MS)
  for (let delay = 50; ; delay = Math.min(delay * 2, 400)) {
    const remote = await connectAdmin(socketPath, options.timeoutMs)
    if (remote != null) return remote
    if (!existsSync(dbDir)) {
      throw new InvalidInputError(`no rendezvous node data in ${dataDir} (give the folder meshchat serve uses with --data)`)
    }
    try {
      const state = await LevelRendezvousState.open(dbDir)
      return storeAdmin(state, options.scrypt == null ? {} : { scrypt: options.scrypt })
    } catch (err) {
      if (!(err instanceof StoreLockedError)) throw err
      if (Date.now() + delay > deadline) {
        throw new StoreLockedError(`the data folder ${dataDir} is in use, but no rendezvous node answers on ${socketPath}; if meshchat serve is starting or stopping, try again`)
      }
    }
    await new Promise(resolve => setTimeout(resolve, delay))
  }
}

/** Opens the admin for `dataDir`, runs `fn`, and always closes it (releasing the store). */
export async function withAdmin<T> (dataDir: string, fn: (admin: AdminApi) => Promise<T>, options: OpenAdminOptions = {}): Promise<T> {
  const admin = await openAdmin(dataDir, options)
  try {
    return await fn(admin)
  } finally {
    await admin.close()
  }
}
