/**
 * The rendezvous node: accounts, device certificates, presence, directory, and a member of every
 * room's gossipsub mesh. It vouches for who is who; it never needs to read a direct message.
 */
import { join } from 'node:path'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import {
  AUTH_PROTOCOL, DIRECTORY_PROTOCOL, SESSION_PROTOCOL, ARCHIVE_PROTOCOL, PEOPLE_PROTOCOL, GLOBAL_ROOM, roomTopic,
  authRequest, directoryRequest, sessionClientFrame, archiveRequest, peopleRequest, MAX_ROOMS_TOTAL, MAX_PEOPLE_FRAME_BYTES, NotMemberError,
  MAX_ARCHIVE_FRAME_BYTES, ROOM_HISTORY_LIMIT, InvalidInputError, MAX_FRAME_BYTES, MIN_HEARTBEAT_MS, MAX_HEARTBEAT_MS, MAX_DIRECTORY_PAGE_BYTES, CERT_LIFETIME_MS,
  checkUsername, checkPassword, printable, isRoomName, FailureThrottle, RateLimiter,
  AccountDisabledError, InvalidCertificateError, InvalidMessageError, RateLimitedError, UnknownUserError,
  UsernameTakenError, WrongPasswordError, TimeoutError
} from '../protocol/index.js'
import { issueCertificate, verifyCertificate, hashPassword, verifyPassword, loadOrCreateKey, RoomValidator, DEFAULT_SCRYPT } from '../crypto/index.js'
import { LevelRendezvousState } from '../store/index.js'
import { createMeshNode, frameStream, handleRequests, readFrame, silenceTimer, writeFrame } from '../net/index.js'
import { Presence } from './presence.js'
import { Outboxes } from './outbox.js'
import { DirectoryCache, pages } from './directory.js'
import { AdminOps, AdminServer, ADMIN_SOCKET, NODE_LOCK_WAIT_MS } from './admin.js'
import { PeopleService } from './people.js'
import { FileStore } from './files.js'
import { Semaphore } from './semaphore.js'
import { silentLogger } from './log.js'
import { Metrics } from './metrics.js'
import { RoomHistory } from './room-history.js'
import {
  DEFAULT_HEARTBEAT_MS, MAX_CONCURRENT_HASHES, MAX_AUTH_QUEUE, ACCOUNT_FREE_FAILURES, ADDRESS_FREE_FAILURES,
  FAILURE_BASE_DELAY_MS, FAILURE_MAX_DELAY_MS, FAILURE_FORGET_MS, MAX_SESSION_BACKLOG, MAX_DEVICES_PER_ACCOUNT, DEFAULT_PORT,
  DEFAULT_RELAY_RESERVATIONS, DEFAULT_RELAY_RESERVATION_TTL_MS, DEFAULT_RELAY_DATA_LIMIT_BYTES, DEFAULT_RELAY_DURATION_LIMIT_MS,
  DEFAULT_REQUESTS_PER_SECOND, DEFAULT_MAX_STREAMS, DEFAULT_MAX_CONNECTIONS_PER_HOST, DEFAULT_ROOM_RATE, DEFAULT_ROOM_BURST,
  PRESENCE_FLUSH_MS, DEFAULT_PRESENCE_WRITES_PER_SECOND, CERT_REUSE_MS, MAX_DEVICE_ADDR_CHARS
} from './constants.js'
import type { Logger } from './log.js'
import type { SessionSink } from './presence.js'
import type { Outbox } from './outbox.js'
import type { AccountRecord, RendezvousState } from '../store/index.js'
import type { Certificate, DirectoryVersion, UserInfo, AuthRequest, DirectoryRequest, ArchiveRequest } from '../protocol/index.js'
import type { FrameStream, GossipInit, MeshNode, RelayServerInit, SilenceTimer } from '../net/index.js'
import type { Connection, PrivateKey, PublicKey, Stream } from '@libp2p/interface'
import type { GossipsubMessage } from '@libp2p/gossipsub'

