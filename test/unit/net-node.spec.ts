import assert from 'node:assert/strict'
import { Socket } from 'node:net'
import { randomBytes } from 'node:crypto'
import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { StreamState, YamuxStream } from '@libp2p/yamux/stream'
import { byteStream } from '@libp2p/utils'
import { IDONTWANT_MIN_BYTES, KNOWN_PROTOCOLS_MS, corkTransportWrites, createMeshNode, fastMessageId, flattenGetConnections, frameStream, halfWindowUpdates, joinNoiseWrites, libp2pLogger, noiseCrypto, noiseLength, quietNoiseLengths, skipKnownProtocolMerges } from '../../src/net/index.js'
import { LOOPBACK_GOSSIP, eventually } from '../../src/testing/index.js'
import { usingSodium } from '../../src/sodium.js'
import type { GossipInit, MeshNode } from '../../src/net/index.js'

/** Echoes every frame on '/test/echo/1' (frames up to `maxBytes`). */
async function serveEcho (node: Awaited<ReturnType<typeof createMeshNode>>, maxBytes?: number): Promise<void> {
  await node.handle('/test/echo/1', async stream => {
    const lp = frameStream(stream, maxBytes)
    for (;;) {
      const frame = await lp.read().catch(() => undefined)
      if (frame == null) break
      await lp.write(frame.subarray())
    }
    await stream.close().catch(() => {})
  })
}

