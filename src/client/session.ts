/**
 * A device's session with the rendezvous node (DESIGN.md "Presence and events"): one long-lived
 * stream, opened with the device's certificate and answered with a welcome (a renewed
 * certificate and the directory of users), then presence events, mail notices and heartbeats
 * until it breaks; reconnected with backoff until the client stops. It keeps the live directory
 * (who is online, on which devices), a few connections to other online devices so rooms do not
 * hang on the node, and tells the node and the UI when this device's addresses or relay slot
 * change.
 */
import {
  SESSION_PROTOCOL, sessionServerFrame, encodeFrame, fromWireError, InvalidMessageError, InvalidCertificateError
} from '../protocol/index.js'
import { frameStream, readFrame, silenceTimer, writeFrame, isRelayed } from '../net/index.js'
import { readDirectoryPages } from './directory-pages.js'
import { dialError } from './server-address.js'
import { sleep } from './wait.js'
import { DEFAULT_RECONNECT_MIN_MS, DEFAULT_RECONNECT_MAX_MS, DEFAULT_PEER_DIALS, RELAY_GRACE_MS, MAIL_FETCH_DELAY_MS } from './constants.js'
import type { ClientEvent, ConnectionState } from './events.js'
import type { MeshchatError } from '../protocol/index.js'
import type { SavedLogin } from './home.js'
import type { Certificate, DeviceInfo, DirectoryVersion, PresenceEvent, UserInfo } from '../protocol/index.js'
import type { MeshNode, FrameStream, SilenceTimer } from '../net/index.js'
import type { PeerId, Stream } from '@libp2p/interface'

/** Errors after which reconnecting cannot help: the session loop stops and says why. */
const FATAL_SESSION_ERRORS = ['InvalidCertificateError', 'AccountDisabledError', 'UnknownUserError', 'ServerKeyChangedError']

export interface SessionInit {
  /** Other online devices to keep connections to. @default DEFAULT_PEER_DIALS */
  peerDials?: number
  /** @default DEFAULT_RECONNECT_MIN_MS */
  reconnectMinMs?: number
  /** @default DEFAULT_RECONNECT_MAX_MS */
  reconnectMaxMs?: number
  /** This device asked the node for a relay slot (and says so when it gets none). */
  relayed: () => boolean
}

export interface SessionDeps {
  node: () => MeshNode
  serverPeer: () => PeerId
  login: () => SavedLogin
  /** Keeps the certificate the node renewed in the welcome. */
  saveCertificate: (cert: Certificate) => Promise<void>
  state: () => ConnectionState
  setState: (state: ConnectionState, reason?: string) => void
  emit: (ev: ClientEvent) => void
  /** Aborted when the client stops. */
  stopSignal: AbortSignal
  /** Puts a device's addresses in the peer store; its peer id to dial. */
  knowPeer: (device: DeviceInfo) => Promise<PeerId>
  /** A profile changed: the signed envelope, for people.ts to check and keep. */
  profile: (raw: unknown) => void
  /** A room this account is in changed, as the node describes it (rooms.ts checks it). */
  room: (raw: unknown) => void
  /** Welcomed: catch up with what happened meanwhile. */
  welcomed: () => void
  /** The account's archive has new items: fetch them (called at most once per MAIL_FETCH_DELAY_MS). */
  mail: () => void
}

interface LiveSession {
  stream: Stream
  lp: FrameStream
}

export class Session {
  /** Every user the node told about, with presence; current while `live`. */
  private readonly users = new Map<string, UserInfo>()
  /** The version of the directory in `users`, from the last welcome: the next hello's `since`. */
  private dir: DirectoryVersion | undefined
  private directoryLive = false
  private stream?: LiveSession
  private hasRelayAddress = false
  private relayWatch?: NodeJS.Timeout
  private mailTimer?: NodeJS.Timeout

  constructor (private readonly deps: SessionDeps, private readonly init: SessionInit) {}

  /** True while a session is up and the directory is the node's current one. */
  get live (): boolean {
    return this.directoryLive
  }

  /** A user's entry as last known (live, or from an earlier session or lookup). */
  get (user: string): UserInfo | undefined {
    return this.users.get(user)
  }

  /** Remembers a user's entry asked of the node outside the session. */
  set (info: UserInfo): void {
    this.users.set(info.user, info)
  }

  /** Every user as last known. */
  all (): UserInfo[] {
    return [...this.users.values()]
  }

