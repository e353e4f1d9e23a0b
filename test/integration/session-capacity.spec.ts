/**
 * What the rendezvous node does to make a reconnect cheaper (issue 10) keeps what a session
 * promises: a certificate handed back again is refused once its account is disabled or its device
 * logged out, an old one is replaced, and the directory in a welcome is never an old snapshot.
 * And a session that stops beating takes its connection with it.
 */
import assert from 'node:assert/strict'
import { cp } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { Harness, EventLog, eventually, LOOPBACK_GOSSIP, TEST_SCRYPT, TEST_PASSWORD } from '../../src/testing/index.js'
import { Home, authRequest, logout } from '../../src/client/index.js'
import { generateAccountKey, issueCertificate, loadOrCreateKey, wrapAccountKey } from '../../src/crypto/index.js'
import { openAdmin, withAdmin } from '../../src/rendezvous/admin.js'
import { CERT_REUSE_MS } from '../../src/rendezvous/constants.js'
import { MAX_FRAME_BYTES, SESSION_PROTOCOL, sessionServerFrame } from '../../src/protocol/index.js'
import { createMeshNode, frameStream, readFrame, writeFrame } from '../../src/net/index.js'
import type { MeshClient } from '../../src/client/index.js'
import type { FrameStream, MeshNode } from '../../src/net/index.js'
import type { PresenceEvent, SessionServerFrame } from '../../src/protocol/index.js'
import type { Stream } from '@libp2p/interface'
import { rejectsNamed } from '../assert.js'