export interface RendezvousInit {
  /** Folder for the node key (`node.key`) and the LevelDB database (`db/`). */
  dataDir: string
  /** @default ['/ip4/0.0.0.0/tcp/4001'] */
  listen?: string[]
  logger?: Logger
  /** @default 2000 */
  heartbeatMs?: number
  /** scrypt cost for new password hashes; lower only in tests. @default DEFAULT_SCRYPT */
  scrypt?: { N: number, r: number, p: number }
  gossip?: GossipInit
  /** @default 20000 */
  maxConnections?: number
  /** New connections per second from one host. @default 200 */
  inboundConnectionThreshold?: number
  /** @default 1000 */
  maxIncomingPendingConnections?: number
  /** Failed logins for one account before they are slowed down. @default 3 */
  accountFreeFailures?: number
  /** Failed logins from one address before they are slowed down. @default 20 */
  addressFreeFailures?: number
  /** First wait imposed after the free failures; doubles each time. @default 500 */
  failureBaseDelayMs?: number
  /** Registrations per second from one address (burst 20). @default 2 */
  registrationsPerSecond?: number
  /** Circuit-relay limits for devices behind NAT; `false` turns the relay off. */
  relay?: Partial<RelayServerInit> | false
  /** Requests per second per device over auth, directory and archive (burst twice that). @default 500 */
  requestsPerSecond?: number
  /** Streams of one protocol a connection may hold open. @default 32 */
  maxStreams?: number
  /** Open connections from one IP. @default 512 */
  maxConnectionsPerHost?: number
  /** Session writes a second presence may take before it goes out less often (outbox.ts). @default 2000 */
  presenceWritesPerSecond?: number
  /** Room messages per second per device, and the burst allowed. @default 20, 40 */
  roomRate?: number
  roomBurst?: number
  /** Serve Prometheus metrics on this port (0 picks one); none when absent. */
  metricsPort?: number
  /** @default '127.0.0.1' */
  metricsHost?: string
  /** Sealed bytes of files that may wait at the node for one account (files.ts). @default 1 GiB */
  fileQuotaBytes?: number
  /** Sealed bytes one account may have waiting for all its recipients together. @default fileQuotaBytes / 2 */
  fileSenderQuotaBytes?: number
  /** Largest file that may wait at the node. @default 4 GiB */
  fileMaxBytes?: number
  /** Days a waiting file is kept. @default 30 */
  fileRetentionDays?: number
  /** Bytes of room entries one `rooms` answer holds (the rest come in later pages); lower only in tests. @default DEFAULT_ROOMS_PAGE_BYTES */
  roomsPageBytes?: number
}

/** The host part of a remote multiaddr (`/ip4/1.2.3.4/tcp/5` → `1.2.3.4`), for per-address limits. */
function hostOf (addr: string): string {
  const parts = addr.split('/')
  return parts[2] ?? addr
}

/**
 * The addresses of one device the node passes on, at most MAX_DEVICE_ADDR_CHARS in all (in the
 * device's order): a user's presence event lists every device's, and it must stay well inside one
 * frame however many devices are online.
 */
export function boundAddrs (addrs: string[]): string[] {
  const kept: string[] = []
  let chars = 0
  for (const a of addrs) {
    chars += a.length
    if (chars > MAX_DEVICE_ADDR_CHARS) break
    kept.push(a)
  }
  return kept
}

export class RendezvousNode {
  readonly presence = new Presence()
  readonly metrics = new Metrics()
  /** What goes down sessions, batched per session and tick (outbox.ts). */
  private readonly outboxes: Outboxes
  /** The directory snapshot of every welcome, kept between changes (directory.ts). */
  private readonly directory = new DirectoryCache({
    listAccounts: async () => await this.store.listAccounts(),
    userInfo: a => this.userInfo(a),
    presence: this.presence
  })
  private readonly count = {
    logins: this.metrics.counter('meshchat_logins_total', 'Login attempts by result'),
    registrations: this.metrics.counter('meshchat_registrations_total', 'Registration attempts by result'),
    sessions: this.metrics.counter('meshchat_sessions_total', 'Device sessions opened'),
    welcomes: this.metrics.counter('meshchat_welcomes_total', 'Session welcomes, by the directory they carried (full, or the changes since the device\'s version)'),
    archived: this.metrics.counter('meshchat_archive_items_total', 'Sealed copies stored in archives'),
    puts: this.metrics.counter('meshchat_archive_puts_total', 'Archive put requests stored (each holds one or more sealed copies)'),
    fetched: this.metrics.counter('meshchat_archive_fetched_total', 'Sealed copies fetched by devices'),
    room: this.metrics.counter('meshchat_room_messages_total', 'Room messages validated, by result'),
    rejected: this.metrics.counter('meshchat_rejections_total', 'Requests and messages refused, by reason')
  }

  private accounts = 0
  private metricsServer?: { port: number, close: () => Promise<void> }
  private node?: MeshNode
  private state?: RendezvousState
  private key?: PrivateKey
  private readonly log: Logger
  private readonly heartbeatMs: number
  private readonly hashes = new Semaphore(MAX_CONCURRENT_HASHES, MAX_AUTH_QUEUE)
  private readonly accountFailures: FailureThrottle
  private readonly addressFailures: FailureThrottle
  private readonly registrations: RateLimiter
  private roomValidator?: RoomValidator
  /** The operator's commands (admin.ts), served on `admin.sock` in the data folder. */
  private admin?: AdminOps
  private adminServer?: AdminServer
  private readonly openRooms = new Set<string>()
  private readonly roomHistory: RoomHistory
  /** Files waiting for accounts, sealed (files.ts). */
  private files?: FileStore
  /** Profiles and the room registry (people.ts). */
  readonly people: PeopleService

