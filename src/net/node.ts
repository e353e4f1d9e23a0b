/** Builds the libp2p node every meshchat process runs: tcp, noise, yamux, identify, ping, gossipsub. */
import { hash } from 'node:crypto'
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@libp2p/yamux'
import { YamuxStream, StreamState } from '@libp2p/yamux/stream'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { gossipsub } from '@libp2p/gossipsub'
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { dcutr } from '@libp2p/dcutr'
import { DEFAULT_PING_INTERVAL_MS, IDONTWANT_MIN_BYTES } from './constants.js'
import { NEED_MORE_BYTES } from './frames.js'
import { noiseCrypto } from './noise-crypto.js'
import type { CircuitRelayService } from '@libp2p/circuit-relay-v2'
import type { GossipSub } from '@libp2p/gossipsub'
import type { Identify } from '@libp2p/identify'
import type { Ping } from '@libp2p/ping'
import type { AbortOptions, ComponentLogger, Libp2p, Logger, Peer, PeerData, PeerId, PrivateKey } from '@libp2p/interface'

export interface GossipInit {
  /**
   * IP addresses whose peers are not penalised for sharing an address. Real deployments keep the
   * colocation penalty; tests and benchmarks on 127.0.0.1 list it here (STACK-FACTS.md).
   * @default []
   */
  ipColocationWhitelist?: string[]
  /** @default -5 (gossipsub's own default) */
  ipColocationFactorWeight?: number
  /**
   * The application's judgement of a peer (gossipsub P5, weighted by 10): rooms lower it for
   * devices that publish over their rate. @default () => 0
   */
  appSpecificScore?: (peer: string) => number
  /** Messages from this size on are announced with IDONTWANT to mesh peers. @default IDONTWANT_MIN_BYTES */
  idontwantMinBytes?: number
}

export interface NodeInit {
  privateKey: PrivateKey
  /** Multiaddrs to listen on. @default ['/ip4/0.0.0.0/tcp/0'] */
  listen?: string[]
  /** @default 300 */
  maxConnections?: number
  /** New inbound connections per second per remote host. libp2p's default of 5 is too low for a rendezvous node. @default 5 */
  inboundConnectionThreshold?: number
  /** @default 10 */
  maxIncomingPendingConnections?: number
  /** Open inbound connections allowed from one remote host (IP); unlimited when absent. */
  maxConnectionsPerHost?: number
  gossip?: GossipInit
  /** Be a circuit-relay (v2) server for devices behind NAT (the rendezvous node). */
  relayServer?: RelayServerInit
  /**
   * Reach and be reached through relays (circuit v2), and try to upgrade relayed connections to
   * direct ones by hole punching (DCUtR). Clients turn it on. @default false
   */
  relayClient?: boolean
  /**
   * How often libp2p's connection monitor pings every connection (a new stream each time) and
   * aborts one that does not answer. @default DEFAULT_PING_INTERVAL_MS (60 s; libp2p's own is 10 s)
   */
  pingIntervalMs?: number
}

export interface RelayServerInit {
  /** Devices holding a relay slot at once. */
  maxReservations: number
  /** How long a slot lasts before the device must renew it, ms. */
  reservationTtlMs: number
  /** Bytes one relayed connection may carry each way before it is closed. */
  dataLimitBytes: number
  /** How long one relayed connection may last, ms. */
  durationLimitMs: number
}

export interface MeshServices extends Record<string, unknown> {
  identify: Identify
  ping: Ping
  pubsub: GossipSub
  /** Present on a node started with relayServer. */
  relay?: CircuitRelayService
}

export type MeshNode = Libp2p<MeshServices>

/** The IP of a multiaddr (`/ip4/1.2.3.4/tcp/5/…` → `1.2.3.4`). */
export function hostOfMultiaddr (addr: { toString: () => string }): string {
  return addr.toString().split('/')[2] ?? ''
}

const silent = (): void => {}
const QUIET_LOG: Logger = Object.assign((): void => {}, { enabled: false, error: silent, trace: silent, newScope: (): Logger => QUIET_LOG })

/**
 * libp2p's loggers when DEBUG is not set: one shared logger that does nothing. libp2p asks for a
 * logger per connection, stream and scope, and its default builds three `debug` instances each
 * time (with their closures and properties) only to find them disabled; a node holding many
 * devices kept thousands of them. With DEBUG set, libp2p's own loggers print as usual.
 */