describe('mesh node: connection manager fix', function () {
  this.timeout(30_000)

  it('answers getConnections() the same in one pass, for all peers and for one, as connections come and go', async () => {
    const nodes = await Promise.all([0, 1, 2, 3].map(async () => await createMeshNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'] })))
    const [hub, ...others] = nodes
    try {
      // applied at creation, and applying it again is harmless
      assert.equal(flattenGetConnections(hub), true)
      assert.equal(flattenGetConnections({}), false)
      for (const o of others) await o.dial(hub!.getMultiaddrs()[0]!)
      await others[0]!.dial(hub!.getMultiaddrs()[0]!, { force: true })
      const all = hub!.getConnections()
      const perPeer = others.flatMap(o => hub!.getConnections(o.peerId))
      assert.equal(all.length, perPeer.length)
      assert.ok(all.length >= 3)
      assert.deepEqual(new Set(all), new Set(perPeer))
      await others[1]!.stop()
      await eventually(() => hub!.getConnections(others[1]!.peerId).length === 0, 5_000, 'the stopped peer\'s connections to close')
      assert.ok(hub!.getConnections().every(c => !c.remotePeer.equals(others[1]!.peerId)))
    } finally {
      await Promise.all(nodes.map(async n => { await n.stop() }))
    }
  })
})

describe('mesh node: peer-store merges of known protocols', function () {
  this.timeout(30_000)

  /** A node shape with a peer store that counts the merges reaching it. */
  function fakeNode (self: string): { node: Parameters<typeof skipKnownProtocolMerges>[0], merges: unknown[], events: EventTarget, connected: Set<string> } {
    const merges: unknown[] = []
    const events = new EventTarget()
    const connected = new Set<string>()
    const id = (s: string): { toString: () => string, equals: (o: { toString: () => string }) => boolean } => ({ toString: () => s, equals: o => o.toString() === s })
    const node = {
      peerId: id(self),
      peerStore: { merge: async (peer: unknown, data: unknown) => { merges.push(data); return { id: peer, protocols: [] } } },
      addEventListener: (type: string, fn: (evt: CustomEvent) => void) => { events.addEventListener(type, fn as EventListener) },
      getConnections: (peer?: { toString: () => string }) => peer != null && connected.has(peer.toString()) ? [{}] : []
    } as unknown as Parameters<typeof skipKnownProtocolMerges>[0]
    return { node, merges, events, connected }
  }
  const peer = (s: string, protocols: string[]): unknown => ({ id: { toString: () => s, equals: (o: { toString: () => string }) => o.toString() === s }, protocols })

  it('answers a merge of protocols the peer is known to have from memory, and passes every other merge on', async () => {
    let clock = 1_000
    const { node, merges, events, connected } = fakeNode('me')
    assert.equal(skipKnownProtocolMerges(node, () => clock), true)
    assert.equal(skipKnownProtocolMerges(node, () => clock), true, 'applying it again is harmless')
    assert.equal(skipKnownProtocolMerges({ peerStore: {} } as unknown as Parameters<typeof skipKnownProtocolMerges>[0]), false, 'another shape is left alone')
    const store = node.peerStore
    const bob = (peer('bob', []) as { id: Parameters<typeof store.merge>[0] }).id
    const me = (peer('me', []) as { id: Parameters<typeof store.merge>[0] }).id

    // nothing known yet: to the peer store
    await store.merge(bob, { protocols: ['/a/1'] })
    assert.equal(merges.length, 1)
    // the peer store announces bob's record while he is connected
    connected.add('bob')
    const record = peer('bob', ['/a/1', '/b/1'])
    events.dispatchEvent(new CustomEvent('peer:update', { detail: { peer: record } }))
    const answer = await store.merge(bob, { protocols: ['/a/1'] })
    assert.equal(answer.id, bob, 'answered with the peer\'s id')
    assert.deepEqual([...answer.protocols].sort(), ['/a/1', '/b/1'], 'and its protocols as announced')
    await store.merge(bob, { protocols: ['/a/1', '/b/1'] })
    assert.equal(merges.length, 1, 'known protocols stay in memory')
    await store.merge(bob, { protocols: ['/a/1', '/c/1'] })
    await store.merge(bob, { protocols: ['/a/1'], multiaddrs: [] } as Parameters<typeof store.merge>[1])
    await store.merge(bob, { tags: { x: { value: 1 } } })
    await store.merge(me, { protocols: ['/a/1'] })
    assert.equal(merges.length, 5, 'a new protocol, other fields and this node\'s own record go to the peer store')

    // trusted for a while only
    clock += KNOWN_PROTOCOLS_MS
    await store.merge(bob, { protocols: ['/a/1'] })
    assert.equal(merges.length, 6, 'after KNOWN_PROTOCOLS_MS a merge refreshes the record')
    clock -= KNOWN_PROTOCOLS_MS

    // forgotten when bob disconnects, and not kept for a peer that is not connected
    events.dispatchEvent(new CustomEvent('peer:disconnect', { detail: bob }))
    await store.merge(bob, { protocols: ['/a/1'] })
    assert.equal(merges.length, 7)
    connected.delete('bob')
    events.dispatchEvent(new CustomEvent('peer:update', { detail: { peer: record } }))
    await store.merge(bob, { protocols: ['/a/1'] })
    assert.equal(merges.length, 8)
  })

  it('stops writing the peer store for every stream between two real nodes, which still list the protocol', async () => {
    const [a, b] = await Promise.all([0, 1].map(async () => await createMeshNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'] })))
    try {
      await serveEcho(b!)
      await a!.dial(b!.getMultiaddrs()[0]!)
      const puts = { a: 0, b: 0 }
      for (const [name, node] of [['a', a], ['b', b]] as const) {
        const datastore = (node as unknown as { components: { datastore: { put: (...args: unknown[]) => unknown } } }).components.datastore
        const put = datastore.put.bind(datastore)
        datastore.put = (...args: unknown[]) => { puts[name]++; return put(...args) }
      }
      const echo = async (): Promise<void> => {
        const stream = await a!.dialProtocol(b!.peerId, '/test/echo/1')
        const lp = frameStream(stream)
        await lp.write(Uint8Array.from([1, 2, 3]))
        assert.deepEqual([...(await lp.read()).subarray()], [1, 2, 3])
        await stream.close()
      }
      await echo()
      // identify has run at both ends (it replaces the peer's protocol list with what the peer
      // announced), then one more stream records the echo protocol at b
      await eventually(async () => (await a!.peerStore.get(b!.peerId)).protocols.includes('/test/echo/1'), 5_000, 'b\'s protocols at a')
      await eventually(async () => (await b!.peerStore.get(a!.peerId)).protocols.includes('/ipfs/ping/1.0.0'), 5_000, 'a\'s protocols at b')
      await echo()
      assert.ok((await b!.peerStore.get(a!.peerId)).protocols.includes('/test/echo/1'), 'the echo stream is recorded at b')
      const before = { ...puts }
      for (let i = 0; i < 20; i++) await echo()
      // without the fix, each of the 20 streams is one write at each end
      assert.ok(puts.a - before.a < 5, `${puts.a - before.a} peer-store writes at the opening end`)
      assert.ok(puts.b - before.b < 5, `${puts.b - before.b} peer-store writes at the answering end`)
      assert.ok((await a!.peerStore.get(b!.peerId)).protocols.includes('/test/echo/1'))
    } finally {
      await Promise.all([a, b].map(async n => { await n!.stop() }))
    }
  })
})

describe('mesh node: gossipsub fast message id', function () {
  const bytes = (...b: number[]): Uint8Array => Uint8Array.from(b)

  it('is the same for copies of one message, and differs with its author, sequence number or data', function () {
    const msg = { from: bytes(1, 2, 3), seqno: bytes(0, 0, 7), data: bytes(9, 9) }
    const id = fastMessageId(msg)
    assert.equal(fastMessageId({ ...msg, from: bytes(1, 2, 3) }), id, 'a copy')
    assert.notEqual(fastMessageId({ ...msg, from: bytes(1, 2, 4) }), id, 'another author')
    assert.notEqual(fastMessageId({ ...msg, seqno: bytes(0, 0, 8) }), id, 'another sequence number')
    assert.notEqual(fastMessageId({ ...msg, data: bytes(9, 8) }), id, 'a tampered copy is checked on its own')
    // a view into a larger buffer reads only its own bytes
    const big = bytes(5, 1, 2, 3, 5)
    assert.equal(fastMessageId({ ...msg, from: big.subarray(1, 4) }), id)
    assert.equal(typeof fastMessageId({}), 'string', 'an unsigned message still gets a key (it fails validation later)')
  })
})

describe('mesh node: yamux window updates at half a window', function () {
  this.timeout(60_000)

  it('sends an update on an established stream only once half of the receive window is used', function () {
    const sent: string[] = []
    class FakeStream {
      state = StreamState.Established
      recvWindow = 1000
      recvWindowCapacity = 1000
      sendWindowUpdate (): void { sent.push(`${this.state}:${this.recvWindowCapacity}`); this.recvWindowCapacity = this.recvWindow }
    }
    assert.equal(halfWindowUpdates(FakeStream), true)
    assert.equal(halfWindowUpdates(FakeStream), true, 'applying it again is harmless')
    assert.equal(halfWindowUpdates(class {}), false, 'another shape is left alone')
    const s = new FakeStream()
    s.recvWindowCapacity = 990
    s.sendWindowUpdate()
    s.recvWindowCapacity = 501
    s.sendWindowUpdate()
    assert.deepEqual(sent, [], 'less than half used: no update')
    s.recvWindowCapacity = 500
    s.sendWindowUpdate()
    assert.deepEqual(sent, [`${StreamState.Established}:500`], 'half used: the update goes out')
    for (const state of [StreamState.SYNReceived, StreamState.Paused, StreamState.Finished]) {
      const other = new FakeStream()
      other.state = state
      other.recvWindowCapacity = 990
      other.sendWindowUpdate()
    }
    assert.equal(sent.length, 4, 'opening, paused and finished streams keep the library\'s behaviour')
  })

  it('carries small and large frames both ways, intact, many windows over', async () => {
    const [a, b] = await Promise.all([0, 1].map(async () => await createMeshNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'] })))
    try {
      assert.equal((YamuxStream.prototype as unknown as { meshchatHalfWindow?: boolean }).meshchatHalfWindow, true, 'a mesh node applies it to the real stream class')
      await serveEcho(b!)
      const stream = await a!.dialProtocol(b!.getMultiaddrs()[0]!, '/test/echo/1')
      const lp = frameStream(stream)
      // 2,000 small frames one at a time, then 64 frames of 60 KiB (15 MiB both ways: many 256 KiB windows)
      for (let i = 0; i < 2_000; i++) {
        await lp.write(new TextEncoder().encode(`small ${i}`))
        assert.equal(new TextDecoder().decode((await lp.read()).subarray()), `small ${i}`)
      }
      const big = new Uint8Array(60 * 1024)
      for (let i = 0; i < 64; i++) {
        big.fill(i)
        await lp.write(big)
        const back = (await lp.read()).subarray()
        assert.equal(back.length, big.length)
        assert.ok(back.every(x => x === i), `big frame ${i} intact`)
      }
      await stream.close()
    } finally {
      await Promise.all([a!.stop(), b!.stop()])
    }
  })
})

describe('mesh node: one socket write per noise message', function () {
  this.timeout(60_000)

  it('hands each small encrypted message over as one buffer, the same bytes, and leaves large ones and another shape alone', function () {
    class FakeList {
      bufs: Uint8Array[]
      constructor (...bufs: Uint8Array[]) { this.bufs = bufs }
      get byteLength (): number { return this.bufs.reduce((n, b) => n + b.byteLength, 0) }
      subarray (): Uint8Array { return Uint8Array.from(this.bufs.flatMap(b => [...b])) }
    }
    class FakeConnection {
      encrypt (chunk: Uint8Array): FakeList { return new FakeList(Uint8Array.of(0, chunk.length), chunk.map(x => x ^ 0xff)) }
    }
    assert.equal(joinNoiseWrites(new FakeConnection()), true)
    assert.equal(joinNoiseWrites(new FakeConnection()), true, 'applying it again is harmless')
    assert.equal(joinNoiseWrites({}), false, 'another shape is left alone')
    assert.equal(joinNoiseWrites(undefined), false)
    const out = new FakeConnection().encrypt(Uint8Array.of(1, 2, 3))
    assert.ok(out instanceof FakeList)
    assert.equal(out.bufs.length, 1)
    assert.deepEqual([...out.bufs[0]!], [0, 3, 0xfe, 0xfd, 0xfc])
    // a large one (a bulk transfer's) is left as it is: copying it costs more than a 2-byte write
    const large = new FakeConnection().encrypt(new Uint8Array(32 * 1024))
    assert.equal(large.bufs.length, 2)
  })

  it('sends a small message in one TCP write (no 2-byte length written alone), and large ones intact', async () => {
    const [a, b] = await Promise.all([0, 1].map(async () => await createMeshNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'] })))
    const sizes: number[] = []
    const write = Socket.prototype.write
    try {
      await serveEcho(b!, 1 << 20)
      const stream = await a!.dialProtocol(b!.getMultiaddrs()[0]!, '/test/echo/1')
      const lp = frameStream(stream, 1 << 20)
      await lp.write(new TextEncoder().encode('warm up'))
      await lp.read()
      // every socket write of this process from here on (both nodes are in it)
      Socket.prototype.write = function (this: Socket, ...args: Parameters<Socket['write']>) {
        const chunk = args[0] as Uint8Array | string
        sizes.push(typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.byteLength)
        return write.apply(this, args)
      } as Socket['write']
      for (let i = 0; i < 50; i++) {
        await lp.write(new TextEncoder().encode(`small ${i}`))
        assert.equal(new TextDecoder().decode((await lp.read()).subarray()), `small ${i}`)
      }
      Socket.prototype.write = write
      assert.ok(sizes.length >= 100, `${sizes.length} writes for 50 round trips`)
      assert.ok(sizes.length <= 110, `${sizes.length} writes for 50 round trips: one per message each way, not two`)
      assert.ok(sizes.every(n => n > 2), `no lone length prefix: ${sizes.filter(n => n <= 2).length} writes of 2 bytes`)
      const big = new Uint8Array(200 * 1024).map((_, i) => i % 251)
      await lp.write(big)
      const back = (await lp.read()).subarray()
      assert.deepEqual(Buffer.from(back), Buffer.from(big), 'a message larger than one noise message (64 KiB) arrives intact')
      await stream.close()
    } finally {
      Socket.prototype.write = write
      await Promise.all([a!.stop(), b!.stop()])
    }
  })
})

describe('mesh node: noise lengths without a new error per read', function () {
  this.timeout(60_000)

  it('reads the 2-byte length from an array or a list, and says "not yet" with one shared RangeError', function () {
    assert.equal(noiseLength(Uint8Array.of(0x12, 0x34, 9)), 0x1234)
    // a list of chunks, read by index (what the decoder holds)
    const list = (...bytes: number[]): { byteLength: number, get: (i: number) => number } => ({ byteLength: bytes.length, get: i => bytes[i]! })
    assert.equal(noiseLength(list(0xff, 0xfe, 1)), 0xfffe)
    const errors = [list(), list(1), new Uint8Array(1)].map(data => {
      try {
        noiseLength(data)
      } catch (err) {
        return err
      }
      return undefined
    })
    assert.ok(errors.every(e => e instanceof RangeError), 'the decoder waits for more on a RangeError')
    assert.equal(errors[0], errors[1], 'one error object, not one per read')
    assert.equal(errors[1], errors[2])
    assert.equal(quietNoiseLengths({ decoder: { lengthDecoder: () => 0 } }), true)
    assert.equal(quietNoiseLengths({ decoder: {} }), false, 'another shape is left alone')
    assert.equal(quietNoiseLengths(undefined), false)
  })

  it('is what the connections of a real node decode with, and frames of every size still arrive whole', async () => {
    const [a, b] = await Promise.all([0, 1].map(async () => await createMeshNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'] })))
    try {
      await serveEcho(b!, 1 << 20)
      const stream = await a!.dialProtocol(b!.getMultiaddrs()[0]!, '/test/echo/1')
      for (const node of [a!, b!]) {
        // the muxer runs over noise's encrypted stream (libp2p 3: muxer.maConn)
        const conn = node.getConnections()[0] as unknown as { muxer?: { maConn?: { decoder?: { lengthDecoder?: unknown } } } }
        assert.equal(conn.muxer?.maConn?.decoder?.lengthDecoder, noiseLength)
      }
      const lp = frameStream(stream, 1 << 20)
      for (const size of [0, 1, 127, 128, 300, 65_535, 65_536, 200_000]) {
        const frame = new Uint8Array(size).map((_, i) => (i * 7 + size) % 251)
        await lp.write(frame)
        const back = (await lp.read()).subarray()
        assert.deepEqual(Buffer.from(back), Buffer.from(frame), `a frame of ${size} bytes`)
      }
      await stream.close()
    } finally {
      await Promise.all([a!.stop(), b!.stop()])
    }
  })
})

describe('mesh node: several buffers of one send in one system call', function () {
  this.timeout(60_000)

  it('writes the buffers of one send to a corked socket, all of them, and sends one buffer or another shape as before', function () {
    const calls: string[] = []
    class FakeSocket {
      corked = 0
      writableLength = 0
      writableHighWaterMark = 1000
      cork (): void { this.corked++; calls.push('cork') }
      uncork (): void {
        this.corked--
        calls.push('uncork')
        // the kernel takes up to 1,000 bytes; the rest waits in Node's buffer
        this.writableLength = Math.max(0, this.writableLength - 1000)
      }

      write (buf: Uint8Array): boolean {
        calls.push(`write ${buf.byteLength}${this.corked > 0 ? ' corked' : ''}`)
        this.writableLength += buf.byteLength
        return this.writableLength < this.writableHighWaterMark
      }
    }
    class FakeTransport {
      socket?: FakeSocket = new FakeSocket()
      sendData (data: { bufs: Uint8Array[] }): { sentBytes: number, canSendMore: boolean } {
        calls.push('library')
        for (const b of data.bufs) calls.push(`write ${b.byteLength}`)
        return { sentBytes: data.bufs.reduce((n, b) => n + b.byteLength, 0), canSendMore: true }
      }
    }
    const list = (...sizes: number[]): { bufs: Uint8Array[], [Symbol.iterator]: () => Iterator<Uint8Array> } => {
      const bufs = sizes.map(n => new Uint8Array(n))
      return { bufs, [Symbol.iterator]: () => bufs[Symbol.iterator]() }
    }
    assert.equal(corkTransportWrites(new FakeTransport()), true)
    assert.equal(corkTransportWrites(new FakeTransport()), true, 'applying it again is harmless')
    assert.equal(corkTransportWrites({}), false, 'another shape is left alone')
    assert.equal(corkTransportWrites(undefined), false)
    const t = new FakeTransport()
    assert.deepEqual(t.sendData(list(2, 600)), { sentBytes: 602, canSendMore: true })
    assert.deepEqual(calls.splice(0), ['cork', 'write 2 corked', 'write 600 corked', 'uncork'])
    // past the high-water mark every buffer is still written, and the transport waits for the drain
    assert.deepEqual(t.sendData(list(900, 900, 900)), { sentBytes: 2700, canSendMore: false })
    assert.deepEqual(calls.splice(0), ['cork', 'write 900 corked', 'write 900 corked', 'write 900 corked', 'uncork'])
    t.sendData(list(5))
    assert.deepEqual(calls.splice(0), ['library', 'write 5'], 'one buffer goes as before')
    // a transport without a socket (a relayed connection) sends as before
    const relayed = new FakeTransport()
    relayed.socket = undefined
    relayed.sendData(list(1, 1))
    assert.deepEqual(calls.splice(0), ['library', 'write 1', 'write 1'])
  })

  it('sends a burst of small frames in far fewer system calls than frames, all intact and in order', async () => {
    const [a, b] = await Promise.all([0, 1].map(async () => await createMeshNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'] })))
    const internals = Socket.prototype as unknown as Record<'_write' | '_writev', (...args: unknown[]) => unknown>
    const original = { _write: internals._write, _writev: internals._writev }
    let flushes = 0
    try {
      await serveEcho(b!)
      const stream = await a!.dialProtocol(b!.getMultiaddrs()[0]!, '/test/echo/1')
      const lp = frameStream(stream)
      await lp.write(new TextEncoder().encode('warm up'))
      await lp.read()
      // what Node hands to the kernel from a's side: one _write or _writev is one system call
      const port = Number(/\/tcp\/(\d+)/.exec(b!.getMultiaddrs()[0]!.toString())![1])
      for (const k of ['_write', '_writev'] as const) {
        internals[k] = function (this: Socket, ...args: unknown[]) { if (this.remotePort === port) flushes++; return original[k].apply(this, args) }
      }
      const frames = 3_000
      const body = (i: number): Uint8Array => new Uint8Array(600).fill(i % 251)
      // written in one turn, as a pipeline of direct messages is: the socket fills, and noise's queue with it
      // (the echo answers each as it comes: its side is not counted)
      const sent = Promise.all(Array.from({ length: frames }, async (_, i) => { await lp.write(body(i)) }))
      for (let i = 0; i < frames; i++) assert.deepEqual(Buffer.from((await lp.read()).subarray()), Buffer.from(body(i)))
      await sent
      assert.ok(flushes < frames / 2, `${flushes} system calls for ${frames} frames`)
      await stream.close()
    } finally {
      Object.assign(internals, original)
      await Promise.all([a!.stop(), b!.stop()])
    }
  })
})

describe('mesh node: IDONTWANT only for large room messages', function () {
  this.timeout(30_000)

  /**
   * Three nodes meshed on one topic; `a` publishes one message of each size in turn. How many
   * IDONTWANTs went round for each? (b and c each tell their other mesh peer, if anyone.)
   */
  async function idontwantsFor (sizes: number[], gossip: GossipInit = {}): Promise<number[]> {
    const nodes = await Promise.all([0, 1, 2].map(async () => await createMeshNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], gossip: { ...LOOPBACK_GOSSIP, ...gossip } })))
    const [a, b, c] = nodes as [MeshNode, MeshNode, MeshNode]
    try {
      for (const n of nodes) n.services.pubsub.subscribe('t')
      await b.dial(a.getMultiaddrs()[0]!)
      await c.dial(a.getMultiaddrs()[0]!)
      await c.dial(b.getMultiaddrs()[0]!)
      // (the mesh is gossipsub's own state; its public type does not show it)
      const meshOf = (n: MeshNode): string[] => (n.services.pubsub as unknown as { getMeshPeers: (topic: string) => string[] }).getMeshPeers('t')
      await eventually(() => nodes.every(n => meshOf(n).length === 2), 10_000, 'a full mesh of three')
      const total = (): number => nodes.reduce((sum, n) => sum + receivedIdontwants(n), 0)
      const counts: number[] = []
      for (const [i, size] of sizes.entries()) {
        const before = total()
        const arrived = [b, c].map(async n => await new Promise<void>(resolve => {
          const on = (evt: CustomEvent<{ data: Uint8Array }>): void => {
            if (evt.detail.data[0] !== i) return
            n.services.pubsub.removeEventListener('message', on as never)
            resolve()
          }
          n.services.pubsub.addEventListener('message', on as never)
        }))
        await a.services.pubsub.publish('t', new Uint8Array(size).fill(i))
        await Promise.all(arrived)
        // an IDONTWANT leaves as soon as a copy arrives, before it is checked: long since here
        await new Promise(resolve => setTimeout(resolve, 300))
        counts.push(total() - before)
      }
      return counts
    } finally {
      await Promise.all(nodes.map(async n => { await n.stop() }))
    }
  }

  /** IDONTWANT message ids this node has received from its peers (gossipsub's own record of them). */
  function receivedIdontwants (node: MeshNode): number {
    const record = (node.services.pubsub as unknown as { idontwants: Map<string, Map<string, number>> }).idontwants
    return [...record.values()].reduce((n, ids) => n + ids.size, 0)
  }

  it('announces a message past IDONTWANT_MIN_BYTES, not a chat-sized one, and the limit can be set', async () => {
    // (a message's IDONTWANTs are forgotten three heartbeats later: the announced one goes last)
    assert.deepEqual(await idontwantsFor([1200, 2048, IDONTWANT_MIN_BYTES + 100]), [0, 0, 2], 'only the large one is announced')
    assert.deepEqual(await idontwantsFor([100, 1200], { idontwantMinBytes: 512 }), [0, 2], 'with gossipsub\'s own limit, a chat-sized message is announced too')
  })
})

describe('mesh node: connection monitor', function () {
  this.timeout(30_000)
  const PING = '/ipfs/ping/1.0.0'

  /** Answers libp2p pings as the ping service does, and counts them. */
  async function countPings (node: MeshNode): Promise<{ count: number }> {
    const seen = { count: 0 }
    await node.unhandle(PING)
    await node.handle(PING, async stream => {
      seen.count++
      const bytes = byteStream(stream)
      await bytes.write(await bytes.read({ bytes: 32 }))
      await stream.close().catch(() => {})
    })
    return seen
  }

  it('pings each connection every pingIntervalMs and measures its round trip; a node left at the default has not pinged yet', async () => {
    const fast = await createMeshNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], pingIntervalMs: 200 })
    const usual = await createMeshNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'] })
    try {
      const fromFast = await countPings(usual)
      const fromUsual = await countPings(fast)
      await fast.dial(usual.getMultiaddrs()[0]!)
      await eventually(() => fromFast.count >= 5, 10_000, 'five pings from the node set to 200 ms')
      const [conn] = fast.getConnections(usual.peerId)
      assert.equal(typeof conn?.rtt, 'number', 'each ping measures the round trip')
      // the other end is left at DEFAULT_PING_INTERVAL_MS (a minute): it has not pinged yet
      assert.equal(fromUsual.count, 0)
      assert.equal(usual.getConnections(fast.peerId)[0]?.rtt, undefined)
    } finally {
      await Promise.all([fast.stop(), usual.stop()])
    }
  })

  it('leaves yamux keep-alive off: no muxer pings of its own, at either end', async () => {
    const a = await createMeshNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'] })
    const b = await createMeshNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'] })
    try {
      await a.dial(b.getMultiaddrs()[0]!)
      await eventually(() => b.getConnections(a.peerId).length === 1, 5_000, 'the connection at both ends')
      // with keep-alive on, yamux pings as soon as the connection opens and records the round trip
      await new Promise(resolve => setTimeout(resolve, 300))
      for (const conn of [a.getConnections(b.peerId)[0], b.getConnections(a.peerId)[0]]) {
        const muxer = (conn as unknown as { muxer: { rtt: number, keepAlive?: unknown } }).muxer
        assert.equal(muxer.keepAlive, undefined)
        assert.equal(muxer.rtt, -1, 'the muxer never pinged')
      }
    } finally {
      await Promise.all([a.stop(), b.stop()])
    }
  })
})

describe('mesh node: libp2p loggers', function () {
  it('without DEBUG, hands every component one shared logger that does nothing; with DEBUG, leaves libp2p its own', function () {
    const quiet = libp2pLogger({})
    assert.ok(quiet != null)
    const a = quiet.forComponent('libp2p:yamux')
    assert.equal(a, quiet.forComponent('libp2p:tcp'), 'one logger for all')
    assert.equal(a.newScope('stream'), a)
    assert.equal(a.enabled, false)
    assert.doesNotThrow(() => { a('x %s', 1); a.error('y'); a.trace('z') })
    assert.ok(libp2pLogger({ DEBUG: '' }) != null, 'an empty DEBUG enables nothing')
    assert.equal(libp2pLogger({ DEBUG: 'libp2p:*' }), undefined)
  })
})

describe('mesh node: X25519 and ChaCha20-Poly1305 for noise with libsodium', function () {
  this.timeout(30_000)
  const bytes = (u: Uint8Array): Buffer => Buffer.from(u.buffer, u.byteOffset, u.byteLength)

  for (const sodium of [true, false]) {
    it(`agrees with noise's own X25519 across both (${sodium ? 'libsodium' : 'libsodium off: OpenSSL'}); a low-order key fails in both`, () => {
      usingSodium(sodium)
      try {
        const mine = noiseCrypto.generateX25519KeyPair()
        const theirs = defaultCrypto.generateX25519KeyPair()
        assert.equal(mine.publicKey.byteLength, 32)
        assert.equal(mine.privateKey.byteLength, 32)
        assert.notDeepEqual(bytes(noiseCrypto.generateX25519KeyPair().privateKey), bytes(mine.privateKey), 'a fresh key each time')
        // both ends of an agreement, one end each way
        const here = noiseCrypto.generateX25519SharedKey(mine.privateKey, theirs.publicKey)
        assert.deepEqual(bytes(here), bytes(defaultCrypto.generateX25519SharedKey(theirs.privateKey, mine.publicKey)))
        assert.deepEqual(bytes(here), bytes(defaultCrypto.generateX25519SharedKey(mine.privateKey, theirs.publicKey)))
        // noise may hand the keys over as a list of chunks
        const listOf = (u: Uint8Array): Uint8Array => ({ subarray: () => u }) as unknown as Uint8Array
        assert.deepEqual(bytes(noiseCrypto.generateX25519SharedKey(listOf(mine.privateKey), listOf(theirs.publicKey))), bytes(here))
        // a static key from a seed: the same public key as noise's own
        const seed = randomBytes(32)
        const fromSeed = noiseCrypto.generateX25519KeyPairFromSeed(seed)
        assert.deepEqual(bytes(fromSeed.publicKey), bytes(defaultCrypto.generateX25519KeyPairFromSeed(seed).publicKey))
        assert.deepEqual(bytes(fromSeed.privateKey), seed)
        // an all-zero (low-order) public key: no agreement, here as in noise's own
        assert.throws(() => noiseCrypto.generateX25519SharedKey(mine.privateKey, new Uint8Array(32)))
        assert.throws(() => defaultCrypto.generateX25519SharedKey(mine.privateKey, new Uint8Array(32)))
        assert.throws(() => noiseCrypto.generateX25519SharedKey(mine.privateKey, new Uint8Array(31)))
      } finally {
        usingSodium(true)
      }
    })
  }

  describe('ChaCha20-Poly1305 for noise messages', () => {
    const listOf = (u: Uint8Array): Uint8Array => ({ subarray: () => u, byteLength: u.byteLength }) as unknown as Uint8Array
    const sizes = [0, 1, 100, 1199, 1200, 5000, 65519]

    it('seals and opens exactly as noise\'s own, both ways, in place and from lists; a changed byte, tag or ad fails', () => {
      assert.equal(usingSodium(), true)
      for (const size of sizes) {
        const [k, nonce, m] = [randomBytes(32), randomBytes(12), randomBytes(size)]
        for (const ad of [new Uint8Array(0), randomBytes(32)]) {
          const ours = bytes(noiseCrypto.chaCha20Poly1305Encrypt(m, nonce, ad, k).subarray())
          assert.deepEqual(ours, bytes(defaultCrypto.chaCha20Poly1305Encrypt(m, nonce, ad, k).subarray()), `${size} bytes: the same ciphertext`)
          assert.equal(ours.byteLength, size + 16)
          assert.deepEqual(bytes(defaultCrypto.chaCha20Poly1305Decrypt(ours, nonce, ad, k).subarray()), m)
          assert.deepEqual(bytes(noiseCrypto.chaCha20Poly1305Decrypt(ours, nonce, ad, k).subarray()), m)
          assert.deepEqual(bytes(noiseCrypto.chaCha20Poly1305Encrypt(listOf(m), nonce, ad, k).subarray()), ours, 'a list of chunks')
          assert.deepEqual(bytes(noiseCrypto.chaCha20Poly1305Decrypt(listOf(ours), nonce, ad, k).subarray()), m)
          // noise decrypts into the ciphertext's own bytes
          const copy = Buffer.from(ours)
          const inPlace = noiseCrypto.chaCha20Poly1305Decrypt(copy, nonce, ad, k, copy.subarray(0, size)) as Uint8Array
          assert.deepEqual(bytes(inPlace), m)
          assert.equal(inPlace.buffer, copy.buffer, 'written where noise asked')
          assert.equal(inPlace.byteOffset, copy.byteOffset)
          for (const at of [0, Math.floor(size / 2), size, size + 15]) {
            if (at >= ours.byteLength) continue
            const bad = Buffer.from(ours)
            bad[at] = bad[at]! ^ 1
            assert.throws(() => noiseCrypto.chaCha20Poly1305Decrypt(bad, nonce, ad, k), `${size} bytes, byte ${at} changed`)
            assert.deepEqual(bad, (() => { const b = Buffer.from(ours); b[at] = b[at]! ^ 1; return b })(), 'nothing written on failure')
          }
          assert.throws(() => noiseCrypto.chaCha20Poly1305Decrypt(ours, nonce, randomBytes(33), k), 'another ad')
          assert.throws(() => noiseCrypto.chaCha20Poly1305Decrypt(ours, randomBytes(12), ad, k), 'another nonce')
        }
      }
      assert.throws(() => noiseCrypto.chaCha20Poly1305Decrypt(randomBytes(15), randomBytes(12), new Uint8Array(0), randomBytes(32)), 'shorter than a tag')
    })

    it('is noise\'s own with libsodium off', () => {
      usingSodium(false)
      try {
        const [k, nonce, m, ad] = [randomBytes(32), randomBytes(12), randomBytes(300), randomBytes(32)]
        const sealed = noiseCrypto.chaCha20Poly1305Encrypt(m, nonce, ad, k)
        assert.deepEqual(bytes(noiseCrypto.chaCha20Poly1305Decrypt(sealed, nonce, ad, k).subarray()), m)
        assert.deepEqual(bytes(sealed.subarray()), bytes(defaultCrypto.chaCha20Poly1305Encrypt(m, nonce, ad, k).subarray()))
      } finally {
        usingSodium(true)
      }
    })
  })

  it('is what a real node\'s handshakes agree with (three agreements at each end per connection) and seal its messages with', async () => {
    assert.equal(usingSodium(), true)
    const original = noiseCrypto.generateX25519SharedKey
    const seal = noiseCrypto.chaCha20Poly1305Encrypt
    let agreements = 0
    let sealed = 0
    noiseCrypto.generateX25519SharedKey = (...args) => { agreements++; return original(...args) }
    // noise takes the cipher functions when a node is made
    noiseCrypto.chaCha20Poly1305Encrypt = (...args) => { sealed++; return seal(...args) }
    const [a, b] = await Promise.all([0, 1].map(async () => await createMeshNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'] })))
    try {
      await serveEcho(b!)
      const stream = await a!.dialProtocol(b!.getMultiaddrs()[0]!, '/test/echo/1')
      const lp = frameStream(stream)
      await lp.write(new TextEncoder().encode('over sodium'))
      assert.equal(new TextDecoder().decode((await lp.read()).subarray()), 'over sodium')
      await stream.close()
      assert.equal(agreements, 6, 'XX: ee, es and se at each end')
      assert.ok(sealed >= 4, `the handshake's payloads and the messages went through it (${sealed})`)
    } finally {
      noiseCrypto.generateX25519SharedKey = original
      noiseCrypto.chaCha20Poly1305Encrypt = seal
      await Promise.all([a!.stop(), b!.stop()])
    }
  })
})