  constructor (private readonly init: RendezvousInit) {
    this.log = init.logger ?? silentLogger
    this.roomHistory = new RoomHistory(() => this.store, ROOM_HISTORY_LIMIT, this.log)
    this.people = new PeopleService({
      store: () => this.store,
      presence: this.presence,
      serverKey: () => this.publicKey,
      log: this.log,
      openRoom: room => { this.joinRoom(room) },
      accountCount: () => this.accounts,
      ...(init.roomsPageBytes == null ? {} : { roomsPageBytes: init.roomsPageBytes })
    })
    this.heartbeatMs = init.heartbeatMs ?? DEFAULT_HEARTBEAT_MS
    if (!Number.isInteger(this.heartbeatMs) || this.heartbeatMs < MIN_HEARTBEAT_MS || this.heartbeatMs > MAX_HEARTBEAT_MS) {
      throw new InvalidInputError(`heartbeatMs ${String(this.heartbeatMs)}: a whole number of ms from ${MIN_HEARTBEAT_MS} to ${MAX_HEARTBEAT_MS}`)
    }
    const base = init.failureBaseDelayMs ?? FAILURE_BASE_DELAY_MS
    this.accountFailures = new FailureThrottle({ freeFailures: init.accountFreeFailures ?? ACCOUNT_FREE_FAILURES, baseDelayMs: base, maxDelayMs: FAILURE_MAX_DELAY_MS, forgetAfterMs: FAILURE_FORGET_MS })
    this.addressFailures = new FailureThrottle({ freeFailures: init.addressFreeFailures ?? ADDRESS_FREE_FAILURES, baseDelayMs: base, maxDelayMs: FAILURE_MAX_DELAY_MS, forgetAfterMs: FAILURE_FORGET_MS })
    const perSecond = init.registrationsPerSecond ?? 2
    this.registrations = new RateLimiter(perSecond, Math.max(20, perSecond))
    const writes = init.presenceWritesPerSecond ?? DEFAULT_PRESENCE_WRITES_PER_SECOND
    if (!(writes > 0)) throw new InvalidInputError(`presenceWritesPerSecond ${String(writes)}: a number above 0`)
    this.outboxes = new Outboxes(PRESENCE_FLUSH_MS, writes, () => this.directory.latest)
  }

  get peerId (): string {
    return this.libp2p.peerId.toString()
  }

  get publicKey (): PublicKey {
    return this.privateKey.publicKey
  }

  get libp2p (): MeshNode {
    if (this.node == null) throw new Error('rendezvous node is not started')
    return this.node
  }

  get store (): RendezvousState {
    if (this.state == null) throw new Error('rendezvous node is not started')
    return this.state
  }

  private get privateKey (): PrivateKey {
    if (this.key == null) throw new Error('rendezvous node is not started')
    return this.key
  }

  /** Every address clients can use, each ending in /p2p/<peer id>. */
  addresses (): string[] {
    return this.libp2p.getMultiaddrs().map(ma => ma.toString())
  }