export function libp2pLogger (env: NodeJS.ProcessEnv = process.env): ComponentLogger | undefined {
  if (env.DEBUG != null && env.DEBUG !== '') return undefined
  return { forComponent: () => QUIET_LOG }
}

export async function createMeshNode (init: NodeInit): Promise<MeshNode> {
  const whitelist = new Set(init.gossip?.ipColocationWhitelist ?? [])
  // open inbound connections per remote host, for maxConnectionsPerHost
  const perHost = new Map<string, number>()
  const logger = libp2pLogger()
  const node = await createLibp2p({
    ...(logger == null ? {} : { logger }),
    ...(init.maxConnectionsPerHost == null
      ? {}
      : {
          connectionGater: {
            denyInboundConnection: (maConn: { remoteAddr: { toString: () => string } }) => (perHost.get(hostOfMultiaddr(maConn.remoteAddr)) ?? 0) >= init.maxConnectionsPerHost!
          }
        }),
    privateKey: init.privateKey,
    addresses: { listen: init.listen ?? ['/ip4/0.0.0.0/tcp/0'] },
    transports: init.relayClient === true ? [tcp(), circuitRelayTransport({ reservationCompletionTimeout: 10_000 })] : [tcp()],
    connectionEncrypters: [noiseOneWrite()],
    // yamux's own keep-alive pings every connection every 30 s and only logs a failure: the
    // connection monitor's pings (above) already find dead connections, so it is pure cost
    streamMuxers: [yamux({ enableKeepAlive: false })],
    connectionMonitor: { pingInterval: init.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS },
    connectionManager: {
      maxConnections: init.maxConnections ?? 300,
      inboundConnectionThreshold: init.inboundConnectionThreshold ?? 5,
      maxIncomingPendingConnections: init.maxIncomingPendingConnections ?? 10
    },
    services: {
      identify: identify(),
      // a relayed connection (circuit v2) is "limited": ping must still tell its round trip
      ping: ping({ runOnLimitedConnection: true }),
      ...(init.relayServer == null
        ? {}
        : {
            relay: circuitRelayServer({
              reservations: {
                maxReservations: init.relayServer.maxReservations,
                reservationTtl: init.relayServer.reservationTtlMs,
                defaultDataLimit: BigInt(init.relayServer.dataLimitBytes),
                defaultDurationLimit: init.relayServer.durationLimitMs,
                applyDefaultLimit: true
              }
            })
          }),
      ...(init.relayClient === true ? { dcutr: dcutr() } : {}),
      pubsub: gossipsub({
        allowPublishToZeroTopicPeers: true,
        emitSelf: false,
        fastMsgIdFn: fastMessageId,
        idontwantMinDataSize: init.gossip?.idontwantMinBytes ?? IDONTWANT_MIN_BYTES,
        scoreParams: {
          IPColocationFactorWeight: init.gossip?.ipColocationFactorWeight ?? -5,
          IPColocationFactorWhitelist: whitelist,
          ...(init.gossip?.appSpecificScore == null ? {} : { appSpecificScore: init.gossip.appSpecificScore })
        }
      })
    }
  })
  flattenGetConnections(node)
  skipKnownProtocolMerges(node)
  halfWindowUpdates()
  if (init.maxConnectionsPerHost != null) {
    node.addEventListener('connection:open', evt => {
      if (evt.detail.direction !== 'inbound') return
      const host = hostOfMultiaddr(evt.detail.remoteAddr)
      perHost.set(host, (perHost.get(host) ?? 0) + 1)
    })
    node.addEventListener('connection:close', evt => {
      if (evt.detail.direction !== 'inbound') return
      const host = hostOfMultiaddr(evt.detail.remoteAddr)
      const n = (perHost.get(host) ?? 1) - 1
      if (n <= 0) perHost.delete(host)
      else perHost.set(host, n)
    })
  }
  return node
}

/**
 * Gossipsub's local key for a message seen before: without one, every copy of a room message from
 * every mesh peer has its signature checked before it is known to be a copy (an Ed25519 check,
 * ~0.1 ms here, per copy). It is only looked up, and only kept once a message passed validation,
 * so a copy with the same author and sequence number but other data (a tampered one) gets a key of
 * its own and is checked and punished as before.
 */
export function fastMessageId (msg: { from?: Uint8Array, seqno?: Uint8Array, data?: Uint8Array }): string {
  const from = msg.from == null ? '' : Buffer.from(msg.from.buffer, msg.from.byteOffset, msg.from.byteLength).toString('base64')
  const seqno = msg.seqno == null ? '' : Buffer.from(msg.seqno.buffer, msg.seqno.byteOffset, msg.seqno.byteLength).toString('base64')
  return `${from}.${seqno}.${hash('sha1', msg.data ?? new Uint8Array(0), 'base64')}`
}

