/**
 * The headless client core: one device's node, direct messages and rooms, and the parts it wires
 * together: the session with the rendezvous node and who is online (session.ts), history,
 * people, rooms, files and the archive. It emits typed events and never touches a terminal.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import { multiaddr } from '@multiformats/multiaddr'
import {
  AUTH_PROTOCOL, DIRECTORY_PROTOCOL, DM_PROTOCOL, PEOPLE_PROTOCOL, GLOBAL_ROOM, roomTopic,
  authResponse, directoryResponse, dmAck, envelope as envelopeSchema, peopleResponse, checkRoomName, MAX_PEOPLE_FRAME_BYTES,
  checkUsername, dmConversation, roomConversation, encodeFrame, decodeFrame, fromWireError, parseTarget,
  InvalidInputError, InvalidMessageError, OfflineError, UnknownUserError, MeshchatError, NotLoggedInError,
  AccountDisabledError, NotMemberError, MAX_ROOM_ENVELOPE_BYTES, text as textSchema
} from '../protocol/index.js'
import { signEnvelope, publicKeyOf, RoomValidator, forgetSealCaches, EnvelopeChain, EnvelopeChecks } from '../crypto/index.js'
import { ClientStore } from '../store/index.js'
import { History } from './history.js'
import { People } from './people.js'
import { Rooms } from './rooms.js'
import { Files } from './files.js'
import { nodeFiles } from './file-node-source.js'
import type { FilesInit, FileEntry, GetFileOptions, GetFileResult, SendFileOptions, SendFileResult } from './files.js'
import { wantsRelay } from './reachability.js'
import { ArchiveSync, isForMe } from './archive.js'
import { askDirectoryPages } from './directory-pages.js'
import type { RelayMode } from './reachability.js'
import { createMeshNode, handleRequests, request, isRelayed, pingPeer, RequestChannels } from '../net/index.js'
import { Home } from './home.js'
import { Session } from './session.js'
import { sleep } from './wait.js'
import { EventHub } from './events.js'
import { dialError, parseServerAddress, peerIdOfAddress } from './server-address.js'
import { DEFAULT_SESSION_TIMEOUT_MS, DEFAULT_SEND_TIMEOUT_MS, SEEN_IDS, ROOM_PEER_WAIT_MS, ARCHIVE_DEFER_MS, ARCHIVE_STOP_WAIT_MS } from './constants.js'
import type { ClientEvent, ClientEventListener, ConnectionState } from './events.js'
import type { SavedLogin } from './home.js'
import type { FileOffer, Envelope, UserInfo, DeviceInfo, AuthResponse, ReceiptBody, PeopleRequest, PeopleResponse, DirectoryRequest, RoomInfo, RoomMember } from '../protocol/index.js'
import type { ChatRequest, ChatState, Contact, Profile, ProfileChange } from './people-types.js'
import type { AccountKeyFile } from './home.js'
import type { MessageStatus } from '../store/index.js'
import type { ConversationSummary } from './history.js'
import type { GossipInit, MeshNode } from '../net/index.js'
import type { AbortOptions, Connection, PeerId, PrivateKey, PublicKey } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

export interface ClientInit {
  /** The device's home folder (key, login, control socket). */
  home: string
  /** Multiaddrs this device listens on so peers can reach it directly. @default ['/ip4/0.0.0.0/tcp/0'] */
  listen?: string[]
  /**
   * Keep a live session with the rendezvous node (presence, events, reconnects). One-shot
   * commands turn it off so they do not flicker the account online. @default true
   */
  session?: boolean
  gossip?: GossipInit
  /** Other online devices to connect to, so rooms form a mesh beyond the rendezvous node. @default 8 */
  peerDials?: number
  reconnectMinMs?: number
  reconnectMaxMs?: number
  /**
   * Hold a relay slot on the rendezvous node so peers can reach this device when it is behind
   * NAT: `auto` does when the device has no public address and the node has. @default 'auto'
   */
  relay?: RelayMode
  /**
   * Without a session: fail at start when the rendezvous node is unreachable. History commands
   * turn it off to show what the device has. @default true
   */
  requireServer?: boolean
  /** Files (issue 9): size limit, concurrent transfers, download folder, … */
  files?: FilesInit
}

/** What a message carries: text, or a file offer (issue 9). */
type MessageContent = { kind: 'text', body: { text: string } } | { kind: 'file', body: FileOffer }

export interface SendResult {
  id: string
  conv: string
  sentAt: number
  /** Recipient devices that acknowledged (direct), or peers the room message went to. */
  deliveredTo: string[]
  /** For direct messages: sent (stored at the rendezvous node) or delivered (a device acked). */
  status?: MessageStatus
}

export interface PingResult {
  target: string
  peer: string
  rttMs: number
  path: 'direct' | 'relayed'
}

export interface ConversationEntry extends ConversationSummary {
  /** For people: online now (null when unknown, and for rooms). */
  online: boolean | null
}

export interface WhoAmI {
  user: string
  device: string
  server: string
  certExpires: number
}

