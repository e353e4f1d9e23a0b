import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { StreamState, YamuxStream } from '@libp2p/yamux/stream'
import { createMeshNode, fastMessageId, flattenGetConnections, frameStream, halfWindowUpdates } from '../../src/net/index.js'
import { eventually } from '../../src/testing/index.js'

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
      await b!.handle('/test/echo/1', async stream => {
        const lp = frameStream(stream)
        for (;;) {
          const frame = await lp.read().catch(() => undefined)
          if (frame == null) break
          await lp.write(frame.subarray())
        }
        await stream.close().catch(() => {})
      })
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