  async start (): Promise<void> {
    this.key = await loadOrCreateKey(join(this.init.dataDir, 'node.key'))
    // an admin command run while the node was stopped may hold the store for a moment
    this.state = await LevelRendezvousState.open(join(this.init.dataDir, 'db'), { lockWaitMs: NODE_LOCK_WAIT_MS })
    this.admin = new AdminOps({
      state: this.state,
      scrypt: this.init.scrypt ?? DEFAULT_SCRYPT,
      logger: this.log,
      live: { presence: this.presence, runHash: async fn => await this.hashes.run(fn), onAccountCreated: () => { this.accounts++ } }
    })
    try {
      this.node = await createMeshNode({
        privateKey: this.key,
        listen: this.init.listen ?? [`/ip4/0.0.0.0/tcp/${DEFAULT_PORT}`],
        maxConnections: this.init.maxConnections ?? 20_000,
        inboundConnectionThreshold: this.init.inboundConnectionThreshold ?? 200,
        maxIncomingPendingConnections: this.init.maxIncomingPendingConnections ?? 1_000,
        maxConnectionsPerHost: this.init.maxConnectionsPerHost ?? DEFAULT_MAX_CONNECTIONS_PER_HOST,
        // devices flooding a room lose score here (RoomValidator.score)
        gossip: { ...this.init.gossip, appSpecificScore: peer => this.roomValidator?.score(peer) ?? 0 },
        ...(this.init.relay === false
          ? {}
          : {
              relayServer: {
                maxReservations: this.init.relay?.maxReservations ?? DEFAULT_RELAY_RESERVATIONS,
                reservationTtlMs: this.init.relay?.reservationTtlMs ?? DEFAULT_RELAY_RESERVATION_TTL_MS,
                dataLimitBytes: this.init.relay?.dataLimitBytes ?? DEFAULT_RELAY_DATA_LIMIT_BYTES,
                durationLimitMs: this.init.relay?.durationLimitMs ?? DEFAULT_RELAY_DURATION_LIMIT_MS
              }
            })
      })
      this.node.services.relay?.addEventListener('relay:reservation', evt => {
        this.log.info('relay reservation', { peer: evt.detail.addr.getComponents().find(c => c.name === 'p2p')?.value ?? evt.detail.addr.toString() })
      })
    } catch (err) {
      await this.state.close()
      throw err
    }
    const onError = (op: string) => (err: unknown, ctx: { connection: Connection }) => {
      this.count.rejected({ op, reason: (err as Error).name ?? 'Error' })
      this.log.warn('request failed', { op, peer: ctx.connection.remotePeer.toString(), error: (err as Error).name, reason: (err as Error).message })
    }
    // one bucket per device across these protocols: a flood of requests is answered, not served
    const perSecond = this.init.requestsPerSecond ?? DEFAULT_REQUESTS_PER_SECOND
    const limits = { rateLimiter: new RateLimiter(perSecond, perSecond * 2), maxInboundStreams: this.init.maxStreams ?? DEFAULT_MAX_STREAMS }
    await handleRequests(this.node, AUTH_PROTOCOL, authRequest, async (req, ctx) => await this.handleAuth(req, ctx.connection), { ...limits, onError: onError('auth') })
    await handleRequests(this.node, DIRECTORY_PROTOCOL, directoryRequest, async (req, ctx) => await this.handleDirectory(req, ctx.connection), { ...limits, onError: onError('directory') })
    await handleRequests(this.node, ARCHIVE_PROTOCOL, archiveRequest, async (req, ctx) => await this.handleArchive(req, ctx.connection), { ...limits, onError: onError('archive'), maxFrameBytes: MAX_ARCHIVE_FRAME_BYTES, persistent: true })
    await handleRequests(this.node, PEOPLE_PROTOCOL, peopleRequest, async (req, ctx) => await this.people.handle(req, await this.authenticate(req.cert, ctx.connection)), { ...limits, onError: onError('people'), maxFrameBytes: MAX_PEOPLE_FRAME_BYTES })
    this.files = new FileStore({ dataDir: this.init.dataDir, state: () => this.store, authenticate: async (cert, conn) => await this.authenticate(cert, conn), log: this.log, quotaBytes: this.init.fileQuotaBytes, senderQuotaBytes: this.init.fileSenderQuotaBytes, maxFileBytes: this.init.fileMaxBytes, retentionDays: this.init.fileRetentionDays })
    await this.files.start(this.node, { ...limits, onError: onError('filestore') })
    await this.node.handle(SESSION_PROTOCOL, (stream, connection) => { void this.handleSession(stream, connection) }, { maxInboundStreams: 2 })

    this.roomValidator = new RoomValidator(this.key.publicKey, this.init.roomRate ?? DEFAULT_ROOM_RATE, this.init.roomBurst ?? DEFAULT_ROOM_BURST)
    this.joinRoom(GLOBAL_ROOM)
    for (const r of await this.state.listRooms(MAX_ROOMS_TOTAL)) this.joinRoom(r.room)
    this.accounts = (await this.state.listAccounts()).length
    this.defineGauges()
    if (this.init.metricsPort != null) {
      this.metricsServer = await this.metrics.serve(this.init.metricsHost ?? '127.0.0.1', this.init.metricsPort)
      this.log.info('metrics', { url: `http://${this.init.metricsHost ?? '127.0.0.1'}:${this.metricsServer.port}/metrics` })
    }

    this.node.addEventListener('connection:open', evt => {
      this.log.info('connection open', { peer: evt.detail.remotePeer.toString(), addr: evt.detail.remoteAddr.toString() })
    })
    this.node.addEventListener('connection:close', evt => {
      this.log.info('connection closed', { peer: evt.detail.remotePeer.toString(), addr: evt.detail.remoteAddr.toString() })
    })
    this.adminServer = new AdminServer(this.admin, join(this.init.dataDir, ADMIN_SOCKET), this.log)
    // without the socket the node still serves people; admin commands then report the store in use
    await this.adminServer.start().catch(err => {
      this.log.warn('admin socket unavailable', { path: this.adminServer?.path, reason: (err as Error).message })
    })
    this.log.info('rendezvous started', { peer: this.peerId, addrs: this.addresses() })
  }

  /** The port metrics are served on, when they are. */
  get metricsPort (): number | undefined {
    return this.metricsServer?.port
  }

