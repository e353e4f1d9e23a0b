import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { Harness, LOOPBACK_GOSSIP } from '../../src/testing/index.js'
import { createMeshNode, request } from '../../src/net/index.js'
import { DIRECTORY_PROTOCOL, MAX_HEARTBEAT_MS, MIN_HEARTBEAT_MS, directoryResponse } from '../../src/protocol/index.js'
import { RendezvousNode } from '../../src/rendezvous/index.js'
import type { MeshNode } from '../../src/net/index.js'

describe('rendezvous limits', function () {
  let h: Harness
  const rogues: MeshNode[] = []
  afterEach(async () => {
    await Promise.allSettled(rogues.map(async r => { await r.stop() }))
    rogues.length = 0
    await h.stop()
  })

  async function rogue (): Promise<MeshNode> {
    const node = await createMeshNode({ privateKey: await generateKeyPair('Ed25519'), listen: [], gossip: LOOPBACK_GOSSIP })
    rogues.push(node)
    return node
  }

  it('answers a flood of requests from one device with RateLimitedError and keeps serving', async () => {
    h = new Harness({ rendezvous: { requestsPerSecond: 5 } })
    await h.startRendezvous()
    const alice = await h.client('alice')
    const cert = (await alice.home.requireLogin()).cert
    const results = await Promise.allSettled(Array.from({ length: 30 }, async () =>
      await request(alice.libp2p, multiaddr(h.serverAddress), DIRECTORY_PROTOCOL, { op: 'users', cert }, directoryResponse)))
    const names = results.map(r => r.status === 'fulfilled' ? 'ok' : (r.reason as Error).name)
    assert.ok(names.filter(n => n === 'ok').length <= 12, names.join(' '))
    assert.ok(names.filter(n => n === 'RateLimitedError').length >= 18, names.join(' '))
    // another device is not affected
    const bob = await h.client('bob')
    assert.equal((await bob.users()).length, 2)
  })

  it('refuses a heartbeat its devices would refuse, before it starts', async () => {
    h = new Harness()
    const dataDir = await h.tempDir('bad-heartbeat')
    for (const heartbeatMs of [0, MIN_HEARTBEAT_MS - 1, MAX_HEARTBEAT_MS + 1, 1.5]) {
      assert.throws(() => new RendezvousNode({ dataDir, listen: ['/ip4/127.0.0.1/tcp/0'], heartbeatMs }), (err: Error) => err.name === 'InvalidInputError' && err.message.includes(String(heartbeatMs)))
    }
  })

  it('refuses connections past the per-host limit', async () => {
    h = new Harness({ rendezvous: { maxConnectionsPerHost: 3 } })
    await h.startRendezvous()
    const server = multiaddr(h.serverAddress)
    for (let i = 0; i < 3; i++) await (await rogue()).dial(server)
    await assert.rejects((await rogue()).dial(server, { signal: AbortSignal.timeout(5_000) }))
    // one leaves, the next may come in
    await rogues[0]!.stop()
    await new Promise(resolve => setTimeout(resolve, 0))
    const deadline = Date.now() + 5_000
    let ok = false
    while (!ok && Date.now() < deadline) {
      ok = await (await rogue()).dial(server, { signal: AbortSignal.timeout(2_000) }).then(() => true, () => false)
    }
    assert.ok(ok, 'a connection is accepted again once one closed')
  })
})