export class MeshClient {
  readonly home: Home
  private readonly hub = new EventHub()
  private node?: MeshNode
  private login?: SavedLogin
  private key?: PrivateKey
  private serverKey?: PublicKey
  private serverAddr?: Multiaddr
  private serverPeer?: PeerId
  private state: ConnectionState = 'offline'
  private stopped = false
  private readonly stopController = new AbortController()
  private sessionTask?: Promise<void>
  private readonly seen = new Set<string>()
  /** Room messages this device's validator accepted, by their bytes: gossipsub hands the same bytes on, so they are not decoded twice. */
  private readonly checkedRoom = new WeakMap<Uint8Array, Envelope>()
  private dmChannels?: RequestChannels<typeof dmAck>
  /** The addresses last put in the peer store per device, and its parsed peer id (knowPeer). */
  private readonly knownAddrs = new Map<string, { addrs: string, peer: PeerId }>()
  private roomValidator?: RoomValidator
  /** Room topics this device is subscribed to (and validates). */
  private readonly subscribed = new Set<string>()
  private accountKey?: AccountKeyFile
  /** This device asks the node for a relay slot (session.ts says when it holds none). */
  private relayed = false
  private store?: ClientStore
  private historyApi?: History
  /** The sealed archive at the rendezvous node: what offline devices and new devices rely on. */
  private readonly archive = new ArchiveSync({
    node: () => this.libp2p,
    serverPeer: () => this.serverPeer!,
    serverKey: () => this.serverKey!,
    login: () => this.requireLogin(),
    accountKey: () => this.accountKey!,
    store: () => this.store!,
    history: () => this.history,
    accountKeyOf: async (user, options) => (await this.userInfo(user, options)).accountKey,
    remember: id => { this.remember(id) },
    known: async ids => {
      const stored = await this.store!.knownIds(ids.filter(id => !this.seen.has(id)))
      for (const id of ids) if (this.seen.has(id)) stored.add(id)
      return stored
    },
    openRoom: async (room, env) => await this.roomList.open(room, env),
    stopped: () => this.stopped
  })

  /** The session with the rendezvous node and the live directory of users (session.ts). */
  private readonly session: Session

  /** This device's numbered messages, each carrying the hash of its predecessor (a backfill checks one signature per run; crypto/envelope.ts). */
  private readonly chain = new EnvelopeChain()
  /** Direct messages that arrive together are checked together: a burst of one device's chained messages costs one signature. */
  private readonly directChecks = new EnvelopeChecks(() => this.serverKey!)

  /** Chat requests, contacts and profiles (people.ts). */
  readonly people = new People({
    me: () => this.requireLogin().user,
    store: () => this.store!,
    serverKey: () => this.serverKey!,
    sign: async (conv, kind, body) => await signEnvelope(this.requireKey(), this.requireLogin().cert, { conv, kind, body } as never),
    distribute: async (env, to, options) => { await this.distribute(env, to, options) },
    receive: async env => { await this.history.receive(env) },
    emit: ev => { this.hub.emit(ev) },
    userInfo: async (user, options) => await this.userInfo(user, options),
    presence: async options => new Map((await this.users(options)).map(u => [u.user, u])),
    ask: async (req, options) => await this.askPeople(req, options),
    cert: () => this.requireLogin().cert
  })

  /** Named rooms this account is in and private rooms' member lists (rooms.ts). */
  readonly roomList = new Rooms({
    me: () => this.requireLogin().user,
    serverKey: () => this.serverKey!,
    sign: async (conv, kind, body) => await signEnvelope(this.requireKey(), this.requireLogin().cert, { conv, kind, body } as never),
    ask: async (req, options) => await this.askPeople(req, options),
    cert: () => this.requireLogin().cert,
    subscribe: room => { this.subscribeRoom(room) },
    unsubscribe: room => { this.unsubscribeRoom(room) },
    fetchHistory: async room => { await this.archive.fetchRoom(room) },
    accountKey: () => this.accountKey!,
    accountKeyOf: async (user, options) => (await this.userInfo(user, options)).accountKey,
    emit: ev => { this.hub.emit(ev) }
  })

  /** File offers, serving and transfers (files.ts). */
  readonly fileList: Files = new Files({
    me: () => this.requireLogin().user,
    peerId: () => this.peerId,
    homeDir: () => this.home.dir,
    node: () => this.libp2p,
    store: () => this.store!,
    serverKey: () => this.serverKey!,
    cert: () => this.requireLogin().cert,
    checkTarget: async (to, options) => { await this.checkOfferTarget(to, options) },
    send: async (to, offer, options) => await this.sendContent(to, { kind: 'file', body: offer }, options),
    devicesOf: async (user, options) => await this.devicesOf(user, options),
    accountKeyOf: async (user, options) => (await this.userInfo(user, options)).accountKey,
    otherDevices: () => this.session.all().filter(u => u.online && u.disabled !== true).flatMap(u => u.devices.filter(d => d.peer !== this.peerId).map(device => ({ user: u.user, device }))),
    knowPeer: async device => await this.knowPeer(device),
    roomAdmits: (room, user) => this.roomList.admits(room, user),
    emit: ev => { this.hub.emit(ev) },
    on: listener => this.hub.on(listener),
    background: () => this.init.session !== false
  }, () => this.init.files)

  constructor (private readonly init: ClientInit) {
    this.home = new Home(init.home)
    this.session = new Session({
      node: () => this.libp2p,
      serverPeer: () => this.serverPeer!,
      login: () => this.requireLogin(),
      saveCertificate: async cert => {
        this.login = { ...this.requireLogin(), cert }
        await this.home.saveCertificate(cert)
      },
      state: () => this.state,
      setState: (state, reason) => { this.setState(state, reason) },
      emit: ev => { this.hub.emit(ev) },
      stopSignal: this.stopController.signal,
      knowPeer: async device => await this.knowPeer(device),
      profile: profile => { void this.people.applyProfile(profile).catch(() => {}) },
      room: room => { void this.roomList.apply(room).catch(() => {}) },
      welcomed: () => { void this.roomList.sync().then(async () => { await this.catchUp() }, async () => { await this.catchUp() }).catch(() => {}) },
      mail: () => { void this.archive.fetchMine().catch(() => {}) }
    }, {
      relayed: () => this.relayed,
      ...(init.peerDials == null ? {} : { peerDials: init.peerDials }),
      ...(init.reconnectMinMs == null ? {} : { reconnectMinMs: init.reconnectMinMs }),
      ...(init.reconnectMaxMs == null ? {} : { reconnectMaxMs: init.reconnectMaxMs })
    })
    // a file left sealed at the rendezvous node is a source too, after the sender's devices
    // (and where a file for someone offline waits for them, sealed to their account key)
    this.fileList.useNode(nodeFiles({ node: () => this.libp2p, server: () => this.serverPeer!, cert: () => this.requireLogin().cert, accountKey: () => this.accountKey! }))
  }

