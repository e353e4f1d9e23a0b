/**
 * Fuzzing every protocol handler over real streams (issue 10, "Hardening"): a rogue libp2p node
 * sends generated garbage to the rendezvous node's protocols (people and rooms among them) and to a client's direct-message
 * handler. Nothing may crash, nothing may be written, every offending stream must be closed, and
 * the node must serve real users afterwards.
 */
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { Harness, EventLog, eventually, LOOPBACK_GOSSIP, TEST_PASSWORD, TEST_SCRYPT } from '../../src/testing/index.js'
import { createMeshNode } from '../../src/net/index.js'
import { login } from '../../src/client/index.js'
import {
  AUTH_PROTOCOL, SESSION_PROTOCOL, DIRECTORY_PROTOCOL, ARCHIVE_PROTOCOL, PEOPLE_PROTOCOL, DM_PROTOCOL, FILE_STORE_PROTOCOL, GLOBAL_ROOM,
  authRequest, sessionClientFrame, directoryRequest, archiveRequest, peopleRequest, fileStoreRequest, envelope,
  MAX_FRAME_BYTES, MAX_ARCHIVE_FRAME_BYTES, MAX_FILE_STORE_HEADER_BYTES
} from '../../src/protocol/index.js'
import { fuzzParams, validSamples, mutation, applyMutation, anyJson, bytesOf } from './support.js'
import type { Json, Samples } from './support.js'
import type { MeshNode } from '../../src/net/index.js'
import type { MeshClient } from '../../src/client/index.js'
import type { Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { z } from 'zod'

/** Streams each protocol gets (a bounded run). */
const STREAMS_PER_PROTOCOL = 200
/** How long a handler may take to close a stream it was given garbage on. */
const CLOSE_DEADLINE_MS = 10_000

/** What one stream of the attack carries. */
type Attack =
  /** bytes sent as they are, then the write side closed */
  | { kind: 'send', label: string, chunks: Uint8Array[] }
  /** bytes sent, then the stream left open and never touched again */
  | { kind: 'abandon', label: string, chunks: Uint8Array[] }

/** Unsigned LEB128, the length prefix of it-length-prefixed. */
function varint (n: number): Uint8Array {
  const out: number[] = []
  let v = n
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80)
    v = Math.floor(v / 0x80)
  }
  out.push(v)
  return new Uint8Array(out)
}

function lp (payload: Uint8Array): Uint8Array {
  return concat([varint(payload.length), payload])
}

function concat (parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts))
}

/** Length-prefixed frames read back from a reply; an incomplete tail is left out. */
function framesOf (bytes: Uint8Array): unknown[] {
  const out: unknown[] = []
  let at = 0
  while (at < bytes.length) {
    let len = 0
    let mul = 1
    let b: number | undefined
    do {
      b = bytes[at++]
      if (b == null) return out
      len += (b & 0x7f) * mul
      mul *= 0x80
    } while ((b & 0x80) !== 0)
    if (at + len > bytes.length) return out
    try {
      out.push(JSON.parse(Buffer.from(bytes.subarray(at, at + len)).toString('utf8')))
    } catch {
      out.push(undefined)
    }
    at += len
  }
  return out
}

interface Target {
  protocol: string
  schema: z.ZodType
  samples: Json[]
  maxBytes: number
  /** A frame that would really do something (create an account, count a failed login) is not garbage. */
  harmful: (value: unknown) => boolean
}