interface YamuxStreamInternals {
  state: StreamState
  recvWindow: number
  recvWindowCapacity: number
  sendWindowUpdate: () => void
  meshchatHalfWindow?: boolean
}

/**
 * @libp2p/yamux 8 sends a window update frame after every data frame it receives: one more frame
 * (noise-encrypted, a socket write) for every small message, on both ends of every stream
 * (STACK-FACTS-style measurement: 1.7 window updates per direct message at the sender). This
 * makes an established stream send one only once half of its receive window is used, as go- and
 * rust-yamux do; the sender always has at least half a window left, so nothing waits on it.
 * Opening, closing and paused streams keep the library's behaviour. Applied once per process to
 * the YamuxStream class of the known shape; returns true when it applied.
 */
export function halfWindowUpdates (stream: { prototype: unknown } = YamuxStream): boolean {
  const proto = stream.prototype as YamuxStreamInternals
  if (typeof proto.sendWindowUpdate !== 'function') return false
  if (proto.meshchatHalfWindow === true) return true
  const original = proto.sendWindowUpdate
  proto.sendWindowUpdate = function (this: YamuxStreamInternals) {
    if (this.state === StreamState.Established && typeof this.recvWindow === 'number' && this.recvWindowCapacity * 2 > this.recvWindow) return
    original.call(this)
  }
  proto.meshchatHalfWindow = true
  return true
}

interface EncryptedStreamInternals {
  encrypt: (chunk: unknown) => { bufs: Uint8Array[], byteLength: number, subarray: () => Uint8Array }
  meshchatOneWrite?: boolean
}

/**
 * @chainsafe/libp2p-noise 17 hands the transport each encrypted message as two buffers, its
 * 2-byte length and its ciphertext, and @libp2p/tcp 11 writes each buffer with its own
 * `socket.write`: two system calls and, with Nagle off, two TCP segments per message, the first
 * of them 2 bytes long (the receiver wakes for it and can do nothing with it). Measured on a
 * direct message under load: 2.6 socket writes per message at the sender, half of them 2-byte.
 * This makes the encrypter's connections hand over one buffer (length and ciphertext together)
 * for messages up to JOIN_MAX_BYTES, as noise did before (ChainSafe/js-libp2p-noise#387). The
 * wire bytes are the same.
 */
function noiseOneWrite (): ReturnType<typeof noise> {
  const make = noise({ crypto: noiseCrypto })
  return components => {
    const encrypter = make(components)
    const joined = <A extends unknown[], T extends { connection: unknown }>(secure: (...args: A) => Promise<T>) => async (...args: A): Promise<T> => {
      const secured = await secure(...args)
      joinNoiseWrites(secured.connection)
      quietNoiseLengths(secured.connection)
      corkTransportWrites((secured.connection as { stream?: unknown }).stream)
      return secured
    }
    encrypter.secureOutbound = joined(encrypter.secureOutbound.bind(encrypter))
    encrypter.secureInbound = joined(encrypter.secureInbound.bind(encrypter))
    return encrypter
  }
}

/**
 * Joined only up to this size: a bulk transfer's 64 KiB messages gain nothing from it (one
 * 2-byte write per 64 KiB), and copying them cost half of libp2p's bulk throughput here (400 →
 * 100–210 MiB/s on the floor bench).
 */
const JOIN_MAX_BYTES = 16 * 1024

/**
 * Applied once per process to the class of the connections noise returns, when it has the known
 * shape (an `encrypt` that returns a Uint8ArrayList); returns true when it applied.
 */
export function joinNoiseWrites (connection: unknown): boolean {
  const proto = (connection == null ? undefined : Object.getPrototypeOf(connection)) as EncryptedStreamInternals | undefined
  if (proto == null || typeof proto.encrypt !== 'function') return false
  if (proto.meshchatOneWrite === true) return true
  const original = proto.encrypt
  proto.encrypt = function (this: EncryptedStreamInternals, chunk: unknown) {
    const out = original.call(this, chunk)
    if (!Array.isArray(out?.bufs) || out.bufs.length < 2 || out.byteLength > JOIN_MAX_BYTES) return out
    // the same list type, holding one buffer: [length, ciphertext, length, ciphertext …] joined
    const List = out.constructor as new (buf: Uint8Array) => typeof out
    return new List(out.subarray())
  }
  proto.meshchatOneWrite = true
  return true
}