  /**
   * Runs sessions with the rendezvous node, reconnecting with backoff until stopped. `first`
   * settles at the first welcome, at a passing failure (the device works on offline and keeps
   * trying), or rejects at a fatal one.
   */
  async run (first: PromiseWithResolvers<void>): Promise<void> {
    const min = this.init.reconnectMinMs ?? DEFAULT_RECONNECT_MIN_MS
    const max = this.init.reconnectMaxMs ?? DEFAULT_RECONNECT_MAX_MS
    const server = (): string => this.deps.login().server
    const stopped = (): boolean => this.deps.stopSignal.aborted
    let delay = min
    let settled = false
    while (!stopped()) {
      const state = this.deps.state()
      this.deps.setState(state === 'offline' || state === 'connecting' ? 'connecting' : 'reconnecting')
      try {
        await this.runOnce(() => {
          delay = min
          if (!settled) { settled = true; first.resolve() }
        })
      } catch (err) {
        if (stopped()) break
        const fatal = FATAL_SESSION_ERRORS.includes((err as Error).name) || dialError(err, server()).name === 'ServerKeyChangedError'
        if (fatal) {
          const e = err as MeshchatError
          this.deps.emit({ type: 'error', error: { name: e.name, message: e.message } })
          this.deps.setState('offline', e.message)
          if (!settled) { settled = true; first.reject(dialError(err, server())) }
          return
        }
        // a passing failure (the node is down or unreachable): this device works on with its own
        // history and the peers it knows, and keeps trying in the background
        const reason = dialError(err, server()).message
        if (!settled) { settled = true; first.resolve() }
        this.directoryLive = false
        this.deps.setState('reconnecting', reason)
      }
      if (stopped()) break
      this.directoryLive = false
      this.deps.setState('reconnecting')
      await sleep(delay + Math.random() * delay * 0.2, this.deps.stopSignal)
      delay = Math.min(max, delay * 2)
    }
  }

  /** Ends the session now (the client is stopping) and its timers. */
  stop (): void {
    clearTimeout(this.relayWatch)
    clearTimeout(this.mailTimer)
    this.stream?.stream.abort(new Error('client stopping'))
  }

  /** The device learned or lost an address (a relay slot, say): tell the node and the UI. */
  addressesChanged (): void {
    if (this.deps.stopSignal.aborted) return
    const addrs = this.myAddrs()
    const relayedNow = addrs.some(a => isRelayed(a))
    if (relayedNow !== this.hasRelayAddress) {
      this.hasRelayAddress = relayedNow
      this.deps.emit({ type: 'relay', reserved: relayedNow, ...(relayedNow ? {} : { reason: 'the relay slot on the rendezvous node is gone; renewing' }) })
    }
    if (this.stream != null) void this.stream.lp.write(encodeFrame({ t: 'addrs', addrs })).catch(() => {})
  }

  private async runOnce (onWelcome: () => void): Promise<void> {
    const signal = AbortSignal.any([AbortSignal.timeout(10_000), this.deps.stopSignal])
    const stream = await this.deps.node().dialProtocol(this.deps.serverPeer(), SESSION_PROTOCOL, { signal })
    const lp = frameStream(stream)
    this.stream = { stream, lp }
    let beat: NodeJS.Timeout | undefined
    let silence: SilenceTimer | undefined
    try {
      await writeFrame(lp, { t: 'hello', cert: this.deps.login().cert, addrs: this.myAddrs(), ...(this.dir == null ? {} : { since: this.dir }) }, { signal })
      const welcome = await readFrame(lp, sessionServerFrame, { signal })
      if (welcome.t === 'error') throw fromWireError(welcome.error)
      if (welcome.t !== 'welcome') throw new InvalidMessageError('session did not start with welcome')
      await this.renewCertificate(welcome.cert)
      const users = await readDirectoryPages(welcome, async () => await readFrame(lp, sessionServerFrame, { signal }))
      // the changes since the version this device holds (the events of its last session applied),
      // or the whole directory
      const delta = welcome.delta === true && this.dir != null && welcome.dir?.epoch === this.dir.epoch
      if (!delta) this.users.clear()
      for (const u of users) this.users.set(u.user, u)
      this.dir = welcome.dir
      this.directoryLive = true
      this.deps.setState('connected')
      this.watchRelaySlot()
      onWelcome()
      this.dialPeers()
      this.deps.welcomed()
      let n = 0
      const hb = welcome.heartbeatMs
      beat = setInterval(() => {
        lp.write(encodeFrame({ t: 'ping', n: n++ })).catch(() => {})
      }, hb)
      // the node pongs every beat: three beats without a frame and it is gone
      silence = silenceTimer(hb * 3)
      const readSignal = AbortSignal.any([silence.signal, this.deps.stopSignal])
      for (;;) {
        const frame = await readFrame(lp, sessionServerFrame, { signal: readSignal })
        silence.refresh()
        if (frame.t === 'event') {
          this.apply(frame.ev)
          // the events so far bring the directory up to this version: a reconnect asks for the changes after it
          if (frame.v != null && this.dir != null) this.dir = { epoch: this.dir.epoch, v: frame.v }
        }
        else if (frame.t === 'mail') this.mailArrived()
        else if (frame.t === 'error') throw fromWireError(frame.error)
      }
    } finally {
      clearInterval(beat)
      silence?.clear()
      this.directoryLive = false
      stream.abort(new Error('session ended'))
      this.stream = undefined
    }
  }