/** The generated garbage for one protocol: only frames that are refused, never real requests. */
function attackOf (t: Target): fc.Arbitrary<Attack> {
  const garbage = (bytes: Uint8Array): boolean => {
    let value: unknown
    try { value = JSON.parse(Buffer.from(bytes).toString('utf8')) } catch { return true }
    const parsed = t.schema.safeParse(value)
    return !(parsed.success && t.harmful(parsed.data))
  }
  const json = fc.oneof(fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json>, anyJson).map(v => bytesOf(JSON.stringify(v) ?? 'null')).filter(garbage)
  const mutated = fc.tuple(fc.constantFrom(...t.samples), mutation).map(([s, m]) => applyMutation(s, m)).filter(b => b.length <= t.maxBytes && garbage(b))
  /** A valid sample (signed by strangers: refused) or a damaged one. */
  const payload = fc.oneof(
    { weight: 3, arbitrary: mutated },
    { weight: 2, arbitrary: json },
    { weight: 1, arbitrary: fc.constantFrom(...t.samples).map(s => bytesOf(JSON.stringify(s))).filter(garbage) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }) }
  )
  const tail = fc.uint8Array({ maxLength: 2_000 })
  return fc.oneof(
    fc.uint8Array({ minLength: 1, maxLength: 400 }).map(b => ({ kind: 'send' as const, label: 'random bytes', chunks: [b] })),
    fc.uint8Array({ maxLength: 400 }).map(b => ({ kind: 'send' as const, label: 'length prefix, random payload', chunks: [lp(b)] })),
    fc.tuple(fc.constantFrom(t.maxBytes + 1, 2 ** 20, 2 ** 31, 2 ** 40, Number.MAX_SAFE_INTEGER), tail)
      .map(([n, b]) => ({ kind: 'send' as const, label: 'huge length prefix', chunks: [varint(n), b] })),
    tail.map(b => ({ kind: 'send' as const, label: 'over-long varint', chunks: [new Uint8Array(11).fill(0xff), b] })),
    fc.tuple(payload, fc.nat()).map(([p, cut]) => {
      const frame = lp(p)
      return { kind: 'send' as const, label: 'truncated frame', chunks: [frame.subarray(0, cut % frame.length)] }
    }),
    fc.tuple(fc.integer({ min: 1, max: 1_000 }), fc.uint8Array({ maxLength: 100 }))
      .map(([missing, b]) => ({ kind: 'send' as const, label: 'shorter than its prefix', chunks: [varint(b.length + missing), b] })),
    { weight: 4, arbitrary: payload.map(p => ({ kind: 'send' as const, label: 'wrong shape', chunks: [lp(p)] })) },
    fc.array(payload, { minLength: 2, maxLength: 20 }).chain(ps => fc.boolean().map(split => ({
      kind: 'send' as const,
      label: 'many frames on one stream',
      chunks: split ? ps.map(lp) : [concat(ps.map(lp))]
    }))),
    fc.constant<Attack>({ kind: 'send', label: 'nothing at all', chunks: [] }),
    fc.constant<Attack>({ kind: 'send', label: 'frame over the limit', chunks: [lp(bytesOf(JSON.stringify('x'.repeat(t.maxBytes))))] }),
    fc.oneof(fc.constant(new Uint8Array(0)), fc.uint8Array({ maxLength: 40 }), payload.map(p => lp(p).subarray(0, 1 + Math.floor(p.length / 2))))
      .map(b => ({ kind: 'abandon' as const, label: 'opened and abandoned', chunks: b.length === 0 ? [] : [b] }))
  )
}

type Outcome =
  | { kind: 'refused' }
  | { kind: 'abandoned', stream: Stream }
  | { kind: 'closed', frames: unknown[] }
  | { kind: 'hung' }

/** Opens a stream, sends the attack, and waits (bounded) for the other side to close it. */
async function fire (node: MeshNode, to: Multiaddr, protocol: string, attack: Attack): Promise<Outcome> {
  let stream: Stream
  try {
    stream = await node.dialProtocol(to, protocol, { signal: AbortSignal.timeout(5_000) })
  } catch {
    // the stream limit per connection was reached, say: refused is fine
    return { kind: 'refused' }
  }
  const received: Uint8Array[] = []
  stream.addEventListener('message', evt => { received.push(evt.data.subarray()) })
  const closed = new Promise<void>(resolve => {
    if (stream.status !== 'open') resolve()
    stream.addEventListener('close', () => { resolve() }, { once: true })
  })
  try {
    for (const chunk of attack.chunks) {
      if (!stream.send(chunk)) await stream.onDrain({ signal: AbortSignal.timeout(5_000) })
    }
  } catch {
    // the handler may reset the stream while we are still sending: that is a close
  }
  if (attack.kind === 'abandon') return { kind: 'abandoned', stream }
  await stream.close({ signal: AbortSignal.timeout(5_000) }).catch(() => {})
  let timer: NodeJS.Timeout | undefined
  const hung = await Promise.race([
    closed.then(() => false),
    new Promise<boolean>(resolve => { timer = setTimeout(() => { resolve(true) }, CLOSE_DEADLINE_MS) })
  ])
  clearTimeout(timer)
  if (hung) {
    stream.abort(new Error('the handler never closed the stream'))
    return { kind: 'hung' }
  }
  return { kind: 'closed', frames: framesOf(concat(received)) }
}

/** Streams of meshchat protocols open on `node` towards `peer`. */
function meshchatStreams (node: MeshNode, peer: MeshNode['peerId']): number {
  return node.getConnections(peer).flatMap(c => c.streams).filter(s => s.protocol.startsWith('/meshchat/')).length
}