/**
 * Noise's 2-byte big-endian message length. Its decoder (@libp2p/utils LengthPrefixedDecoder)
 * asks for the next length after the last whole message of every chunk it reads, and
 * @chainsafe/libp2p-noise 17's `uint16BEDecode` answers "not there yet" with a new RangeError: a
 * stack trace built and thrown away (5–10 µs here) for every socket read on every connection,
 * 9% of the CPU of two nodes opening streams one after another. This one throws one shared
 * RangeError, which the decoder takes the same way.
 */
export function noiseLength (data: { byteLength: number, get: (i: number) => number } | Uint8Array): number {
  if (data.byteLength < 2) throw NEED_MORE_BYTES
  return data instanceof Uint8Array ? (data[0]! << 8) | data[1]! : (data.get(0) << 8) | data.get(1)
}

/**
 * Gives a noise connection's decoder `noiseLength` when it has the known shape (a
 * `decoder.lengthDecoder` function); returns true when it applied.
 */
export function quietNoiseLengths (connection: unknown): boolean {
  const decoder = (connection as { decoder?: { lengthDecoder?: unknown } } | undefined)?.decoder
  if (typeof decoder?.lengthDecoder !== 'function') return false
  decoder.lengthDecoder = noiseLength
  return true
}

interface TransportInternals {
  sendData: (data: Iterable<Uint8Array> & { bufs?: unknown[], byteLength?: number }) => { sentBytes: number, canSendMore: boolean }
  socket?: { cork?: () => void, uncork?: () => void, write?: (buf: Uint8Array) => boolean, writableLength?: number, writableHighWaterMark?: number }
  meshchatCorked?: boolean
}

/**
 * Under load noise's own send queue fills, and the next encryption takes many muxer frames at
 * once: its ciphertext comes out as one buffer per frame piece (header, data, tag), and
 * @libp2p/tcp 11 writes each with its own `socket.write`, one system call each. A direct message
 * pipeline (64 in flight) made ~3 socket writes per message at the sender, most of them 2, 12,
 * 16 or ~645 bytes. This writes the buffers of one send to a corked socket, so Node hands them to
 * the kernel together (one writev) without copying them. All of them are written, as the kernel
 * would have taken them one by one; the transport asks for no more until the socket drains, as
 * before. Applied once per process to the class of the transport connection under noise (TCP; a
 * relayed connection has no socket and is left alone); returns true when it applied.
 */
export function corkTransportWrites (connection: unknown): boolean {
  const proto = (connection == null ? undefined : Object.getPrototypeOf(connection)) as TransportInternals | undefined
  if (proto == null || typeof proto.sendData !== 'function') return false
  if (proto.meshchatCorked === true) return true
  const original = proto.sendData
  proto.sendData = function (this: TransportInternals, data) {
    const socket = this.socket
    if (!Array.isArray(data?.bufs) || data.bufs.length < 2 || typeof socket?.cork !== 'function' || typeof socket.uncork !== 'function' ||
      typeof socket.write !== 'function' || typeof socket.writableLength !== 'number' || typeof socket.writableHighWaterMark !== 'number') return original.call(this, data)
    let sentBytes = 0
    socket.cork()
    try {
      for (const buf of data) {
        socket.write(buf)
        sentBytes += buf.byteLength
      }
    } finally {
      socket.uncork()
    }
    return { sentBytes, canSendMore: socket.writableLength < socket.writableHighWaterMark }
  }
  proto.meshchatCorked = true
  return true
}

interface ConnectionManagerInternals {
  /** A PeerMap (peer id → that peer's connections). */
  connections?: { values: () => Iterable<unknown[]> }
  getConnections: (peerId?: unknown) => unknown[]
  meshchatFlat?: boolean
}

/**
 * libp2p 3.3's `ConnectionManager.getConnections()` (no peer) builds its answer with `concat` in a
 * loop over peers: O(n²) in connections, and it runs on every inbound connection (STACK-FACTS.md:
 * 21% of a rendezvous node's CPU between 2,000 and 3,800 devices). This replaces it on this node
 * with the same answer built in one pass. It only touches a connection manager of the known shape
 * (a `connections` PeerMap of arrays); anything else is left alone. Returns true when it applied.
 */