  private async renewCertificate (cert: Certificate): Promise<void> {
    const login = this.deps.login()
    if (cert.user !== login.user || cert.device !== this.deps.node().peerId.toString()) {
      throw new InvalidCertificateError('the rendezvous node sent a certificate for someone else')
    }
    await this.deps.saveCertificate(cert)
  }

  /** One event of the session: presence, a new account, a disabled one, a profile or a room. */
  private apply (ev: PresenceEvent): void {
    if (ev.type === 'profile') {
      this.deps.profile(ev.profile)
      return
    }
    if (ev.type === 'room') {
      this.deps.room(ev.room)
      return
    }
    if (ev.type === 'disabled') {
      const before = this.users.get(ev.user)
      if (before != null) this.users.set(ev.user, { ...before, disabled: ev.disabled, ...(ev.disabled ? { online: false, devices: [] } : {}) })
      this.deps.emit({ type: 'disabled', user: ev.user, disabled: ev.disabled })
      return
    }
    if (ev.type === 'registered') {
      const known = this.users.get(ev.user)
      if (known == null) {
        this.users.set(ev.user, { user: ev.user, online: false, lastSeen: null, createdAt: ev.at, devices: [], accountKey: ev.accountKey ?? null })
        this.deps.emit({ type: 'registered', user: ev.user, at: ev.at })
      } else if (ev.accountKey != null && ev.accountKey !== known.accountKey) {
        // an account added by the operator got its key at its first login, or a reset made a new one
        this.users.set(ev.user, { ...known, accountKey: ev.accountKey })
      }
      return
    }
    const before = this.users.get(ev.user)
    const after: UserInfo = { user: ev.user, online: ev.online, lastSeen: ev.lastSeen ?? before?.lastSeen ?? null, createdAt: before?.createdAt ?? ev.at, devices: ev.devices, accountKey: before?.accountKey ?? null, ...(before?.disabled === true ? { disabled: true } : {}) }
    this.users.set(ev.user, after)
    if (before?.online !== after.online) {
      this.deps.emit({ type: 'presence', user: ev.user, online: ev.online, lastSeen: after.lastSeen, at: ev.at })
    }
    this.dialPeers()
  }

  /** Keeps connections to a few other online devices so rooms do not hang on the rendezvous node. */
  private dialPeers (): void {
    if (this.deps.stopSignal.aborted) return
    const node = this.deps.node()
    const me = node.peerId.toString()
    const server = this.deps.serverPeer().toString()
    const want = this.init.peerDials ?? DEFAULT_PEER_DIALS
    const connected = new Set(node.getConnections().map(c => c.remotePeer.toString()))
    let count = [...connected].filter(p => p !== server).length
    for (const info of this.users.values()) {
      for (const d of info.devices) {
        if (count >= want) return
        if (d.peer === me || connected.has(d.peer)) continue
        count++
        void this.deps.knowPeer(d).then(async peer => await node.dial(peer, { signal: AbortSignal.timeout(10_000) })).catch(() => {})
      }
    }
  }

  private myAddrs (): string[] {
    // direct addresses first, the relayed one last (peers try them in that order)
    // loopback addresses mean something to peers only when everyone is on this machine
    const loopbackServer = /^\/(ip4\/127\.|ip6\/::1\/)/.test(this.deps.login().server)
    const all = this.deps.node().getMultiaddrs().map(a => a.toString()).filter(a => loopbackServer || !/^\/(ip4\/127\.|ip6\/::1\/)/.test(a))
    return [...all.filter(a => !isRelayed(a)), ...all.filter(a => isRelayed(a))].slice(0, 16)
  }

  /**
   * New items wait in the archive. Most are copies of what came straight from a peer a moment
   * ago, so notices arriving close together are answered with one fetch, a little later.
   */
  private mailArrived (): void {
    if (this.mailTimer != null || this.deps.stopSignal.aborted) return
    this.mailTimer = setTimeout(() => {
      this.mailTimer = undefined
      this.deps.mail()
    }, MAIL_FETCH_DELAY_MS)
  }

  /**
   * A device that wants a relay slot and has none a while after connecting says why: peers then
   * reach it only through the copies the rendezvous node keeps (relay full, or refused).
   */
  private watchRelaySlot (): void {
    if (!this.init.relayed() || this.relayWatch != null) return
    this.relayWatch = setTimeout(() => {
      this.relayWatch = undefined
      if (this.deps.stopSignal.aborted || this.hasRelayAddress) return
      this.deps.emit({ type: 'relay', reserved: false, reason: 'the rendezvous node gave this device no relay slot (it may be full): peers cannot reach it directly, messages to it go through the node\'s stored copies' })
    }, RELAY_GRACE_MS)
    this.relayWatch.unref()
  }
}