describe('session capacity', function () {
  let h: Harness
  beforeEach(async () => { h = new Harness(); await h.startRendezvous() })
  afterEach(async () => { await h.stop() })

  const certOf = async (c: MeshClient): Promise<{ issued: number, sig: string }> => (await new Home(c.home.dir).requireLogin()).cert

  it('hands a fresh certificate back on reconnect, and signs a new one for one older than a day', async () => {
    const alice = await h.client('alice')
    const first = await certOf(alice)
    await alice.stop()
    const again = await h.startClient(alice.home.dir)
    assert.deepEqual(await certOf(again), first, 'the same certificate')
    await again.stop()

    // a certificate this node signed two days ago (still valid for 28) is replaced
    const key = await loadOrCreateKey(join(h.rendezvousDataDir, 'node.key'))
    const home = new Home(alice.home.dir)
    const login = await home.requireLogin()
    const old = await issueCertificate(key, 'alice', login.cert.device, Date.now() - 2 * CERT_REUSE_MS)
    await home.saveCertificate(old)
    const before = Date.now()
    const third = await h.startClient(alice.home.dir)
    const renewed = await certOf(third)
    assert.notEqual(renewed.sig, old.sig)
    assert.ok(renewed.issued >= before, 'a new certificate')
  })

  it('refuses a certificate it would hand back once the account is disabled or the device logged out', async () => {
    const alice = await h.client('alice')
    await alice.stop()
    const admin = await openAdmin(h.rendezvousDataDir, { scrypt: TEST_SCRYPT })
    try {
      await admin.setDisabled('alice', true)
      await rejectsNamed(h.startClient(alice.home.dir), 'AccountDisabledError')
      await admin.setDisabled('alice', false)
    } finally {
      await admin.close()
    }
    const back = await h.startClient(alice.home.dir)
    assert.equal(back.connectionState, 'connected')
    await back.stop()

    // keep the home (its login and fresh certificate) past the logout, and show it again
    const saved = join(await h.tempDir('saved'), 'home')
    await cp(alice.home.dir, saved, { recursive: true })
    await logout(alice.home.dir)
    await cp(saved, alice.home.dir, { recursive: true, force: true })
    await rejectsNamed(h.startClient(alice.home.dir), 'InvalidCertificateError')
  })

  it('welcomes each device with the directory as it is now', async () => {
    const bob = await h.client('bob')
    const carol = await h.client('carol')
    const seen = async (c: MeshClient, user: string): Promise<{ online: boolean, devices: number, lastSeen: number | null, disabled?: boolean } | undefined> => {
      const u = (await c.users()).find(x => x.user === user)
      return u == null ? undefined : { online: u.online, devices: u.devices.length, lastSeen: u.lastSeen, ...(u.disabled === true ? { disabled: true } : {}) }
    }
    // what carol's welcome said about bob (read before any later event could change it)
    assert.deepEqual(await seen(carol, 'bob'), { online: true, devices: 1, lastSeen: null })

    await bob.stop()
    await eventually(async () => (await seen(carol, 'bob'))?.online === false, 5_000, 'carol to see bob leave')
    await eventually(async () => (await h.rendezvous!.store.getAccount('bob'))?.lastSeen != null, 5_000, 'bob\'s lastSeen written')
    const dave = await h.client('dave')
    const offline = await seen(dave, 'bob')
    assert.equal(offline?.online, false)
    assert.equal(offline?.devices, 0)
    assert.notEqual(offline?.lastSeen, null, 'the lastSeen written when bob left')
    assert.ok((await dave.users()).some(u => u.user === 'dave' && u.online), 'dave sees himself online')

    const bob2 = await h.startClient(bob.home.dir)
    const erin = await h.client('erin')
    assert.deepEqual((await seen(erin, 'bob'))?.online, true)
    assert.equal((await seen(erin, 'dave'))?.online, true)

    const admin = await openAdmin(h.rendezvousDataDir, { scrypt: TEST_SCRYPT })
    try {
      await admin.setDisabled('carol', true)
    } finally {
      await admin.close()
    }
    const frank = await h.client('frank')
    assert.equal((await seen(frank, 'carol'))?.disabled, true)
    assert.equal((await seen(frank, 'carol'))?.online, false)
    await bob2.stop()
  })

  it('closes the connection of a device whose session stopped beating, and leaves the others alone', async () => {
    const alice = await h.client('alice')
    const server = multiaddr(h.serverAddress)
    // a second device of alice that logs in and opens a session, then reads but never pings
    const quiet = await createMeshNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], gossip: LOOPBACK_GOSSIP })
    try {
      const { cert } = await authRequest(quiet, server, { op: 'login', user: 'alice', password: TEST_PASSWORD }, { signal: AbortSignal.timeout(10_000) })
      const lp = frameStream(await quiet.dialProtocol(server, SESSION_PROTOCOL))
      await writeFrame(lp, { t: 'hello', cert, addrs: [] })
      const welcome = await readFrame(lp, sessionServerFrame, { signal: AbortSignal.timeout(5_000) })
      assert.equal(welcome.t, 'welcome')
      void (async () => { for (;;) await lp.read() })().catch(() => {})
      const node = h.rendezvous!.libp2p
      const quietPeer = quiet.peerId
      await eventually(() => h.rendezvous!.presence.devices('alice').length === 2, 5_000, 'both of alice\'s devices online')
      // three missed beats (heartbeatMs 500 in the harness): the session ends, and its connection with it
      await eventually(() => node.getConnections(quietPeer).length === 0, 10_000, 'the silent device\'s connection to close')
      // the device hears of it when the close reaches its socket, a moment later
      await eventually(() => quiet.getConnections(node.peerId).length === 0, 5_000, 'the connection to close on the device\'s side too')
      assert.deepEqual(h.rendezvous!.presence.devices('alice').map(d => d.peer), [alice.peerId])
      // the device that beats keeps its session and its connection
      assert.equal(alice.connectionState, 'connected')
      assert.ok(node.getConnections(alice.libp2p.peerId).length > 0)
    } finally {
      await quiet.stop()
    }
  })

  it('welcomes a device that shows its directory version with only the users changed since', async () => {
    await h.clientsFor(['alice', 'bob'])
    const server = multiaddr(h.serverAddress)
    const dev = await createMeshNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], gossip: LOOPBACK_GOSSIP })
    try {
      const { cert } = await authRequest(dev, server, { op: 'login', user: 'alice', password: TEST_PASSWORD }, { signal: AbortSignal.timeout(10_000) })
      const welcome = async (since?: unknown): Promise<{ users: string[], delta?: boolean, dir?: { epoch: string, v: number } }> => {
        const stream = await dev.dialProtocol(server, SESSION_PROTOCOL)
        const lp = frameStream(stream)
        await writeFrame(lp, { t: 'hello', cert, addrs: [], ...(since == null ? {} : { since }) })
        const w = await readFrame(lp, sessionServerFrame, { signal: AbortSignal.timeout(5_000) })
        stream.abort(new Error('done'))
        assert.equal(w.t, 'welcome')
        if (w.t !== 'welcome') throw new Error('no welcome')
        await eventually(() => h.rendezvous!.presence.devices('alice').length === 1, 5_000, 'the raw session to end')
        return { users: w.users.map(u => u.user), ...(w.delta == null ? {} : { delta: w.delta }), ...(w.dir == null ? {} : { dir: w.dir }) }
      }
      const full = await welcome()
      assert.deepEqual([full.delta, full.users], [false, ['alice', 'bob']])
      assert.ok(full.dir != null)
      // away: bob leaves and carol registers; alice's other device is untouched but this one's came and went
      const carol = await h.client('carol')
      const again = await welcome(full.dir)
      assert.equal(again.delta, true)
      assert.deepEqual(again.users, ['alice', 'carol'], 'the users changed since (alice: this device\'s own session ended), not bob')
      assert.ok(again.dir!.v > full.dir!.v)
      await carol.stop()
      await eventually(async () => (await h.rendezvous!.store.getAccount('carol'))?.lastSeen != null, 5_000, 'carol\'s lastSeen written')
      const third = await welcome(again.dir)
      assert.deepEqual([third.delta, third.users], [true, ['alice', 'carol']])
      // a version of another node run, or malformed: a whole directory, or a refusal
      assert.deepEqual((await welcome({ epoch: 'another-run', v: 1 })).users, ['alice', 'bob', 'carol'])
      const bad = frameStream(await dev.dialProtocol(server, SESSION_PROTOCOL))
      await writeFrame(bad, { t: 'hello', cert, addrs: [], since: { epoch: 'x'.repeat(100), v: -1 } })
      assert.equal((await readFrame(bad, sessionServerFrame, { signal: AbortSignal.timeout(5_000) })).t, 'error')
    } finally {
      await dev.stop()
    }
  })

  it('welcomes a device back with the changes after the last event it read, not after its welcome', async () => {
    await h.client('alice')
    const server = multiaddr(h.serverAddress)
    const raw = async (): Promise<MeshNode> => await createMeshNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], gossip: LOOPBACK_GOSSIP })
    const [a, c] = [await raw(), await raw()]
    try {
      const aCert = (await authRequest(a, server, { op: 'login', user: 'alice', password: TEST_PASSWORD }, { signal: AbortSignal.timeout(10_000) })).cert
      const k = generateAccountKey()
      const cCert = (await authRequest(c, server, { op: 'register', user: 'carol', password: TEST_PASSWORD, accountKey: { publicKey: k.publicKey, wrapped: await wrapAccountKey(k.privateKey, TEST_PASSWORD, TEST_SCRYPT) } }, { signal: AbortSignal.timeout(10_000) })).cert
      const open = async (node: MeshNode, cert: unknown, since?: unknown): Promise<{ lp: FrameStream, stream: Stream, welcome: Extract<SessionServerFrame, { t: 'welcome' }> }> => {
        const stream = await node.dialProtocol(server, SESSION_PROTOCOL)
        const lp = frameStream(stream)
        await writeFrame(lp, { t: 'hello', cert, addrs: [], ...(since == null ? {} : { since }) })
        const welcome = await readFrame(lp, sessionServerFrame, { signal: AbortSignal.timeout(5_000) })
        if (welcome.t !== 'welcome') throw new Error(`no welcome: ${JSON.stringify(welcome)}`)
        return { lp, stream, welcome }
      }
      const first = await open(a, aCert)
      let dir = first.welcome.dir!
      // alice's device reads carol coming online and leaving, and the version after each
      const readUntil = async (pred: (ev: PresenceEvent) => boolean): Promise<void> => {
        for (;;) {
          const f = await readFrame(first.lp, sessionServerFrame, { signal: AbortSignal.timeout(5_000) })
          if (f.t !== 'event') continue
          if (f.v != null) dir = { epoch: dir.epoch, v: f.v }
          if (pred(f.ev) && f.v != null) return
        }
      }
      const carol = await open(c, cCert)
      await readUntil(ev => ev.type === 'presence' && ev.user === 'carol' && ev.online)
      carol.stream.abort(new Error('carol leaves'))
      await readUntil(ev => ev.type === 'presence' && ev.user === 'carol' && !ev.online)
      assert.ok(dir.v > first.welcome.dir!.v)
      first.stream.abort(new Error('alice reconnects'))
      await eventually(() => h.rendezvous!.presence.devices('alice').length === 1, 5_000, 'the raw session to end')
      const back = await open(a, aCert, dir)
      assert.equal(back.welcome.delta, true)
      const names = back.welcome.users.map(u => u.user)
      assert.ok(names.includes('alice'), 'alice changed since: this device went offline')
      assert.ok(!names.includes('carol'), `carol's changes were read as events before: ${names.join(', ')}`)
      // since its welcome, though, carol changed
      first.stream.abort(new Error('x'))
      back.stream.abort(new Error('done'))
      await eventually(() => h.rendezvous!.presence.devices('alice').length === 1, 5_000, 'the raw session to end')
      const fromWelcome = await open(a, aCert, first.welcome.dir)
      assert.ok(fromWelcome.welcome.users.some(u => u.user === 'carol'))
      fromWelcome.stream.abort(new Error('done'))
    } finally {
      await a.stop()
      await c.stop()
    }
  })

  it('leaves a reconnecting client with the same directory as a new one, from the changes alone', async () => {
    const bob = await h.client('bob')
    // dave stays as he is from before alice's welcome: the changes she is welcomed with later do not name him
    await h.client('dave')
    const alice = await h.client('alice')
    const welcomes = (kind: string): number => Number(new RegExp(`meshchat_welcomes_total\\{directory="${kind}"\\} (\\d+)`).exec(h.rendezvous!.metrics.render())?.[1] ?? 0)
    const changes = welcomes('changes')
    const node = h.rendezvous!.libp2p
    const log = new EventLog(alice)
    // the node drops alice's connection; she dials again by herself
    for (const c of node.getConnections(alice.libp2p.peerId)) c.abort(new Error('dropped by the test'))
    await bob.stop()
    const carol = await h.client('carol')
    await log.waitFor(ev => ev.type === 'connection' && ev.state === 'reconnecting', 10_000, 'alice to notice')
    await log.waitFor(ev => ev.type === 'connection' && ev.state === 'connected', 10_000, 'alice back')
    log.stop()
    // read at once, before any event of the new session: what the welcome left her with
    assert.ok((await alice.users()).some(u => u.user === 'dave' && u.online), 'dave, unchanged since her last welcome, kept from it')
    assert.equal(welcomes('changes'), changes + 1, 'alice welcomed with the changes since her directory')
    const view = async (c: MeshClient): Promise<unknown> => (await c.users()).map(u => [u.user, u.online, u.devices.map(d => d.peer), u.lastSeen != null])
    await eventually(async () => JSON.stringify(await view(alice)) === JSON.stringify(await view(carol)), 5_000, 'alice to see what carol sees')
    assert.deepEqual((await view(alice) as unknown[]).map(u => (u as unknown[])[0]), ['alice', 'bob', 'carol', 'dave'])
  })
})

