import assert from 'node:assert/strict'
import { Socket } from 'node:net'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { z } from 'zod'
import { createMeshNode, handleRequests, request, RequestChannels } from '../../src/net/index.js'
import { InvalidInputError } from '../../src/protocol/index.js'
import type { MeshNode } from '../../src/net/index.js'

const PROTOCOL = '/meshchat/test-echo/1.0.0'
const req = z.object({ n: z.number().int(), fail: z.boolean().optional(), delayMs: z.number().int().max(1000).optional() })
const res = z.union([z.object({ ok: z.literal(true), n: z.number().int() }), z.object({ ok: z.literal(false), error: z.object({ name: z.string(), message: z.string() }) })])

describe('request channels: many requests on one stream', function () {
  this.timeout(30_000)
  let server: MeshNode
  let client: MeshNode
  let streams = 0
  let handled = 0

  beforeEach(async () => {
    streams = 0
    handled = 0
    server = await createMeshNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'] })
    client = await createMeshNode({ privateKey: await generateKeyPair('Ed25519'), listen: [] })
    server.addEventListener('connection:open', () => {})
    await handleRequests(server, PROTOCOL, req, async (r, ctx) => {
      if (!seen.has(ctx.stream)) { seen.add(ctx.stream); streams++ }
      handled++
      if (r.delayMs != null) await new Promise(resolve => setTimeout(resolve, r.delayMs))
      if (r.fail === true) throw new InvalidInputError(`no ${r.n}`)
      return { ok: true, n: r.n }
    }, { persistent: true })
    await client.dial(server.getMultiaddrs()[0]!)
  })
  const seen = new WeakSet<object>()

  afterEach(async () => {
    await client.stop()
    await server.stop()
  })

  it('answers pipelined requests in order on one stream, slow ones holding back only their own answer', async () => {
    const ch = new RequestChannels(client, PROTOCOL, res)
    const answers = await Promise.all(Array.from({ length: 200 }, async (_, n) => await ch.request(server.peerId, { n, ...(n % 17 === 0 ? { delayMs: 20 } : {}) })))
    assert.deepEqual(answers.map(a => a.ok ? a.n : -1), Array.from({ length: 200 }, (_, n) => n))
    assert.equal(streams, 1)
    ch.close()
  })

  it('sends the requests of one turn together and the answers ready together in one write each way', async () => {
    const ch = new RequestChannels(client, PROTOCOL, res)
    assert.deepEqual(await ch.request(server.peerId, { n: -1 }), { ok: true, n: -1 })
    const writes: number[] = []
    const write = Socket.prototype.write
    Socket.prototype.write = function (this: Socket, ...args: Parameters<Socket['write']>) {
      const chunk = args[0] as Uint8Array | string
      writes.push(typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.byteLength)
      return write.apply(this, args)
    } as Socket['write']
    let answers
    try {
      answers = await Promise.all(Array.from({ length: 50 }, async (_, n) => await ch.request(server.peerId, { n })))
    } finally {
      Socket.prototype.write = write
    }
    assert.deepEqual(answers.map(a => a.ok ? a.n : -1), Array.from({ length: 50 }, (_, n) => n), 'each answer to its own request, in order')
    // 50 requests out and 50 answers back: one write for the requests, the answers in a few (each as its handler is done)
    assert.ok(writes.length <= 6, `${writes.length} socket writes for 50 requests and their answers`)
    assert.equal(streams, 1)
    ch.close()
  })

  it('throws a named error for an error answer and goes on with the next request', async () => {
    const ch = new RequestChannels(client, PROTOCOL, res)
    await assert.rejects(ch.request(server.peerId, { n: 1, fail: true }), { name: 'InvalidInputError' })
    assert.deepEqual(await ch.request(server.peerId, { n: 2 }), { ok: true, n: 2 })
    assert.equal(streams, 1)
    ch.close()
  })

  it('a request that times out does not shift the answers of the others', async () => {
    const ch = new RequestChannels(client, PROTOCOL, res)
    const slow = ch.request(server.peerId, { n: 1, delayMs: 300 }, { signal: AbortSignal.timeout(50) })
    const next = ch.request(server.peerId, { n: 2 })
    await assert.rejects(slow, { name: 'TimeoutError' })
    assert.deepEqual(await next, { ok: true, n: 2 })
    ch.close()
  })

  it('opens a new stream when the old one broke, and one-shot requests still work against the handler', async () => {
    const ch = new RequestChannels(client, PROTOCOL, res)
    await ch.request(server.peerId, { n: 1 })
    for (const c of client.getConnections()) await c.close()
    await client.dial(server.getMultiaddrs()[0]!)
    // the first request after the break may fail with the dead stream; the next one opens a new one
    await ch.request(server.peerId, { n: 2 }).catch(() => {})
    assert.deepEqual(await ch.request(server.peerId, { n: 3 }), { ok: true, n: 3 })
    assert.deepEqual(await request(client, server.peerId, PROTOCOL, { n: 4 }, res), { ok: true, n: 4 })
    assert.ok(streams >= 2)
    ch.close()
  })
})
