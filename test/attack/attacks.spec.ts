/**
 * Attacks as tests (issue 10, "Hardening"): a client flooding the global room, 10,000 password
 * guesses, a replayed room message, and another user's certificate presented by a stranger.
 */
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { Harness, EventLog, eventually, LOOPBACK_GOSSIP, TEST_PASSWORD, TEST_SCRYPT } from '../../src/testing/index.js'
import { createMeshNode, frameStream, readFrame, writeFrame, request } from '../../src/net/index.js'
import { signEnvelope, seal } from '../../src/crypto/index.js'
import { register, login, Home } from '../../src/client/index.js'
import { DEFAULT_ROOM_RATE, DEFAULT_ROOM_BURST } from '../../src/rendezvous/index.js'
import {
  AUTH_PROTOCOL, SESSION_PROTOCOL, DIRECTORY_PROTOCOL, ARCHIVE_PROTOCOL, GLOBAL_ROOM, roomTopic, roomConversation,
  authResponse, directoryResponse, archiveResponse, sessionServerFrame, encodeFrame, MAX_ARCHIVE_FRAME_BYTES
} from '../../src/protocol/index.js'
import type { GossipInit, MeshNode } from '../../src/net/index.js'
import type { MeshClient } from '../../src/client/index.js'
import type { Logger } from '../../src/rendezvous/index.js'
import type { TextEnvelope } from '../../src/protocol/index.js'

const TOPIC = roomTopic(GLOBAL_ROOM)
/** A device may publish this many room messages a second, this many at once (the defaults). */
const ROOM_RATE = DEFAULT_ROOM_RATE
const ROOM_BURST = DEFAULT_ROOM_BURST

/** A logger that keeps the reasons the rendezvous node gave for rejecting room messages. */
function rejectionLogger (reasons: string[]): Logger {
  return {
    debug: () => {},
    info: (msg, f) => { if (msg === 'room message rejected') reasons.push(String(f?.reason)) },
    warn: () => {},
    error: () => {}
  }
}

function textsOf (log: EventLog, from?: string): string[] {
  return log.events.flatMap(e => e.type === 'message' && (from == null || e.message.from === from) ? [e.message.text] : [])
}

/**
 * The gossipsub instance behind its public interface keeps peer scores (see
 * node_modules/@libp2p/gossipsub/dist/src/gossipsub.d.ts): `getScore` and the thresholds.
 */
interface ScoredPubsub {
  getScore: (peer: string) => number
  opts: { scoreThresholds: { graylistThreshold: number } }
}

function scored (node: MeshNode): ScoredPubsub {
  const pubsub = node.services.pubsub as unknown as ScoredPubsub
  assert.equal(typeof pubsub.getScore, 'function', 'gossipsub no longer has getScore')
  return pubsub
}

async function newRogue (): Promise<MeshNode> {
  return await createMeshNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], gossip: LOOPBACK_GOSSIP })
}