describe('a directory larger than one frame', function () {
  let h: Harness
  before(async () => {
    h = new Harness()
    await h.startRendezvous()
    // about 100 bytes an offline account without a key: 1,000 of them are past one 64 KiB frame
    await withAdmin(h.rendezvousDataDir, async admin => {
      for (let i = 0; i < 1000; i++) await admin.addUser(`user${String(i).padStart(3, '0')}`, TEST_PASSWORD)
    }, { scrypt: TEST_SCRYPT })
  })
  after(async () => { await h.stop() })

  const expected = (): string[] => ['alice', 'bob', ...Array.from({ length: 1000 }, (_, i) => `user${String(i).padStart(3, '0')}`)]

  it('reaches a device whole in its welcome pages, and in the users answer page by page', async () => {
    const alice = await h.client('alice')
    const users = await alice.users()
    assert.ok(JSON.stringify(users).length > MAX_FRAME_BYTES, 'the directory is larger than one frame')
    assert.deepEqual(users.map(u => u.user), ['alice', ...expected().slice(2)])
    assert.equal(users.find(u => u.user === 'alice')?.online, true)

    // without a session the directory is asked for, page after page
    const bob = await h.client('bob', { init: { session: false } })
    const asked = await bob.users()
    assert.deepEqual(asked.map(u => u.user), expected())
    assert.equal(asked.find(u => u.user === 'alice')?.online, true)
    assert.equal(new Set(asked.map(u => u.user)).size, asked.length, 'no one twice')

    // and presence after the pages still arrives
    const carol = await h.client('carol')
    await eventually(async () => (await alice.users()).find(u => u.user === 'carol')?.online === true, 5_000, 'alice to see carol come online')
    await carol.stop()
  })
})