export function flattenGetConnections (node: unknown): boolean {
  const cm = (node as { components?: { connectionManager?: ConnectionManagerInternals } }).components?.connectionManager
  if (cm?.connections == null || typeof cm.connections.values !== 'function' || typeof cm.getConnections !== 'function') return false
  if (cm.meshchatFlat === true) return true
  const original = cm.getConnections.bind(cm)
  const connections = cm.connections
  cm.getConnections = (peerId?: unknown) => {
    if (peerId != null) return original(peerId)
    const out: unknown[] = []
    for (const list of connections.values()) {
      for (const c of list) out.push(c)
    }
    return out
  }
  cm.meshchatFlat = true
  return true
}

interface PeerStoreInternals {
  merge: (id: PeerId, data: PeerData, options?: AbortOptions) => Promise<Peer>
  meshchatKnownProtocols?: boolean
}

/**
 * How long a peer's protocols are answered from memory before a stream's merge goes to the peer
 * store again. Each merge there refreshes the record's age, and libp2p drops a record 6 hours
 * after its last write (when no address of it was seen for an hour).
 */
export const KNOWN_PROTOCOLS_MS = 10 * 60_000

/**
 * libp2p 3 merges the negotiated protocol into the peer store on every stream it opens or
 * accepts (`Connection.newStream`, `onIncomingStream`), under the peer's write lock: the record is
 * read, decoded (every address parsed), merged, encoded and written back, even when it already
 * lists that protocol, as it does for every stream after the first. Every ping and every request
 * on a new stream paid it at both ends: two nodes opening streams one after another spent 1.2 ms
 * of CPU per stream (both ends) with it and 0.69 ms without.
 *
 * This answers such a merge (protocols only, of another peer) from memory when the peer's
 * protocols, as the peer store last announced them (`peer:update`, sent after every change),
 * include every protocol in it; any other merge goes to the peer store as before. Only the
 * protocols are kept, and peers with the same list share one set: a whole `Peer` record held per
 * device would cost the rendezvous node ~13 KiB each. So the answer of a merge taken here carries
 * the peer's id and protocols only (libp2p's callers of these merges do not read it). Only
 * connected peers are kept, each dropped when it disconnects and trusted for KNOWN_PROTOCOLS_MS
 * at most. Returns true when it applied.
 */
export function skipKnownProtocolMerges (node: Pick<Libp2p, 'peerId' | 'peerStore' | 'addEventListener' | 'getConnections'>, now: () => number = Date.now): boolean {
  const store = node.peerStore as unknown as PeerStoreInternals
  if (typeof store?.merge !== 'function') return false
  if (store.meshchatKnownProtocols === true) return true
  const known = new Map<string, { protocols: ReadonlySet<string>, until: number }>()
  // protocol lists shared by peers that announce the same ones (most devices run the same code)
  const lists = new Map<string, ReadonlySet<string>>()
  const shared = (protocols: string[]): ReadonlySet<string> => {
    const key = [...protocols].sort().join('\n')
    let set = lists.get(key)
    if (set == null) {
      set = new Set(protocols)
      if (lists.size < MAX_SHARED_PROTOCOL_LISTS) lists.set(key, set)
    }
    return set
  }
  node.addEventListener('peer:update', evt => {
    const { peer } = evt.detail
    // kept for connected peers only (the peer store also hears of peers it never connects to)
    if (node.getConnections(peer.id).length === 0) {
      known.delete(peer.id.toString())
      return
    }
    known.set(peer.id.toString(), { protocols: shared(peer.protocols), until: now() + KNOWN_PROTOCOLS_MS })
  })
  node.addEventListener('peer:disconnect', evt => { known.delete(evt.detail.toString()) })
  const original = store.merge.bind(store)
  store.merge = async (id, data, options) => {
    const keys = Object.keys(data)
    if (keys.length === 1 && keys[0] === 'protocols' && Array.isArray(data.protocols) && !id.equals(node.peerId)) {
      const entry = known.get(id.toString())
      if (entry != null && entry.until > now() && data.protocols.every(p => entry.protocols.has(p))) {
        return { id, addresses: [], protocols: [...entry.protocols], metadata: new Map(), tags: new Map() }
      }
    }
    return await original(id, data, options)
  }
  store.meshchatKnownProtocols = true
  return true
}

/** Distinct protocol lists shared between peers at most; past it, each peer keeps its own. */
const MAX_SHARED_PROTOCOL_LISTS = 64

/** True when the connection goes through a relay (circuit v2) rather than straight to the peer. */
export function isRelayed (remoteAddr: { toString: () => string }): boolean {
  return remoteAddr.toString().includes('/p2p-circuit')
}