  private defineGauges (): void {
    this.metrics.gauge('meshchat_connections', 'Open libp2p connections', () => this.node?.getConnections().length ?? 0)
    this.metrics.gauge('meshchat_online_users', 'Accounts with at least one device online', () => this.presence.onlineCount())
    this.metrics.gauge('meshchat_accounts', 'Registered accounts', () => this.accounts)
    this.metrics.gauge('meshchat_relay_reservations', 'Devices holding a relay slot', () => this.node?.services.relay?.reservations.size ?? 0)
    this.metrics.gauge('meshchat_room_history_writes', 'Room messages forwarded whose history write is under way', () => this.roomHistory.inFlight)
    this.metrics.gauge('meshchat_process_resident_bytes', 'Resident memory of the node', () => process.memoryUsage().rss)
  }

  async stop (): Promise<void> {
    await this.adminServer?.stop()
    this.adminServer = undefined
    await this.metricsServer?.close()
    this.metricsServer = undefined
    this.files?.stop()
    this.presence.closeAll('rendezvous node stopping')
    this.outboxes.stop()
    this.directory.accountsChanged()
    await this.node?.stop()
    await this.state?.close()
    this.node = undefined
    this.state = undefined
    this.log.info('rendezvous stopped')
  }

  private joinRoom (room: string): void {
    if (this.openRooms.has(room)) return
    this.openRooms.add(room)
    const pubsub = this.libp2p.services.pubsub
    const topic = roomTopic(room)
    pubsub.topicValidators.set(topic, async (_peer, msg) => {
      let verdict = await this.roomValidator!.check(room, msg)
      // a private room admits only the members on its owner-signed list, and only sealed messages
      if (verdict.ok && !await this.people.admits(room, verdict.envelope.author, verdict.envelope.kind).catch(() => false)) verdict = { ok: false, reason: 'not a member' }
      if (!verdict.ok) {
        this.log.info('room message rejected', { room, reason: verdict.reason })
        this.count.room({ result: 'rejected' })
        this.count.rejected({ op: 'room', reason: verdict.reason })
        return verdict.ignore === true ? TopicValidatorResult.Ignore : TopicValidatorResult.Reject
      }
      this.count.room({ result: 'accepted' })
      // keep recent room history for people who join later: forwarded without waiting for the write
      await this.roomHistory.add(room, verdict.envelope)
      return TopicValidatorResult.Accept
    })
    pubsub.subscribe(topic)
  }

  /** Checks a certificate presented by the device at the other end of `connection`. */
  private async authenticate (cert: Certificate, connection: Connection): Promise<AccountRecord> {
    await verifyCertificate(this.publicKey, cert, { device: connection.remotePeer.toString() })
    const device = await this.store.getDevice(cert.device)
    if (device == null || !device.loggedIn || device.user !== cert.user) {
      throw new InvalidCertificateError('this device is logged out; log in again')
    }
    const account = await this.store.getAccount(cert.user)
    if (account == null) throw new UnknownUserError(`no user named "${cert.user}"`)
    if (account.disabled) throw new AccountDisabledError(`account "${cert.user}" is disabled`)
    return account
  }