  get user (): string { return this.requireLogin().user }
  get peerId (): string { return this.libp2p.peerId.toString() }
  get connectionState (): ConnectionState { return this.state }

  get libp2p (): MeshNode {
    if (this.node == null) throw new MeshchatError('client is not started')
    return this.node
  }

  on (listener: ClientEventListener): () => void {
    return this.hub.on(listener)
  }

  /** The events as an async iterable, for `for await` consumers (listen, bots). */
  events (signal?: AbortSignal): AsyncGenerator<ClientEvent> {
    return this.hub.stream(signal)
  }

  /**
   * Starts the device's node. With a session, waits for the first welcome from the rendezvous
   * node (or its refusal); an unreachable node is retried in the background.
   */
  async start (options: AbortOptions = {}): Promise<void> {
    this.login = await this.home.requireLogin()
    this.key = await this.home.deviceKey()
    this.serverAddr = parseServerAddress(this.login.server)
    const serverId = peerIdOfAddress(this.serverAddr)
    if (serverId == null) throw new InvalidInputError(`saved server address ${this.login.server} has no /p2p/ part; log in again`)
    this.serverPeer = peerIdFromString(serverId)
    this.serverKey = publicKeyOf(serverId)
    if (this.key.publicKey.toString() !== publicKeyOf(this.login.cert.device).toString()) {
      throw new NotLoggedInError('the saved login belongs to another device key; run meshchat login again')
    }
    this.roomValidator = new RoomValidator(this.serverKey)
    this.accountKey = await this.home.readAccountKey()
    if (this.accountKey == null) throw new NotLoggedInError('this device has no account key; run meshchat login again')
    this.store = await ClientStore.open(this.home.storePath, this.login.user)
    this.historyApi = new History(this.store, this.login.user, {
      sendReceipt: async (conv, body, to) => { await this.sendReceipt(conv, body, to) },
      emit: ev => { this.hub.emit(ev) },
      admit: async (env, arrivedAt) => !this.isDisabled(env.author) && await this.people.admit(env, arrivedAt),
      refusal: async env => this.isDisabled(env.author) ? new AccountDisabledError(`account "${env.author}" is disabled`) : await this.people.refusal(env),
      other: async env => { await this.applyOther(env) }
    })
    const listen = this.init.listen ?? ['/ip4/0.0.0.0/tcp/0']
    // a device behind NAT holds a relay slot on its rendezvous node (and one-shot commands never do)
    this.relayed = this.init.session !== false && wantsRelay(this.init.relay ?? 'auto', this.login.server)
    this.node = await createMeshNode({
      privateKey: this.key,
      listen: this.relayed ? [...listen, '/p2p-circuit'] : listen,
      relayClient: true,
      maxConnections: 1_000,
      inboundConnectionThreshold: 100,
      maxIncomingPendingConnections: 100,
      // devices flooding a room lose score here (RoomValidator.score)
      gossip: { ...this.init.gossip, appSpecificScore: peer => this.roomValidator?.score(peer) ?? 0 }
    })
    await this.node.peerStore.merge(this.serverPeer, { multiaddrs: [this.serverAddr] }).catch(async err => { await this.stop(); throw err })
    // direct messages, receipts and their acks also travel over relayed (limited) connections
    await handleRequests(this.node, DM_PROTOCOL, envelopeSchema, async (env, ctx) => await this.receiveDirect(env, ctx.connection), { runOnLimitedConnection: true, persistent: true })
    // file bytes on their own streams (issue 9); relayed connections only when the requester allows it
    await this.fileList.start()
    this.dmChannels = new RequestChannels(this.node, DM_PROTOCOL, dmAck, { runOnLimitedConnection: true })
    this.node.addEventListener('self:peer:update', () => { this.session.addressesChanged() })
    this.node.services.pubsub.addEventListener('gossipsub:message', evt => {
      this.receiveRoom(evt.detail.msg.topic, evt.detail.msg.data)
    })
    this.subscribeRoom(GLOBAL_ROOM)
    if (this.init.session === false) {
      // one-shot: no presence, but fail fast (and learn the room's members) by connecting now
      try {
        await this.node.dial(this.serverPeer, { signal: options.signal ?? AbortSignal.timeout(DEFAULT_SEND_TIMEOUT_MS) })
      } catch (err) {
        if (this.init.requireServer !== false) {
          await this.stop()
          throw dialError(err, this.login.server)
        }
        this.setState('offline', dialError(err, this.login.server).message)
        return
      }
      this.setState('connected')
    } else {
      const first = Promise.withResolvers<void>()
      this.sessionTask = this.session.run(first)
      const timeout = options.signal ?? AbortSignal.timeout(DEFAULT_SESSION_TIMEOUT_MS)
      await Promise.race([
        first.promise,
        new Promise<void>((_resolve, reject) => {
          timeout.addEventListener('abort', () => { reject(new MeshchatError('timed out waiting for the rendezvous node')) })
        })
      ]).catch(async err => { await this.stop(); throw err })
    }
  }