describe('attacks', function () {
  this.timeout(60_000)
  let h: Harness
  const rogues: MeshNode[] = []
  const logs: EventLog[] = []
  const rejected: string[] = []

  afterEach(async () => {
    for (const l of logs.splice(0)) l.stop()
    await Promise.allSettled(rogues.splice(0).map(async r => { await r.stop() }))
    await h.stop()
    rejected.length = 0
  })

  function logOf (c: MeshClient): EventLog {
    const l = new EventLog(c)
    logs.push(l)
    return l
  }

  /** Waits until `c` has `n` room peers (the rendezvous node and other clients). */
  async function roomPeers (c: MeshClient, n: number): Promise<void> {
    await eventually(() => c.libp2p.services.pubsub.getSubscribers(TOPIC).length >= n, 10_000, `${c.user} to see ${n} room peers`)
  }

  describe('a client flooding the global room', function () {
    // loopback peers whitelisted (tests), and the colocation penalty of real networks (STACK-FACTS.md)
    const configs: Array<[string, GossipInit]> = [['loopback whitelisted', LOOPBACK_GOSSIP], ['colocation penalty on', {}]]
    for (const [label, gossip] of configs) {
      it(`has its excess dropped by every peer, its score falls below 0, and the others keep chatting (${label})`, async () => {
        h = new Harness({ rendezvous: { logger: rejectionLogger(rejected), gossip }, client: { gossip } })
        await h.startRendezvous()
        const [mallory, alice, bob] = await h.clientsFor(['mallory', 'alice', 'bob']) as [MeshClient, MeshClient, MeshClient]
        const aliceLog = logOf(alice)
        const bobLog = logOf(bob)
        // everyone meshes with everyone: the flood reaches alice and bob directly, not only via the node
        for (const c of [mallory, alice, bob]) await roomPeers(c, 3)
        const pubsub = mallory.libp2p.services.pubsub
        const key = await mallory.home.deviceKey()
        const cert = (await mallory.home.requireLogin()).cert
        const malloryId = mallory.peerId
        const node = h.rendezvous!.libp2p

        const FLOOD = 1_000
        const started = Date.now()
        // alice and bob chat while mallory floods, far past her client's own checks
        const chat = (async () => {
          for (let i = 0; i < 5; i++) {
            await alice.send('#global', `alice ${i}`)
            await bob.send('#global', `bob ${i}`)
          }
        })()
        for (let i = 0; i < FLOOD; i++) {
          const env = await signEnvelope(key, cert, { conv: roomConversation(GLOBAL_ROOM), kind: 'text', body: { text: `flood ${i}` } })
          await pubsub.publish(TOPIC, encodeFrame(env)).catch(() => {})
        }
        await chat
        // the others keep chatting: every chat message arrives on the other side
        await eventually(() => textsOf(bobLog, 'alice').length === 5 && textsOf(aliceLog, 'bob').length === 5, 10_000, 'the chat to arrive')

        // mallory's gossipsub score at her peers falls below 0, and on below the graylist threshold:
        // from then on they ignore whatever she sends
        const scoreAt = (n: MeshNode): number => scored(n).getScore(malloryId)
        const graylisted = (n: MeshNode): boolean => scoreAt(n) < scored(n).opts.scoreThresholds.graylistThreshold
        await eventually(() => [alice.libp2p, bob.libp2p, node].every(graylisted), 10_000, 'mallory\'s score to fall below the graylist threshold')
        for (const n of [alice.libp2p, bob.libp2p, node]) assert.ok(scoreAt(n) < 0)

        // her excess was dropped: each peer let through at most its rate allows
        const elapsed = (Date.now() - started) / 1000
        const allowed = ROOM_BURST + ROOM_RATE * elapsed + 1
        const floodAt = (log: EventLog): number => textsOf(log, 'mallory').filter(t => t.startsWith('flood ')).length
        const stored = (await h.rendezvous!.store.readRoom(GLOBAL_ROOM, null, 5_000)).filter(r => (r.envelope as TextEnvelope).author === 'mallory').length
        assert.ok(floodAt(aliceLog) <= allowed, `alice got ${floodAt(aliceLog)} flood messages in ${elapsed} s, at most ${allowed} allowed`)
        assert.ok(floodAt(bobLog) <= allowed, `bob got ${floodAt(bobLog)} flood messages in ${elapsed} s, at most ${allowed} allowed`)
        assert.ok(stored <= allowed, `the node kept ${stored} flood messages in ${elapsed} s, at most ${allowed} allowed`)
        assert.ok(floodAt(aliceLog) < FLOOD / 4 && floodAt(bobLog) < FLOOD / 4)
        // a real user within her rate is heard: the first burst went through
        assert.ok(floodAt(aliceLog) >= ROOM_BURST / 2 && floodAt(bobLog) >= ROOM_BURST / 2 && stored >= ROOM_BURST / 2)
        // the node dropped the excess it saw before it stopped listening to her
        assert.ok(rejected.filter(r => r === 'over rate').length >= 40, `the node rejected ${rejected.filter(r => r === 'over rate').length} as over rate`)

        // alice, bob and the node are not blamed for flood messages they forwarded
        const honest: Array<[string, MeshNode, string]> = [
          ['alice at bob', bob.libp2p, alice.peerId], ['bob at alice', alice.libp2p, bob.peerId],
          ['alice at the node', node, alice.peerId], ['bob at the node', node, bob.peerId],
          ['the node at alice', alice.libp2p, h.rendezvous!.peerId], ['the node at bob', bob.libp2p, h.rendezvous!.peerId]
        ]
        for (const [who, at, peer] of honest) {
          assert.ok(scored(at).getScore(peer) >= 0, `score of ${who} fell to ${scored(at).getScore(peer)}`)
        }
        // and they chat on after the flood
        await alice.send('#global', 'still here')
        await bob.send('#global', 'me too')
        await bobLog.waitFor(e => e.type === 'message' && e.message.text === 'still here', 5_000, 'a message after the flood')
        await aliceLog.waitFor(e => e.type === 'message' && e.message.text === 'me too', 5_000, 'a message after the flood')
      })
    }
  })

  describe('10,000 password guesses against one account from one address', function () {
    it('all fail, nearly all without a check, and the real user still logs in after the wait', async () => {
      h = new Harness({ rendezvous: { failureBaseDelayMs: 50 } })
      await h.startRendezvous()
      const server = multiaddr(h.serverAddress)
      await register({ home: await h.tempDir('victim'), server: h.serverAddress, user: 'victim', password: TEST_PASSWORD, wrapScrypt: TEST_SCRYPT })
      // one address (127.0.0.1), many device keys: a fresh key per connection does not buy more guesses
      const DEVICES = 25
      const IN_FLIGHT_PER_DEVICE = 2
      const GUESSES = 10_000
      for (let i = 0; i < DEVICES; i++) rogues.push(await newRogue())
      const answers = new Map<string, number>()
      let next = 0
      const started = Date.now()
      await Promise.all(rogues.flatMap(rogue => Array.from({ length: IN_FLIGHT_PER_DEVICE }, async () => {
        while (next < GUESSES) {
          const i = next++
          let name: string
          try {
            await request(rogue, server, AUTH_PROTOCOL, { op: 'login', user: 'victim', password: `guess number ${i}` }, authResponse)
            name = 'success'
          } catch (err) {
            name = (err as Error).name
          }
          answers.set(name, (answers.get(name) ?? 0) + 1)
        }
      })))
      const guessing = Date.now() - started
      const summary = JSON.stringify(Object.fromEntries(answers))
      assert.equal([...answers.values()].reduce((a, b) => a + b, 0), GUESSES)
      assert.equal(answers.get('success') ?? 0, 0, summary)
      // slowed: only a handful were checked against the password hash, the rest were refused unseen
      const checked = answers.get('WrongPasswordError') ?? 0
      assert.ok(checked >= 1 && checked <= 20, `${checked} guesses were checked in ${guessing} ms: ${summary}`)
      assert.ok((answers.get('RateLimitedError') ?? 0) >= GUESSES - 20, summary)

      // the real user, from the same address, gets in once the wait has passed (bounded)
      const home = await h.tempDir('victim-2')
      let refused = 0
      await eventually(async () => {
        try {
          await login({ home, server: h.serverAddress, user: 'victim', password: TEST_PASSWORD, wrapScrypt: TEST_SCRYPT })
          return true
        } catch (err) {
          assert.equal((err as Error).name, 'RateLimitedError')
          refused++
          return false
        }
      }, 25_000, `the real user to log in after ${guessing} ms of guessing`)
      assert.equal((await new Home(home).requireLogin()).user, 'victim')
      // a wrong password right after the real login is checked again, not throttled
      await assert.rejects(login({ home: await h.tempDir('victim-3'), server: h.serverAddress, user: 'victim', password: 'not the password', wrapScrypt: TEST_SCRYPT }), { name: 'WrongPasswordError' })
    })
  })

  describe('a replayed room message', function () {
    it('is delivered once, whoever publishes it again and whenever', async () => {
      h = new Harness({ rendezvous: { logger: rejectionLogger(rejected) } })
      await h.startRendezvous()
      const [alice, bob, carol] = await h.clientsFor(['alice', 'bob', 'carol']) as [MeshClient, MeshClient, MeshClient]
      const bobLog = logOf(bob)
      const carolLog = logOf(carol)
      for (const c of [alice, bob, carol]) await roomPeers(c, 3)
      const rogue = await newRogue()
      rogues.push(rogue)
      rogue.services.pubsub.subscribe(TOPIC)
      await rogue.dial(multiaddr(h.serverAddress))
      await rogue.dial(bob.libp2p.getMultiaddrs()[0]!)
      await eventually(() => rogue.services.pubsub.getSubscribers(TOPIC).length >= 2, 5_000, 'the rogue to see room members')

      const sent = await alice.send('#global', 'only once')
      await bobLog.waitFor(e => e.type === 'message' && e.message.id === sent.id, 5_000, 'bob to get it')
      await carolLog.waitFor(e => e.type === 'message' && e.message.id === sent.id, 5_000, 'carol to get it')
      // the exact signed envelope as it travelled, kept by the node for the room's history
      const kept = (await h.rendezvous!.store.readRoom(GLOBAL_ROOM, null, 100)).find(r => r.id === sent.id)
      assert.ok(kept != null)
      const bytes = encodeFrame(kept.envelope)
      // gossipsub messages bob's node accepted that carry this envelope
      let copiesAtBob = 0
      bob.libp2p.services.pubsub.addEventListener('gossipsub:message', evt => {
        if (evt.detail.msg.topic === TOPIC && Buffer.from(evt.detail.msg.data).equals(Buffer.from(bytes))) copiesAtBob++
      })

      // another member and a stranger publish it again: they are not the device that signed it
      await carol.libp2p.services.pubsub.publish(TOPIC, bytes)
      await rogue.services.pubsub.publish(TOPIC, bytes)
      await eventually(() => rejected.filter(r => r === 'publisher is not the signing device').length >= 2, 5_000, 'the node to reject both replays')
      // alice's own device publishes the same envelope again: a new gossipsub message, the same message id
      await alice.libp2p.services.pubsub.publish(TOPIC, bytes)
      await eventually(() => copiesAtBob >= 1, 5_000, 'the replay from alice\'s device to reach bob')

      // later still, after bob restarted (only his store remembers the message now)
      const bobHome = bob.home.dir
      bobLog.stop()
      await bob.stop()
      const bob2 = await h.startClient(bobHome)
      const bob2Log = logOf(bob2)
      await roomPeers(bob2, 2)
      await eventually(() => alice.libp2p.services.pubsub.getSubscribers(TOPIC).some(p => p.toString() === bob2.peerId), 5_000, 'alice to see bob again')
      let copiesAtBob2 = 0
      bob2.libp2p.services.pubsub.addEventListener('gossipsub:message', evt => {
        if (evt.detail.msg.topic === TOPIC && Buffer.from(evt.detail.msg.data).equals(Buffer.from(bytes))) copiesAtBob2++
      })
      await alice.libp2p.services.pubsub.publish(TOPIC, bytes)
      await eventually(() => copiesAtBob2 >= 1, 5_000, 'the late replay to reach bob')

      // a fresh message goes through as usual
      await alice.send('#global', 'after the replays')
      await bob2Log.waitFor(e => e.type === 'message' && e.message.text === 'after the replays', 5_000, 'the next message')
      await carolLog.waitFor(e => e.type === 'message' && e.message.text === 'after the replays', 5_000, 'the next message')

      const deliveries = (log: EventLog): number => log.events.filter(e => e.type === 'message' && e.message.id === sent.id).length
      assert.equal(deliveries(bobLog), 1)
      assert.equal(deliveries(bob2Log), 0, 'the restarted bob showed the old message again')
      assert.equal(deliveries(carolLog), 1)
      assert.equal((await bob2.history.page('#global')).messages.filter(m => m.id === sent.id).length, 1)
      assert.equal((await carol.history.page('#global')).messages.filter(m => m.id === sent.id).length, 1)
      assert.equal((await h.rendezvous!.store.readRoom(GLOBAL_ROOM, null, 100)).filter(r => r.id === sent.id).length, 1)
    })
  })

  describe('another user\'s valid certificate', function () {
    it('is refused on the session, directory, archive and logout protocols: it names another device', async () => {
      h = new Harness()
      await h.startRendezvous()
      const [alice, bob] = await h.clientsFor(['alice', 'bob']) as [MeshClient, MeshClient]
      const server = multiaddr(h.serverAddress)
      const aliceCert = (await alice.home.requireLogin()).cert
      const aliceKey = (await alice.home.readAccountKey())!.publicKey
      const store = h.rendezvous!.store
      const before = { head: await store.archiveHead('alice'), devices: await store.listDevices('alice') }
      const rogue = await newRogue()
      rogues.push(rogue)

      // a stranger's node, and bob's own logged-in device, each presenting alice's certificate
      for (const [who, node] of [['a stranger', rogue], ['bob\'s device', bob.libp2p]] as const) {
        const refused = { name: 'InvalidCertificateError' }
        await assert.rejects(request(node, server, DIRECTORY_PROTOCOL, { op: 'users', cert: aliceCert }, directoryResponse), refused, `${who}: directory users`)
        await assert.rejects(request(node, server, DIRECTORY_PROTOCOL, { op: 'user', cert: aliceCert, user: 'bob' }, directoryResponse), refused, `${who}: directory user`)
        await assert.rejects(request(node, server, ARCHIVE_PROTOCOL, { op: 'fetch', cert: aliceCert, after: 0, limit: 100 }, archiveResponse, { maxFrameBytes: MAX_ARCHIVE_FRAME_BYTES }), refused, `${who}: archive fetch`)
        await assert.rejects(request(node, server, ARCHIVE_PROTOCOL, { op: 'room', cert: aliceCert, room: GLOBAL_ROOM, after: null, limit: 100 }, archiveResponse, { maxFrameBytes: MAX_ARCHIVE_FRAME_BYTES }), refused, `${who}: archive room`)
        const sealed = seal(aliceKey, encodeFrame({ not: 'from alice' }))
        await assert.rejects(request(node, server, ARCHIVE_PROTOCOL, { op: 'put', cert: aliceCert, items: [{ to: 'alice', sealed }] }, archiveResponse, { maxFrameBytes: MAX_ARCHIVE_FRAME_BYTES }), refused, `${who}: archive put`)
        await assert.rejects(request(node, server, AUTH_PROTOCOL, { op: 'logout', cert: aliceCert }, authResponse), refused, `${who}: logout`)
        // a session opened with it is refused before anything is sent about anyone
        const stream = await node.dialProtocol(server, SESSION_PROTOCOL)
        const lp = frameStream(stream)
        await writeFrame(lp, { t: 'hello', cert: aliceCert, addrs: [] })
        const answer = await readFrame(lp, sessionServerFrame, { signal: AbortSignal.timeout(5_000) })
        assert.equal(answer.t, 'error', `${who}: session`)
        assert.equal(answer.t === 'error' ? answer.error.name : undefined, 'InvalidCertificateError')
        await eventually(() => stream.status !== 'open', 5_000, 'the session stream to close')
      }

      // alice is untouched: still logged in, online with her one device, nothing left in her archive
      assert.equal(await store.archiveHead('alice'), before.head)
      assert.deepEqual((await store.listDevices('alice')).map(d => ({ peer: d.peer, loggedIn: d.loggedIn })), before.devices.map(d => ({ peer: d.peer, loggedIn: d.loggedIn })))
      assert.equal(alice.connectionState, 'connected')
      const bobCert = (await bob.home.requireLogin()).cert
      const seen = await request(bob.libp2p, server, DIRECTORY_PROTOCOL, { op: 'user', cert: bobCert, user: 'alice' }, directoryResponse)
      assert.ok(seen.ok)
      assert.deepEqual(seen.users[0]!.devices.map(d => d.peer), [alice.peerId])
      assert.equal(seen.users[0]!.online, true)
      // and her certificate still works from her own device
      const own = await request(alice.libp2p, server, DIRECTORY_PROTOCOL, { op: 'users', cert: aliceCert }, directoryResponse)
      assert.ok(own.ok && own.users.length === 2)
    })
  })
})