  private async handleAuth (req: AuthRequest, connection: Connection): Promise<unknown> {
    const remoteAddr = connection.remoteAddr.toString()
    const host = hostOf(remoteAddr)
    const device = connection.remotePeer.toString()
    if (req.op === 'logout') {
      await this.authenticate(req.cert, connection)
      await this.store.updateDevice(device, { loggedIn: false, lastSeen: Date.now() })
      this.presence.sessionOf(req.cert.user, device)?.close('logged out')
      this.log.info('logout', { user: req.cert.user, device })
      return { ok: true }
    }
    if (req.op === 'set-account-key') {
      // an account added by the operator, or whose password was reset, gets its key from a device
      const account = await this.authenticate(req.cert, connection)
      return { ok: true, accountKey: await this.admin!.setAccountKey(account.user, req.accountKey) }
    }
    const user = checkUsername(req.user)
    checkPassword(req.password)
    if (req.op === 'register') {
      if (!this.registrations.take(host)) {
        this.count.registrations({ result: 'throttled' })
        throw new RateLimitedError('too many registrations from this address; try again in a minute')
      }
      const password = await this.hashes.run(async () => await hashPassword(req.password, this.init.scrypt ?? DEFAULT_SCRYPT))
      const now = Date.now()
      const created = await this.store.createAccount({ user, password, createdAt: now, disabled: false, lastSeen: null, lastAddr: remoteAddr, accountKey: req.accountKey })
      if (!created) {
        this.count.registrations({ result: 'taken' })
        throw new UsernameTakenError(`username "${user}" is taken`)
      }
      this.accounts++
      this.count.registrations({ result: 'ok' })
      this.log.info('registered', { user, addr: remoteAddr })
      this.presence.emit({ type: 'registered', user, accountKey: req.accountKey.publicKey, at: now })
      return { ok: true, cert: await this.admitDevice(user, device, remoteAddr), accountKey: req.accountKey }
    }
    const wait = Math.max(this.accountFailures.waitMs(user), this.addressFailures.waitMs(host))
    if (wait > 0) {
      this.log.warn('login throttled', { user, addr: remoteAddr, waitMs: wait })
      this.count.logins({ result: 'throttled' })
      throw new RateLimitedError(`too many failed logins; try again in ${Math.ceil(wait / 1000)} s`)
    }
    // count the attempt as failed before any await, so parallel guesses cannot all slip through
    // the throttle while the first ones are still being hashed; a success takes it back
    this.accountFailures.fail(user)
    this.addressFailures.fail(host)
    const account = await this.store.getAccount(user)
    if (account == null) {
      this.accountFailures.undo(user)
      this.count.logins({ result: 'unknown_user' })
      throw new UnknownUserError(`no user named "${user}"`)
    }
    const ok = await this.hashes.run(async () => await verifyPassword(req.password, account.password))
    if (!ok) {
      this.log.warn('login failed', { user, addr: remoteAddr })
      this.count.logins({ result: 'wrong_password' })
      throw new WrongPasswordError(`wrong password for "${user}"`)
    }
    this.accountFailures.succeed(user)
    this.addressFailures.undo(host)
    if (account.disabled) throw new AccountDisabledError(`account "${user}" is disabled`)
    const cert = await this.admitDevice(user, device, remoteAddr)
    // the operator may have reset the password or disabled the account while this one was checked
    const current = await this.store.getAccount(user)
    if (current == null || current.disabled || current.password.hash !== account.password.hash) {
      await this.store.updateDevice(device, { loggedIn: false })
      if (current?.disabled === true) throw new AccountDisabledError(`account "${user}" is disabled`)
      throw new WrongPasswordError(`wrong password for "${user}"`)
    }
    this.log.info('login', { user, device, addr: remoteAddr })
    this.count.logins({ result: 'ok' })
    return { ok: true, cert, ...(current.accountKey == null ? {} : { accountKey: current.accountKey }), ...(current.keyReset === true ? { keyReset: true } : {}) }
  }

  private async admitDevice (user: string, device: string, addr: string): Promise<Certificate> {
    const now = Date.now()
    const existing = await this.store.getDevice(device)
    await this.store.putDevice({ peer: device, user, firstSeen: existing?.firstSeen ?? now, lastSeen: now, lastAddr: addr, loggedIn: true })
    return await issueCertificate(this.privateKey, user, device, now)
  }

  /**
   * The welcome and the directory pages after it, encoded: the entries come from the directory
   * cache already encoded, so a hello does not read and encode every account again.
   */
  private async welcomeFrames (cert: Certificate, since?: DirectoryVersion): Promise<Uint8Array[]> {
    const { entries, dir, delta } = await this.directory.snapshot(since)
    this.count.welcomes({ directory: delta ? 'changes' : 'full' })
    const head = (more: boolean): string => `{"t":"welcome","cert":${JSON.stringify(cert)},"heartbeatMs":${JSON.stringify(this.heartbeatMs)},"dir":${JSON.stringify(dir)},"delta":${delta},"more":${more},"users":[`
    const { pages: split, skipped } = pages(entries, MAX_DIRECTORY_PAGE_BYTES, MAX_FRAME_BYTES - Buffer.byteLength(head(false)) - 64)
    if (skipped.length > 0) this.log.warn('directory entries too large to send', { users: skipped.slice(0, 10), count: skipped.length })
    const encoder = new TextEncoder()
    return split.map((page, i) => {
      const more = i < split.length - 1
      const users = page.map(e => e.json).join(',')
      const json = i === 0
        ? `${head(more)}${users}]}`
        : `{"t":"users","more":${more},"users":[${users}]}`
      const bytes = encoder.encode(json)
      if (bytes.length > MAX_FRAME_BYTES) throw new InvalidMessageError(`frame of ${bytes.length} bytes is over the ${MAX_FRAME_BYTES} byte limit`)
      return bytes
    })
  }

  /**
   * Writes the welcome pages. A method of its own so that the pages (the directory, encoded for
   * this device) are garbage once written: held in a variable of the session's long-running
   * handler they stayed alive as long as the session (~18 KiB a device with 200 accounts).
   */
  private async sendWelcome (lp: FrameStream, cert: Certificate, since?: DirectoryVersion): Promise<void> {
    for (const frame of await this.welcomeFrames(cert, since)) await lp.write(frame, { signal: AbortSignal.timeout(10_000) })
  }