  async stop (): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    this.stopController.abort()
    this.session.stop()
    // archive copies still waiting or on their way leave now; what the node does not answer in
    // time stays in the outbox for the next start
    await this.archive.drain(ARCHIVE_STOP_WAIT_MS)
    await this.fileList.stop()
    this.dmChannels?.close()
    await this.node?.stop()
    await this.sessionTask?.catch(() => {})
    await this.archive.settled()
    await this.historyApi?.flush().catch(() => {})
    await this.store?.close()
    // nothing seals or opens for this account here any more: its kept keys go (crypto/seal.ts)
    if (this.accountKey != null) forgetSealCaches(this.accountKey.publicKey)
    this.setState('offline')
  }

  /** Conversations, pages, unread counts and read marks (see history.ts). */
  get history (): History {
    if (this.historyApi == null) throw new MeshchatError('client is not started')
    return this.historyApi
  }

  /**
   * Catches up with the rendezvous node: everything waiting in this account's sealed archive
   * since this device's cursor, and the global room's recent history. One-shot commands call it
   * before they answer, so what they print is current.
   */
  async catchUp (options: AbortOptions = {}): Promise<void> {
    await this.flushOutbox(options)
    await this.archive.fetchMine(options)
    await this.archive.fetchRoom(GLOBAL_ROOM, options)
    for (const room of this.roomList.joinedRooms()) await this.archive.fetchRoom(room, options).catch(() => {})
  }

  /** Leaves queued envelopes at the archive (and with any device of the recipient now online). */
  async flushOutbox (options: AbortOptions = {}): Promise<number> {
    const me = this.requireLogin().user
    let sent = 0
    for (const item of await this.store!.outboxItems(200)) {
      const parsed = envelopeSchema.safeParse(item.envelope)
      if (!parsed.success) {
        await this.store!.deleteOutbox(item)
        continue
      }
      const env = parsed.data
      await this.archivePut(env, item.to === me ? [me] : [item.to, me], options)
      await this.store!.deleteOutbox(item)
      await this.history.raise([env.id], 'sent')
      const devices = this.session.get(item.to)?.devices ?? []
      void Promise.allSettled(devices.filter(d => d.peer !== this.peerId).map(async d => { await this.deliver(d, env, options) }))
      sent++
    }
    return sent
  }

  /**
   * Every conversation, newest activity first, then people online before those offline; each
   * with its unread count and, for people, their presence.
   */
  async conversations (options: AbortOptions = {}): Promise<ConversationEntry[]> {
    const list = await this.history.conversations()
    let online = new Map<string, boolean>()
    try {
      online = new Map((await this.users(options)).map(u => [u.user, u.online]))
    } catch {
      // presence is unknown while the rendezvous node is unreachable; history is still shown
    }
    const entries: ConversationEntry[] = list.map(c => ({ ...c, online: c.kind === 'room' ? null : (online.get(c.target) ?? null) }))
    return entries.sort((a, b) => (b.lastActivity - a.lastActivity) || (Number(b.online === true) - Number(a.online === true)) || a.target.localeCompare(b.target))
  }

  whoami (): WhoAmI {
    const login = this.requireLogin()
    return { user: login.user, device: login.cert.device, server: login.server, certExpires: login.cert.expires }
  }

  /** Every registered user with presence; from the live session, or asked of the rendezvous node. */
  async users (options: AbortOptions = {}): Promise<UserInfo[]> {
    if (this.session.live) {
      return this.session.all().sort((a, b) => a.user.localeCompare(b.user))
    }
    const all = await askDirectoryPages(async after => await this.askDirectory({ op: 'users', cert: this.requireLogin().cert, ...(after == null ? {} : { after }) }, options))
    return all.sort((a, b) => a.user.localeCompare(b.user))
  }

  /** Sends to `bob` (direct) or `#global` (room). */
  async send (to: string, text: string, options: AbortOptions = {}): Promise<SendResult> {
    const target = parseTarget(to)
    return target.kind === 'room'
      ? await this.sendRoom(target.room, text, options)
      : await this.sendDirect(target.user, text, options)
  }

  /**
   * A direct message: stored here, streamed to every online device of `to` (and to this
   * account's other devices), and left at the rendezvous node sealed to both accounts, so that
   * offline devices get it later. Resolves once it is stored there or acknowledged by a device.
   */
  async sendDirect (to: string, text: string, options: AbortOptions = {}): Promise<SendResult> {
    checkUsername(to)
    return await this.sendDirectContent(to, { kind: 'text', body: { text: checkText(text) } }, options)
  }

  private async sendDirectContent (to: string, content: MessageContent, options: AbortOptions): Promise<SendResult> {
    const login = this.requireLogin()
    checkUsername(to)
    const signal = options.signal ?? AbortSignal.timeout(DEFAULT_SEND_TIMEOUT_MS)
    const target = await this.userInfo(to, { signal })
    if (target.accountKey == null) throw new UnknownUserError(`${to} has no account key yet`)
    await this.people.checkWritable(to)
    const conv = dmConversation(login.user, to)
    // the number is written while the message goes out; the send waits for it with its own write
    const seq = await this.store!.takeSeq(conv)
    const env = await signEnvelope(this.requireKey(), login.cert, { conv, ...content, n: seq.n }, { chain: this.chain })
    this.remember(env.id)

    const recipients = target.devices.filter(d => d.peer !== this.peerId)
    const own = to === login.user ? [] : (this.session.get(login.user)?.devices ?? []).filter(d => d.peer !== this.peerId)
    // the archive copy is what offline devices (and this account's other devices) rely on: the
    // signed envelope waits in the outbox until the node has it, even if this process dies. The
    // stream to the recipient goes at once and this device's own write right behind it (on the
    // next turn, so that its synchronous work does not hold the frame back); the copy to the
    // node once the recipient's devices answered or ARCHIVE_DEFER_MS passed, so that sealing it
    // and the node's work on it do not compete with the direct delivery for the CPU; when a
    // device answered, it may wait a little more to leave with the next copies (ArchiveSync,
    // ARCHIVE_LINGER_MS). The send resolves only once this device has stored it too.
    const queued = { id: env.id, queuedAt: Date.now(), to, envelope: env }
    const delivering = Promise.allSettled(recipients.map(async d => { await this.deliver(d, env, { signal }); return d.peer }))
    void Promise.allSettled(own.map(async d => { await this.deliver(d, env, { signal }) }))
    // history and the outbox in one batch: the outbox is sent again only for what history has
    // (flushOutbox raises it)
    const local = new Promise<void>(resolve => { setImmediate(resolve) }).then(async () => { await this.history.receive(env, 'sending', undefined, queued); await seq.written })
    let archiveError: unknown
    let deferred: NodeJS.Timeout | undefined
    const archived = Promise.race([delivering, new Promise<void>(resolve => { deferred = setTimeout(resolve, ARCHIVE_DEFER_MS) })])
      .then(async first => {
        clearTimeout(deferred)
        // a copy of what a device of the recipient already has may wait to leave with the next ones (ARCHIVE_LINGER_MS)
        const linger = Array.isArray(first) && first.some(r => r.status === 'fulfilled')
        await this.archivePut(env, to === login.user ? [to] : [to, login.user], { signal, linger })
        await local
        await this.store!.deleteOutbox(queued)
        return true
      })
      .catch((err: unknown) => { archiveError = err; return false })
    await local
    const delivered = await delivering
    const ok = delivered.flatMap(r => r.status === 'fulfilled' ? [r.value] : [])
    if (ok.length > 0) {
      // a recipient device has it: done for the sender; the archive copy completes behind, and
      // so does the status write (queued now, so every later write of this store comes after
      // it, and a stop waits for it; its 'status' event follows). Awaiting it cost a LevelDB
      // round trip on every send: 0.4–0.7 ms of a lone message's 2–4 ms here.
      this.history.raise([env.id], 'delivered').catch((err: unknown) => {
        this.hub.emit({ type: 'error', error: { name: (err as Error).name, message: `message ${env.id} was delivered, but its status could not be stored: ${(err as Error).message}` } })
      })
      return { id: env.id, conv: env.conv, sentAt: env.sentAt, deliveredTo: ok, status: 'delivered' }
    }
    // every device that answered refused it: the chat is not open on their side
    const refused = delivered.flatMap(r => r.status === 'rejected' && ['ChatNotAcceptedError', 'AccountDisabledError'].includes((r.reason as Error).name) ? [r.reason as Error] : [])
    if (refused.length > 0) {
      await archived
      throw refused[0]!
    }
    if (await archived) {
      await this.history.raise([env.id], 'sent')
      return { id: env.id, conv: env.conv, sentAt: env.sentAt, deliveredTo: [], status: 'sent' }
    }
    const first = delivered.find(r => r.status === 'rejected')
    const reason = (archiveError ?? (first?.status === 'rejected' ? first.reason : undefined)) as Error | undefined
    if (reason instanceof MeshchatError && !['OfflineError', 'UnreachableError', 'TimeoutError'].includes(reason.name)) {
      await this.store!.deleteOutbox(queued)
      throw reason
    }
    throw new OfflineError(`could not deliver to ${to} nor store it for later (${reason?.message.split('\n')[0] ?? 'no route'}); it is queued and goes out when the server is reachable`)
  }

  /** A message to a room's gossipsub topic (signed envelope inside a signed gossipsub message). */
  async sendRoom (room: string, text: string, options: AbortOptions = {}): Promise<SendResult> {
    return await this.sendRoomContent(room, { kind: 'text', body: { text: checkText(text) } }, options)
  }

  private async sendRoomContent (room: string, content: MessageContent, options: AbortOptions): Promise<SendResult> {
    const login = this.requireLogin()
    if (!this.roomList.isJoined(room)) {
      // not followed here yet (a one-shot command, or joined on another device): ask the node
      const info = await this.roomList.info(room, options)
      if (!info.joined) throw new NotMemberError(`you are not in #${room}; join it first: meshchat room join ${room}`)
      this.subscribeRoom(room)
    }
    const topic = roomTopic(room)
    const pubsub = this.libp2p.services.pubsub
    await waitFor(() => pubsub.getSubscribers(topic).length > 0, options.signal ?? AbortSignal.timeout(ROOM_PEER_WAIT_MS))
    const conv = roomConversation(room)
    // a private room's message goes sealed with the room key; this device keeps it as written
    const env = await signEnvelope(this.requireKey(), login.cert, { conv, ...this.roomList.sealFor(room, content), n: await this.store!.nextSeq(conv) }, { chain: this.chain })
    this.seen.add(env.id)
    // out first, kept here next: the local write no longer sits between signing and the room
    // (a message that could not be published is not kept; one nobody got is, with the error)
    const res = await pubsub.publish(topic, encodeFrame(env, MAX_ROOM_ENVELOPE_BYTES))
    await this.history.receive(env.kind === 'sealed-room' ? { ...env, ...content } as Envelope : env)
    if (res.recipients.length === 0) {
      throw new OfflineError(`nobody could be reached in #${room}`)
    }
    return { id: env.id, conv: env.conv, sentAt: env.sentAt, deliveredTo: res.recipients.map(p => p.toString()) }
  }

  // ---- files (files.ts, issue 9) -----------------------------------------------------------

  /**
   * Offers the file at `path` to `bob` or `#room`: hashed chunk by chunk, shared by this device,
   * and announced as a message. The bytes go when a recipient device fetches them (getFile).
   */
  async sendFile (to: string, path: string, options: SendFileOptions = {}): Promise<SendFileResult> {
    return await this.fileList.send(to, path, options)
  }

  /** Every file offer in every conversation, with its transfer's state here. */
  async files (): Promise<FileEntry[]> {
    return await this.fileList.list()
  }

  /** Fetches an offered file (message id or sha256), resuming a cut transfer; verified before it resolves. */
  async getFile (ref: string, options: GetFileOptions = {}): Promise<GetFileResult> {
    return await this.fileList.get(ref, options)
  }

  /** Sends a message's content (text or a file offer) to `bob` or `#room`. */
  private async sendContent (to: string, content: MessageContent, options: AbortOptions): Promise<SendResult> {
    const target = parseTarget(to)
    return target.kind === 'room'
      ? await this.sendRoomContent(target.room, content, options)
      : await this.sendDirectContent(target.user, content, options)
  }

  /** Throws the reason this account may not offer a file to `to` now (before a big file is hashed). */
  private async checkOfferTarget (to: string, options: AbortOptions): Promise<void> {
    const target = parseTarget(to)
    if (target.kind === 'room') {
      if (this.roomList.isJoined(target.room)) return
      const info = await this.roomList.info(target.room, options)
      if (!info.joined) throw new NotMemberError(`you are not in #${target.room}; join it first: meshchat room join ${target.room}`)
      return
    }
    const info = await this.userInfo(checkUsername(target.user), options)
    if (info.accountKey == null) throw new UnknownUserError(`${target.user} has no account key yet`)
    await this.people.checkWritable(target.user)
  }

  // ---- people and rooms (people.ts, rooms.ts) ---------------------------------------------

  /** Asks `user` to chat; until they accept, direct messages to them are refused. */
  async request (user: string, text?: string, options: AbortOptions = {}): Promise<ChatState> {
    return await this.people.request(user, text, options)
  }

  async accept (user: string, options: AbortOptions = {}): Promise<ChatState> {
    return await this.people.accept(user, options)
  }

  async decline (user: string, options: AbortOptions = {}): Promise<ChatState> {
    return await this.people.decline(user, options)
  }

  /** Ends the chat with `user`: neither side writes until a new request is accepted. */
  async closeChat (user: string, options: AbortOptions = {}): Promise<ChatState> {
    return await this.people.close(user, options)
  }

  async chatState (user: string): Promise<ChatState> {
    return await this.people.chatState(user)
  }

  async requests (): Promise<ChatRequest[]> {
    return await this.people.requests()
  }

  async contacts (options: AbortOptions = {}): Promise<Contact[]> {
    return await this.people.contacts(options)
  }

  async addContact (user: string, options: AbortOptions = {}): Promise<void> {
    await this.people.addContact(user, options)
  }

  async removeContact (user: string, options: AbortOptions = {}): Promise<void> {
    await this.people.removeContact(user, options)
  }

  /** A user's profile (this account's own without `user`). */
  async profile (user?: string, options: AbortOptions = {}): Promise<Profile> {
    return await this.people.profile(user ?? this.requireLogin().user, options)
  }

  async setProfile (change: ProfileChange, options: AbortOptions = {}): Promise<Profile> {
    return await this.people.setProfile(change, options)
  }

  async rooms (options: AbortOptions = {}): Promise<RoomInfo[]> {
    return await this.roomList.list(options)
  }

  async createRoom (name: string, opts: { private?: boolean } = {}, options: AbortOptions = {}): Promise<RoomInfo> {
    return await this.roomList.create(name, opts, options)
  }

  async joinRoom (name: string, options: AbortOptions = {}): Promise<RoomInfo> {
    return await this.roomList.join(name, options)
  }

  async leaveRoom (name: string, options: AbortOptions = {}): Promise<RoomInfo> {
    return await this.roomList.leave(name, options)
  }

  async invite (room: string, user: string, options: AbortOptions = {}): Promise<RoomInfo> {
    return await this.roomList.invite(room, user, options)
  }

  /** The owner of a private room takes `user` off it; the room gets a new key they never see. */
  async removeMember (room: string, user: string, options: AbortOptions = {}): Promise<RoomInfo> {
    return await this.roomList.remove(room, user, options)
  }

  async members (room: string, options: AbortOptions = {}): Promise<RoomMember[]> {
    return await this.roomList.members(checkRoomName(room), options)
  }

  /** Round trip to the rendezvous node, or to each online device of `user`. */
  async ping (user?: string, options: AbortOptions = {}): Promise<PingResult[]> {
    const signal = options.signal ?? AbortSignal.timeout(DEFAULT_SEND_TIMEOUT_MS)
    if (user == null) {
      const peer = this.serverPeer!
      try {
        const rttMs = await pingPeer(this.libp2p, peer, { signal })
        return [{ target: 'rendezvous', peer: peer.toString(), rttMs, path: this.pathTo(peer) }]
      } catch (err) {
        throw dialError(err, this.requireLogin().server)
      }
    }
    const devices = (await this.devicesOf(checkUsername(user), options)).filter(d => d.peer !== this.peerId)
    if (devices.length === 0) throw new OfflineError(`${user} is offline (no device online)`)
    const results = await Promise.allSettled(devices.map(async d => {
      const peer = await this.knowPeer(d)
      // a relayed connection is "limited": the ping uses it rather than dial anew
      const rttMs = await pingPeer(this.libp2p, peer, { signal })
      return { target: user, peer: d.peer, rttMs, path: this.pathTo(peer) }
    }))
    const ok = results.flatMap(r => r.status === 'fulfilled' ? [r.value] : [])
    if (ok.length === 0) {
      const first = results.find(r => r.status === 'rejected')
      const why = first?.status === 'rejected' ? `: ${String((first.reason as Error).message).split('\n')[0] ?? ''}` : ''
      throw new OfflineError(`no device of ${user} answered${why}`)
    }
    return ok
  }

  // ---- internals -------------------------------------------------------------------------

  private requireLogin (): SavedLogin {
    if (this.login == null) throw new NotLoggedInError('client is not started')
    return this.login
  }

  private requireKey (): PrivateKey {
    if (this.key == null) throw new NotLoggedInError('client is not started')
    return this.key
  }

  private setState (state: ConnectionState, reason?: string): void {
    if (this.state === state) return
    this.state = state
    this.hub.emit({ type: 'connection', state, ...(reason == null ? {} : { reason }) })
  }

  private pathTo (peer: PeerId): 'direct' | 'relayed' {
    const conn = this.libp2p.getConnections(peer)[0]
    return conn != null && isRelayed(conn.remoteAddr) ? 'relayed' : 'direct'
  }

  private subscribeRoom (room: string): void {
    if (this.subscribed.has(room) || this.node == null) return
    const pubsub = this.libp2p.services.pubsub
    const topic = roomTopic(room)
    pubsub.topicValidators.set(topic, async (_peer, msg) => {
      const verdict = await this.roomValidator!.check(room, msg)
      if (!verdict.ok) return verdict.ignore === true ? TopicValidatorResult.Ignore : TopicValidatorResult.Reject
      if (this.isDisabled(verdict.envelope.author)) return TopicValidatorResult.Reject
      // a private room: only members on its owner-signed list (a list older than the sender's is not their fault)
      const admitted = this.roomList.admits(room, verdict.envelope.author)
      // plaintext in a private room (or sealed in a public one) is not passed on
      if (admitted === 'yes') {
        if (!this.roomList.admitsKind(room, verdict.envelope.kind)) return TopicValidatorResult.Reject
        this.checkedRoom.set(msg.data, verdict.envelope)
        return TopicValidatorResult.Accept
      }
      return admitted === 'no' ? TopicValidatorResult.Reject : TopicValidatorResult.Ignore
    })
    this.subscribed.add(room)
    if (this.init.session !== false) pubsub.subscribe(topic)
  }

  private unsubscribeRoom (room: string): void {
    if (room === GLOBAL_ROOM || !this.subscribed.has(room) || this.node == null) return
    const pubsub = this.libp2p.services.pubsub
    const topic = roomTopic(room)
    this.subscribed.delete(room)
    if (this.init.session !== false) pubsub.unsubscribe(topic)
    pubsub.topicValidators.delete(topic)
  }

  /** True when the operator disabled the account: its messages are refused. */
  private isDisabled (user: string): boolean {
    return this.session.get(user)?.disabled === true
  }

  /** Envelopes that are not messages or receipts: chat controls and contact changes. */
  private async applyOther (env: Envelope): Promise<void> {
    if (env.kind === 'request' || env.kind === 'accept' || env.kind === 'decline' || env.kind === 'close') {
      if (this.isDisabled(env.author)) return
      await this.people.applyControl(env)
    } else if (env.kind === 'contact') {
      await this.people.applyContact(env)
    }
    // profiles and member lists come from the rendezvous node, never through a chat
  }

  private remember (id: string): boolean {
    if (this.seen.has(id)) return false
    if (this.seen.size >= SEEN_IDS) {
      const oldest = this.seen.values().next().value
      if (oldest != null) this.seen.delete(oldest)
    }
    this.seen.add(id)
    return true
  }

  private receiveRoom (topic: string, data: Uint8Array): void {
    const room = [...this.subscribed].find(r => roomTopic(r) === topic)
    if (room == null) return
    let env = this.checkedRoom.get(data)
    if (env == null) {
      try {
        env = decodeFrame(data, envelopeSchema, MAX_ROOM_ENVELOPE_BYTES)
      } catch {
        return
      }
    }
    if ((env.kind !== 'text' && env.kind !== 'file' && env.kind !== 'sealed-room') || !this.remember(env.id)) return
    if (env.kind !== 'sealed-room') {
      void this.history.receive(env).catch(() => {})
      return
    }
    // a private room's message: opened with the room key (a device without it drops it)
    void this.roomList.open(room, env).then(async opened => { if (opened != null) await this.history.receive(opened) }).catch(() => {})
  }

  private async receiveDirect (env: Envelope, connection: Connection): Promise<unknown> {
    const me = this.requireLogin().user
    if (env.device !== connection.remotePeer.toString()) {
      throw new InvalidMessageError('message was not sent by the device that signed it')
    }
    await this.directChecks.check(env)
    if (!isForMe(env, me)) {
      throw new InvalidMessageError('message is not for this account')
    }
    if (this.isDisabled(env.author)) throw new AccountDisabledError(`account "${env.author}" is disabled`)
    // stored before the ack: an acknowledged message survives a crash of this device (its
    // events follow the ack)
    await this.history.receiveForAck(env)
    this.remember(env.id)
    return { ok: true, id: env.id }
  }

  /** Puts the device's addresses in the peer store and returns its peer id for dialing. */
  private async knowPeer (device: DeviceInfo): Promise<PeerId> {
    // the peer store is written only when the device's addresses changed, not on every message;
    // the peer id is parsed once too (22 µs a message back to back, ~60 µs after a pause, here)
    const key = device.addrs.join(' ')
    const known = this.knownAddrs.get(device.peer)
    if (known?.addrs === key) return known.peer
    const peer = known?.peer ?? peerIdFromString(device.peer)
    if (this.knownAddrs.size >= SEEN_IDS) this.knownAddrs.clear()
    this.knownAddrs.set(device.peer, { addrs: key, peer })
    const addrs: Multiaddr[] = []
    for (const a of device.addrs) {
      try { addrs.push(multiaddr(a)) } catch { /* a bad address from the directory is skipped */ }
    }
    if (addrs.length > 0) await this.libp2p.peerStore.merge(peer, { multiaddrs: addrs })
    return peer
  }

  private async deliver (device: DeviceInfo, env: Envelope, options: AbortOptions): Promise<void> {
    const peer = await this.knowPeer(device)
    // one long-lived stream per device carries every message and its ack (channel.ts)
    await this.dmChannels!.request(peer, env, options)
  }

  private async devicesOf (user: string, options: AbortOptions): Promise<DeviceInfo[]> {
    return (await this.userInfo(user, options)).devices
  }

  /** A user's directory entry: from the live session, else asked of the node, else the last known. */
  private async userInfo (user: string, options: AbortOptions): Promise<UserInfo> {
    if (this.session.live) {
      const info = this.session.get(user)
      if (info == null) throw new UnknownUserError(`no user named "${user}"`)
      return info
    }
    try {
      const [info] = (await this.askDirectory({ op: 'user', cert: this.requireLogin().cert, user }, options)).users
      if (info == null) throw new UnknownUserError(`no user named "${user}"`)
      this.session.set(info)
      return info
    } catch (err) {
      // the node is down: chat on with what the last session told us
      const known = this.session.get(user)
      if (known != null && (err as Error).name !== 'UnknownUserError') return known
      throw err
    }
  }

  /** Leaves sealed copies of `env` in the archives of `accounts`. */
  private async archivePut (env: Envelope, accounts: string[], options: AbortOptions & { linger?: boolean }): Promise<void> {
    await this.archive.put(env, accounts, options)
  }

  /**
   * A receipt: straight to the online devices of `to` and of this account, and sealed to both
   * accounts' archives so devices that are offline learn it later. A delivered receipt goes to
   * `to` only: it raises the status of `to`'s messages, and this account's devices do nothing
   * with their own (History.applyReceipt), so copies for them would be bytes for nothing — a new
   * device backfilling a young chat sends one per 256 messages.
   */
  private async sendReceipt (conv: string, body: ReceiptBody, to: string | null): Promise<void> {
    const login = this.requireLogin()
    const env = await signEnvelope(this.requireKey(), login.cert, { conv, kind: 'receipt', body })
    this.remember(env.id)
    const signal = AbortSignal.timeout(DEFAULT_SEND_TIMEOUT_MS)
    const peer = to === login.user ? null : to
    const mine = peer == null || body.status !== 'delivered'
    const targets = [...(peer == null ? [] : (this.session.get(peer)?.devices ?? [])), ...(mine ? (this.session.get(login.user)?.devices ?? []) : [])]
      .filter(d => d.peer !== this.peerId)
    await Promise.allSettled([
      this.archivePut(env, peer == null ? [login.user] : mine ? [peer, login.user] : [peer], { signal }),
      ...targets.map(async d => { await this.deliver(d, env, { signal }) })
    ])
  }

  /**
   * Sends `env` straight to the online devices of `to` (none for null) and of this account, and
   * leaves sealed copies for both accounts. The copy waits in the outbox until the node has it,
   * so it goes out even after a crash or while the node is down.
   */
  private async distribute (env: Envelope, to: string | null, options: AbortOptions): Promise<string[]> {
    const me = this.requireLogin().user
    const signal = options.signal ?? AbortSignal.timeout(DEFAULT_SEND_TIMEOUT_MS)
    const recipient = to ?? me
    this.remember(env.id)
    const queued = { id: env.id, queuedAt: Date.now(), to: recipient, envelope: env }
    await this.store!.putOutbox(queued)
    const archived = this.archivePut(env, recipient === me ? [me] : [recipient, me], { signal })
      .then(async () => { await this.store!.deleteOutbox(queued); return true }, () => false)
    const targets = [...(recipient === me ? [] : (this.session.get(recipient)?.devices ?? [])), ...(this.session.get(me)?.devices ?? [])]
      .filter(d => d.peer !== this.peerId)
    const delivered = await Promise.allSettled(targets.map(async d => { await this.deliver(d, env, { signal }); return d.peer }))
    const ok = delivered.flatMap(r => r.status === 'fulfilled' ? [r.value] : [])
    if (!await archived && ok.length === 0) {
      this.hub.emit({ type: 'error', error: { name: 'OfflineError', message: 'the rendezvous node is unreachable: the change is queued and goes out when it is back' } })
    }
    return ok
  }

  private async askPeople (req: PeopleRequest, options: AbortOptions): Promise<Extract<PeopleResponse, { ok: true }>> {
    let res: PeopleResponse
    try {
      res = await request(this.libp2p, this.serverPeer!, PEOPLE_PROTOCOL, req, peopleResponse, { ...options, maxFrameBytes: MAX_PEOPLE_FRAME_BYTES })
    } catch (err) {
      throw dialError(err, this.requireLogin().server)
    }
    if (!res.ok) throw fromWireError(res.error)
    return res
  }

  private async askDirectory (req: DirectoryRequest, options: AbortOptions): Promise<{ users: UserInfo[], more: boolean }> {
    try {
      const res = await request(this.libp2p, this.serverPeer!, DIRECTORY_PROTOCOL, req, directoryResponse, options)
      return res.ok ? { users: res.users, more: res.more === true } : { users: [], more: false }
    } catch (err) {
      throw dialError(err, this.requireLogin().server)
    }
  }
}

/** The rendezvous node's one-request protocols, for register / login / logout. */
export async function authRequest (node: MeshNode, server: Multiaddr, req: unknown, options: AbortOptions = {}): Promise<Extract<AuthResponse, { ok: true }>> {
  try {
    const res = await request(node, server, AUTH_PROTOCOL, req, authResponse, options)
    if (!res.ok) throw fromWireError(res.error)
    return res
  } catch (err) {
    throw dialError(err, server.toString())
  }
}

function checkText (text: string): string {
  const parsed = textSchema.safeParse(text)
  if (!parsed.success) {
    throw new InvalidInputError(parsed.error.issues[0]?.message === 'Too small: expected string to have >=1 characters' ? 'message is empty' : `message ${parsed.error.issues[0]?.message ?? 'is invalid'}`)
  }
  return text
}

async function waitFor (cond: () => boolean, signal: AbortSignal): Promise<void> {
  while (!cond()) {
    if (signal.aborted) return
    await sleep(25, signal)
  }
}
