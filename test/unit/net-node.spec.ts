import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createMeshNode, fastMessageId, flattenGetConnections } from '../../src/net/index.js'
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