  /** One page of the directory's `users` answer: the accounts after `after`, as many as fit a frame. */
  private async usersPage (after: string | undefined): Promise<{ users: UserInfo[], more: boolean }> {
    const entries = await this.directory.encoded()
    const from = after == null ? 0 : entries.findIndex(e => e.user > after)
    const rest = from < 0 ? [] : entries.slice(from)
    const { pages: split } = pages(rest, MAX_DIRECTORY_PAGE_BYTES)
    const users = split[0]!.map(e => JSON.parse(e.json) as UserInfo)
    return { users, more: split.length > 1 }
  }

  private userInfo (a: AccountRecord): UserInfo {
    return { user: a.user, online: this.presence.isOnline(a.user), lastSeen: a.lastSeen, createdAt: a.createdAt, devices: this.presence.devices(a.user), accountKey: a.accountKey?.publicKey ?? null, ...(a.disabled ? { disabled: true } : {}) }
  }

  private async handleDirectory (req: DirectoryRequest, connection: Connection): Promise<unknown> {
    await this.authenticate(req.cert, connection)
    if (req.op === 'users') {
      return { ok: true, ...await this.usersPage(req.after) }
    }
    const account = await this.store.getAccount(checkUsername(req.user))
    if (account == null) throw new UnknownUserError(`no user named "${printable(req.user)}"`)
    return { ok: true, users: [this.userInfo(account)] }
  }

  /**
   * The sealed archive: any account may leave sealed copies for any account (that is how a
   * message reaches someone offline); each account reads only its own. Room history is open to
   * every logged-in device.
   */
  private async handleArchive (req: ArchiveRequest, connection: Connection): Promise<unknown> {
    const account = await this.authenticate(req.cert, connection)
    if (req.op === 'put') {
      const at = Date.now()
      for (const item of req.items) {
        const to = await this.store.getAccount(item.to)
        if (to == null) throw new UnknownUserError(`no user named "${item.to}"`)
        if (to.disabled) throw new AccountDisabledError(`account "${item.to}" is disabled`)
      }
      this.count.archived({}, req.items.length)
      this.count.puts({})
      const seqs = await this.store.appendArchive(req.items.map(i => ({ to: i.to, from: account.user, sealed: i.sealed, at, ...(i.id == null ? {} : { id: i.id }) })))
      const heads = new Map<string, number>()
      req.items.forEach((item, i) => heads.set(item.to, Math.max(heads.get(item.to) ?? 0, seqs[i]!)))
      // the device that left the copies has them: no mail notice for it
      const putter = connection.remotePeer.toString()
      for (const [user, seq] of heads) {
        for (const s of this.presence.sessionsOf(user)) if (s.peer !== putter) s.mail?.(seq)
      }
      this.log.debug('archived', { from: account.user, to: [...heads.keys()], items: req.items.length })
      return { ok: true, seqs }
    }
    if (req.op === 'fetch') {
      // fill the answer up to a byte budget so it always fits in one frame
      const rows = await this.store.readArchive(account.user, req.after, req.limit)
      const items = []
      let bytes = 1024
      for (const row of rows) {
        bytes += row.sealed.length + 128
        if (bytes > MAX_ARCHIVE_FRAME_BYTES && items.length > 0) break
        items.push(row)
      }
      this.count.fetched({}, items.length)
      const last = items.at(-1)?.seq ?? req.after
      return { ok: true, items, more: items.length < rows.length || rows.length === req.limit, last }
    }
    if (req.room !== GLOBAL_ROOM && !isRoomName(req.room)) throw new InvalidInputError(`no room named #${printable(req.room)}`)
    if (!await this.people.canRead(req.room, account.user)) throw new NotMemberError(`you are not a member of #${req.room}`)
    await this.roomHistory.settled()
    const rows = await this.store.readRoom(req.room, req.after, req.limit)
    const envelopes = []
    let bytes = 1024
    for (const row of rows) {
      bytes += JSON.stringify(row.envelope).length
      if (bytes > MAX_ARCHIVE_FRAME_BYTES && envelopes.length > 0) break
      envelopes.push(row.envelope)
    }
    return { ok: true, envelopes, more: envelopes.length < rows.length || rows.length === req.limit }
  }