describe('fuzz: protocol handlers', function () {
  this.timeout(120_000)
  let samples: Samples
  let h: Harness
  let alice: MeshClient
  let bob: MeshClient
  let bobLog: EventLog
  /** Sends the garbage; `abandoner` holds the abandoned streams on a connection of its own. */
  let rogue: MeshNode
  let abandoner: MeshNode

  before(async () => {
    samples = await validSamples()
  })

  beforeEach(async () => {
    h = new Harness()
    await h.startRendezvous()
    ;[alice, bob] = await h.clientsFor(['alice', 'bob']) as [MeshClient, MeshClient]
    // a profile and a room of their own, so that a change to either by the garbage would show
    await alice.setProfile({ name: 'Alice', status: 'here' })
    await alice.createRoom('ops', { private: true })
    bobLog = new EventLog(bob)
    rogue = await createMeshNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], gossip: LOOPBACK_GOSSIP })
    abandoner = await createMeshNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], gossip: LOOPBACK_GOSSIP })
  })

  afterEach(async () => {
    bobLog.stop()
    await rogue.stop()
    await abandoner.stop()
    await h.stop()
  })

  /** What the rendezvous node has written: any change after the garbage is a failure. */
  async function nodeState (): Promise<unknown> {
    const store = h.rendezvous!.store
    const accounts = await store.listAccounts()
    return {
      accounts: accounts.map(a => ({ user: a.user, disabled: a.disabled, lastAddr: a.lastAddr })),
      devices: await Promise.all(accounts.map(async a => (await store.listDevices(a.user)).map(d => ({ peer: d.peer, loggedIn: d.loggedIn })))),
      archive: await Promise.all(accounts.map(async a => await store.archiveHead(a.user))),
      room: (await store.readRoom(GLOBAL_ROOM, null, 1000)).length,
      profiles: await Promise.all(accounts.map(async a => await store.getProfile(a.user))),
      rooms: await Promise.all((await store.listRooms(1000)).map(async r => ({ ...r, members: await store.members(r.room, 1000) }))),
      roomsOf: await Promise.all(accounts.map(async a => await store.roomsOf(a.user, 1000))),
      files: (await store.files.listAll()).length
    }
  }

  async function bobState (): Promise<unknown> {
    return {
      conversations: await bob.history.conversations(),
      messages: bobLog.events.filter(e => e.type === 'message').length
    }
  }

  /** Runs the generated attacks against `protocol` at `to`, then checks every stream was closed. */
  async function fuzz (to: Multiaddr, victim: MeshNode, t: Target): Promise<Record<string, number>> {
    const tally: Record<string, number> = {}
    const abandoned: Stream[] = []
    await fc.assert(fc.asyncProperty(attackOf(t), async attack => {
      const outcome = await fire(attack.kind === 'abandon' ? abandoner : rogue, to, t.protocol, attack)
      const key = `${attack.label}: ${outcome.kind === 'closed' && outcome.frames.length > 0 ? 'answered' : outcome.kind}`
      tally[key] = (tally[key] ?? 0) + 1
      assert.notEqual(outcome.kind, 'hung', `${t.protocol} never closed a stream sent ${attack.label}`)
      if (outcome.kind === 'abandoned') abandoned.push(outcome.stream)
      if (outcome.kind !== 'closed') return
      // whatever came back is a refusal, never an answer to a request
      for (const frame of outcome.frames) {
        const f = frame as { ok?: unknown, t?: unknown, error?: { name?: unknown } } | undefined
        assert.ok(f != null && typeof f === 'object', `${t.protocol} answered ${attack.label} with a frame that is not JSON`)
        if (t.protocol === SESSION_PROTOCOL) assert.equal(f.t, 'error', `session answered ${JSON.stringify(f).slice(0, 200)}`)
        else assert.equal(f.ok, false, `${t.protocol} answered ${JSON.stringify(f).slice(0, 200)}`)
        assert.equal(typeof f.error?.name, 'string')
      }
    }), fuzzParams(STREAMS_PER_PROTOCOL))
    // abandoned streams are closed by the handler's read deadline, not left open forever
    await eventually(() => meshchatStreams(rogue, victim.peerId) === 0 && meshchatStreams(abandoner, victim.peerId) === 0,
      CLOSE_DEADLINE_MS + 5_000, 'the rogue\'s streams to close')
    await eventually(() => meshchatStreams(victim, rogue.peerId) === 0 && meshchatStreams(victim, abandoner.peerId) === 0,
      CLOSE_DEADLINE_MS, 'the victim\'s streams from the rogue to close')
    assert.ok(abandoned.every(s => s.status !== 'open'))
    return tally
  }

  /** The node still serves real users: register, login, a direct message and a room message. */
  async function stillServes (): Promise<void> {
    const survivor = await h.client('survivor')
    assert.equal(survivor.connectionState, 'connected')
    await login({ home: await h.tempDir('survivor-2'), server: h.serverAddress, user: 'survivor', password: TEST_PASSWORD, wrapScrypt: TEST_SCRYPT })
    await h.connect(survivor, bob)
    await survivor.send('bob', 'after the storm')
    await bobLog.waitFor(e => e.type === 'message' && e.message.text === 'after the storm', 5_000, 'the direct message')
    await eventually(() => survivor.libp2p.services.pubsub.getSubscribers(`/meshchat/room/${GLOBAL_ROOM}/1.0.0`).length > 0, 5_000, 'room peers')
    await survivor.send('#global', 'room after the storm')
    await bobLog.waitFor(e => e.type === 'message' && e.message.text === 'room after the storm', 5_000, 'the room message')
    // people and rooms still answer
    assert.equal((await survivor.profile('alice')).name, 'Alice')
    assert.ok((await survivor.rooms()).some(r => r.room === GLOBAL_ROOM && r.joined))
    // alice's session lived through it all
    assert.equal(alice.connectionState, 'connected')
  }

  const server = (): Multiaddr => multiaddr(h.serverAddress)

  const targets = (): Record<'auth' | 'session' | 'directory' | 'archive' | 'people' | 'filestore' | 'dm', Target> => ({
    auth: {
      protocol: AUTH_PROTOCOL,
      schema: authRequest,
      samples: samples.bySchema.authRequest!,
      maxBytes: MAX_FRAME_BYTES,
      // a well-formed register would create an account, a login would count a failure for 127.0.0.1
      harmful: v => (v as { op: string }).op !== 'logout'
    },
    session: { protocol: SESSION_PROTOCOL, schema: sessionClientFrame, samples: samples.bySchema.sessionClientFrame!, maxBytes: MAX_FRAME_BYTES, harmful: () => false },
    directory: { protocol: DIRECTORY_PROTOCOL, schema: directoryRequest, samples: samples.bySchema.directoryRequest!, maxBytes: MAX_FRAME_BYTES, harmful: () => false },
    archive: { protocol: ARCHIVE_PROTOCOL, schema: archiveRequest, samples: samples.bySchema.archiveRequest!, maxBytes: MAX_ARCHIVE_FRAME_BYTES, harmful: () => false },
    // the samples carry certificates of a stranger's key: every well-formed one is refused too
    people: { protocol: PEOPLE_PROTOCOL, schema: peopleRequest, samples: samples.bySchema.peopleRequest!, maxBytes: MAX_FRAME_BYTES, harmful: () => false },
    filestore: { protocol: FILE_STORE_PROTOCOL, schema: fileStoreRequest, samples: samples.bySchema.fileStoreRequest!, maxBytes: MAX_FILE_STORE_HEADER_BYTES, harmful: () => false },
    dm: { protocol: DM_PROTOCOL, schema: envelope, samples: samples.bySchema.envelope!, maxBytes: MAX_FRAME_BYTES, harmful: () => false }
  })

  for (const name of ['auth', 'session', 'directory', 'archive', 'people', 'filestore'] as const) {
    it(`rendezvous ${name} protocol: garbage is refused, nothing is written, every stream is closed`, async () => {
      const before = await nodeState()
      const tally = await fuzz(server(), h.rendezvous!.libp2p, targets()[name])
      assert.deepEqual(await nodeState(), before, 'the rendezvous node wrote something for the garbage')
      assert.ok(Object.keys(tally).some(k => k.endsWith(': answered')), JSON.stringify(tally))
      await stillServes()
    })
  }

  it('client dm protocol: garbage is refused, nothing is stored, every stream is closed', async () => {
    const before = await bobState()
    const nodeBefore = await nodeState()
    const tally = await fuzz(bob.libp2p.getMultiaddrs()[0]!, bob.libp2p, targets().dm)
    assert.deepEqual(await bobState(), before, 'bob stored or showed something from the garbage')
    assert.deepEqual(await nodeState(), nodeBefore)
    assert.ok(Object.keys(tally).some(k => k.endsWith(': answered')), JSON.stringify(tally))
    assert.equal(bob.connectionState, 'connected')
    await stillServes()
  })
})