  private async handleSession (stream: Stream, connection: Connection): Promise<void> {
    const lp = frameStream(stream)
    const peer = connection.remotePeer.toString()
    const remoteAddr = connection.remoteAddr.toString()
    let session: SessionSink | undefined
    let outbox: Outbox | undefined
    let reason = 'ended'
    let silence: SilenceTimer | undefined
    try {
      const hello = await readFrame(lp, sessionClientFrame, { signal: AbortSignal.timeout(5_000) })
      if (hello.t !== 'hello') throw new InvalidMessageError('a session starts with hello')
      const account = await this.authenticate(hello.cert, connection)
      if (this.presence.deviceCount(account.user) >= MAX_DEVICES_PER_ACCOUNT && this.presence.sessionOf(account.user, peer) == null) {
        throw new RateLimitedError(`at most ${MAX_DEVICES_PER_ACCOUNT} devices of one account can be online at once`)
      }
      const now = Date.now()
      // The certificate the device showed, when this node signed it less than CERT_REUSE_MS ago
      // (authenticate checked it: this node's signature, this device, logged in, account enabled),
      // is as good as a new one: it expires at most CERT_REUSE_MS sooner, never later.
      const fresh = hello.cert.issued <= now && hello.cert.expires - now > CERT_LIFETIME_MS - CERT_REUSE_MS
      const cert = fresh ? hello.cert : await issueCertificate(this.privateKey, account.user, peer, now)

      // Join presence before taking the snapshot, holding back events until the welcome is out:
      // nothing that happens between the snapshot and the first event can be missed.
      let closed = false
      const box = outbox = this.outboxes.open({
        write: async frames => { await lp.writeV(frames) },
        writable: () => stream.writeStatus === 'writable'
      }, MAX_SESSION_BACKLOG)
      session = {
        user: account.user,
        peer,
        addrs: boundAddrs(hello.addrs),
        push: ev => box.pushEvent(ev),
        mail: seq => { if (!box.pushFrame({ t: 'mail', seq })) session?.close('too far behind') },
        close: why => {
          if (closed) return
          closed = true
          reason = why
          box.close()
          stream.abort(new Error(why))
        }
      }
      this.count.sessions()
      const wasOnline = this.presence.isOnline(account.user)
      this.presence.add(session, now)
      if (!wasOnline) this.log.info('online', { user: account.user, device: peer, addr: remoteAddr })
      await this.outboxes.flushed()
      // the whole directory goes out before any event held back since the snapshot
      await this.sendWelcome(lp, cert, hello.since)
      box.release()
      await this.store.updateDevice(peer, { lastSeen: now, lastAddr: remoteAddr })
      await this.store.updateAccount(account.user, { lastAddr: remoteAddr })
      // the operator may have disabled the account or logged the device out since the hello was
      // checked, before this session was there to be closed
      await this.authenticate(hello.cert, connection)

      // the client beats every heartbeatMs; three missed beats end the session. One timer for
      // the session, pushed back by every frame (a timeout signal per frame cost the node a timer
      // that fired, uselessly, for every beat)
      silence = silenceTimer(this.heartbeatMs * 3)
      for (;;) {
        const frame = await readFrame(lp, sessionClientFrame, { signal: silence.signal })
        silence.refresh()
        if (frame.t === 'ping') {
          if (!box.pushFrame({ t: 'pong', n: frame.n })) throw new TimeoutError('session too far behind')
        } else if (frame.t === 'addrs') {
          this.presence.updateAddrs(session, boundAddrs(frame.addrs))
        } else {
          throw new InvalidMessageError('hello sent twice')
        }
      }
    } catch (err) {
      if (session == null) {
        this.log.warn('session refused', { peer, addr: remoteAddr, error: (err as Error).name, reason: (err as Error).message })
        await writeFrame(lp, { t: 'error', error: { name: (err as Error).name, message: (err as Error).message.slice(0, 500) } }, { signal: AbortSignal.timeout(1_000) }).catch(() => {})
      } else if (reason === 'ended') {
        reason = (err as Error).name === 'TimeoutError' ? 'heartbeat timeout' : 'disconnected'
      }
      stream.abort(err as Error)
      // a device that stopped beating (gone without a word, or not reading) loses its connection
      // too: it is not kept open until the node's own pings (DEFAULT_PING_INTERVAL_MS) find it dead,
      // and a device still there dials afresh
      if (reason === 'heartbeat timeout') connection.abort(err as Error)
    } finally {
      silence?.clear()
      outbox?.close()
      if (session != null) {
        const now = Date.now()
        const wentOffline = this.presence.remove(session, now, now)
        if (this.state != null) {
          await this.store.updateDevice(peer, { lastSeen: now }).catch(() => {})
          if (wentOffline) {
            await this.store.updateAccount(session.user, { lastSeen: now }).catch(() => {})
            this.directory.accountUpdated(session.user, { lastSeen: now })
          }
        }
        if (wentOffline) this.log.info('offline', { user: session.user, device: peer, reason })
      }
    }
  }

  /** For tests and the admin: the gossipsub message handler hook. */
  onRoomMessage (handler: (msg: GossipsubMessage) => void): void {
    this.libp2p.services.pubsub.addEventListener('gossipsub:message', evt => { handler(evt.detail) })
  }
}
