import assert from 'node:assert/strict'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Harness, EventLog, eventually, TEST_PASSWORD, TEST_SCRYPT } from '../../src/testing/index.js'
import { login } from '../../src/client/index.js'
import { seal, signEnvelope, EnvelopeChain } from '../../src/crypto/index.js'
import { request } from '../../src/net/index.js'
import { DM_PROTOCOL, MAX_ENVELOPE_BYTES, dmAck, dmConversation, encodeFrame } from '../../src/protocol/index.js'
import type { ClientEvent, MeshClient } from '../../src/client/index.js'

const isText = (text: string) => (e: ClientEvent): boolean => e.type === 'message' && e.message.text === text

describe('history', function () {
  let h: Harness
  beforeEach(async () => { h = new Harness(); await h.startRendezvous() })
  afterEach(async () => { await h.stop() })

  async function secondDevice (user: string, start = true): Promise<MeshClient> {
    const home = await h.tempDir(`${user}-dev`)
    await login({ home, server: h.serverAddress, user, password: TEST_PASSWORD, wrapScrypt: TEST_SCRYPT })
    return await h.startClient(home, start)
  }

  it('delivers to an offline user exactly once when a device comes online, and the sender sees it delivered', async () => {
    const [alice, bob] = await h.clientsFor(['alice', 'bob'])
    await h.connect(alice!, bob!)
    const bobHome = bob!.home.dir
    await bob!.stop()
    await eventually(async () => (await alice!.users()).find(u => u.user === 'bob')?.online === false)
    const aliceLog = new EventLog(alice!)
    const sent = []
    for (let i = 1; i <= 3; i++) sent.push(await alice!.send('bob', `offline ${i}`))
    assert.deepEqual(sent.map(s => s.status), ['sent', 'sent', 'sent'])
    const store = h.rendezvous!.store
    const heads = { alice: await store.archiveHead('alice'), bob: await store.archiveHead('bob') }
    const bobAgain = await h.startClient(bobHome, false)
    const bobLog = new EventLog(bobAgain)
    await bobAgain.start()
    for (let i = 1; i <= 3; i++) await bobLog.waitFor(isText(`offline ${i}`), 5_000, `offline ${i}`)
    const page = await bobAgain.history.page('alice')
    assert.deepEqual(page.messages.map(m => m.text), ['offline 1', 'offline 2', 'offline 3'])
    assert.deepEqual(await bobAgain.history.unread(), [{ target: 'alice', conv: 'dm:alice:bob', unread: 3 }])
    // the sender learns it was delivered
    for (const s of sent) await aliceLog.waitFor(e => e.type === 'status' && e.id === s.id && e.status === 'delivered', 5_000, 'delivered receipt')
    // the receipt waits in alice's archive too; bob's holds no copy of it (his devices have no use for it)
    await eventually(async () => await store.archiveHead('alice') > heads.alice, 5_000, 'the receipt in alice\'s archive')
    assert.equal(await store.archiveHead('bob'), heads.bob)
    // a second catch-up changes nothing
    await bobAgain.catchUp()
    assert.equal((await bobAgain.history.page('alice', { limit: 100 })).messages.length, 3)
  })

  it('a delivered message whose status cannot be stored: the send still says delivered, and an error event says why', async () => {
    const [alice, bob] = await h.clientsFor(['alice', 'bob'])
    await h.connect(alice!, bob!)
    const log = new EventLog(alice!)
    // the status write is what fails (a full disk, say); the message itself was stored before
    const store = (alice as unknown as { store: { raiseStatus: (...args: unknown[]) => Promise<unknown> } }).store
    store.raiseStatus = async () => { throw new Error('disk full') }
    const sent = await alice!.send('bob', 'status not kept')
    assert.equal(sent.status, 'delivered')
    const ev = await log.waitFor(e => e.type === 'error', 5_000, 'the error event')
    assert.ok(ev.type === 'error' && ev.error.message.includes(sent.id) && ev.error.message.endsWith('disk full'), JSON.stringify(ev))
    assert.equal((await alice!.history.page('bob')).messages.find(m => m.id === sent.id)?.text, 'status not kept')
  })

  it('keeps alice\'s two devices and bob in step: messages, read marks, unread counts and receipts', async () => {
    const [alice, bob] = await h.clientsFor(['alice', 'bob'])
    await h.connect(alice!, bob!)
    const alice2 = await secondDevice('alice')
    await eventually(async () => (await alice2.chatState('bob')).state === 'accepted', 5_000, 'the chat with bob synced to the new device')
    await eventually(async () => (await bob!.users()).find(u => u.user === 'alice')?.devices.length === 2, 5_000, 'both devices of alice')
    const logs = { alice: new EventLog(alice!), alice2: new EventLog(alice2), bob: new EventLog(bob!) }
    await bob!.send('alice', 'one')
    await bob!.send('alice', 'two')
    await logs.alice.waitFor(isText('two'))
    await logs.alice2.waitFor(isText('two'))
    assert.equal((await alice!.history.unread('bob'))[0]?.unread, 2)
    assert.equal((await alice2.history.unread('bob'))[0]?.unread, 2)
    // what alice sends from one device shows on the other
    const reply = await alice!.send('bob', 'reply from laptop')
    await logs.alice2.waitFor(isText('reply from laptop'), 5_000, 'own copy on the other device')
    await logs.bob.waitFor(isText('reply from laptop'))
    // reading on one device clears unread on the other and tells bob
    await alice!.history.markRead('bob')
    assert.equal((await alice!.history.unread('bob'))[0]?.unread, 0)
    await eventually(async () => (await alice2.history.unread('bob'))[0]?.unread === 0, 5_000, 'read mark synced to the other device')
    const bobMsgs = (await bob!.history.page('alice')).messages.filter(m => m.from === 'bob')
    for (const m of bobMsgs) await logs.bob.waitFor(e => e.type === 'status' && e.id === m.id && e.status === 'read', 5_000, 'read receipt at the sender')
    assert.deepEqual((await bob!.history.page('alice')).messages.filter(m => m.from === 'bob').map(m => m.status), ['read', 'read'])
    // bob reads alice's reply: alice's devices see it read
    await bob!.history.markRead('alice')
    await logs.alice.waitFor(e => e.type === 'status' && e.id === reply.id && e.status === 'read', 5_000, 'read at alice')
  })

  it('gives a brand-new device the full history of every conversation with the other devices off', async () => {
    const [alice, bob, carol] = await h.clientsFor(['alice', 'bob', 'carol'])
    await h.connect(alice!, bob!)
    await h.connect(carol!, alice!)
    await alice!.send('bob', 'a to b')
    await bob!.send('alice', 'b to a')
    await carol!.send('alice', 'c to a')
    await alice!.send('carol', 'a to c')
    const roomLog = new EventLog(bob!)
    await eventually(() => alice!.libp2p.services.pubsub.getSubscribers('/meshchat/room/global/1.0.0').length > 0)
    await alice!.send('#global', 'hello room')
    await roomLog.waitFor(isText('hello room'))
    await alice!.stop()
    const fresh = await secondDevice('alice')
    await fresh.catchUp()
    const convs = await fresh.history.conversations()
    assert.deepEqual(convs.map(c => c.target).sort(), ['#global', 'bob', 'carol'])
    assert.deepEqual((await fresh.history.page('bob')).messages.map(m => [m.from, m.text]), [['alice', 'a to b'], ['bob', 'b to a']])
    assert.deepEqual((await fresh.history.page('carol')).messages.map(m => [m.from, m.text]), [['carol', 'c to a'], ['alice', 'a to c']])
    assert.deepEqual((await fresh.history.page('#global')).messages.map(m => m.text), ['hello room'])
  })

  it('backfills a long archive to a new device page by page, in order, once each, skipping what it cannot trust', async () => {
    // chained as a device signs them (each carries its predecessor's hash): a page's run costs one signature
    const [alice, bob] = await h.clientsFor(['alice', 'bob'])
    const aliceKey = await alice!.home.deviceKey()
    const aliceCert = (await alice!.home.requireLogin()).cert
    const bobKey = (await bob!.home.readAccountKey())!.publicKey
    const conv = dmConversation('alice', 'bob')
    const base = Date.now() - 60_000
    const sealFor = async (env: unknown): Promise<string> => seal(bobKey, encodeFrame(env, MAX_ENVELOPE_BYTES))
    // the chat's request and acceptance come first, as they would have; then more than two pages of messages
    const asked = await signEnvelope(aliceKey, aliceCert, { conv, kind: 'request', body: {}, sentAt: base - 2 })
    const accepted = await signEnvelope(await bob!.home.deviceKey(), (await bob!.home.requireLogin()).cert, { conv, kind: 'accept', body: {}, sentAt: base - 1 })
    const items = [
      { to: 'bob', from: 'alice', sealed: await sealFor(asked), at: Date.now() },
      { to: 'bob', from: 'bob', sealed: await sealFor(accepted), at: Date.now() }
    ]
    const COUNT = 1_100
    const CHANGED = 60
    const chain = new EnvelopeChain()
    for (let i = 0; i < COUNT; i++) {
      const env = await signEnvelope(aliceKey, aliceCert, { conv, kind: 'text', body: { text: `m${i}` }, n: i + 1, sentAt: base + i }, { chain })
      // inside the chain, a message changed in the archive (its successor's hash no longer names it)
      const kept = i === CHANGED ? { ...env, body: { text: 'changed in the chain' } } : env
      items.push({ to: 'bob', from: 'alice', sealed: await sealFor(kept), at: Date.now() })
      if (i === 10) items.push({ to: 'bob', from: 'alice', sealed: await sealFor(env), at: Date.now() }) // a second copy
      // alice's message put into bob's archive by someone else
      if (i === 20) items.push({ to: 'bob', from: 'carol', sealed: await sealFor(await signEnvelope(aliceKey, aliceCert, { conv, kind: 'text', body: { text: 'via carol' }, sentAt: base + i })), at: Date.now() })
      if (i === 30) items.push({ to: 'bob', from: 'alice', sealed: await sealFor({ ...env, id: 'f'.repeat(32), body: { text: 'changed' } }), at: Date.now() }) // signature broken
      if (i === 40) items.push({ to: 'bob', from: 'alice', sealed: 'AAAA' + await sealFor(env), at: Date.now() }) // damaged
    }
    await h.rendezvous!.store.appendArchive(items)
    await alice!.stop()
    await bob!.stop()

    const fresh = await secondDevice('bob', false)
    const log = new EventLog(fresh)
    await fresh.start()
    await fresh.catchUp()
    // pages hold at most 1,000: the newest, then the one before it
    const page = await fresh.history.page('alice', { limit: 1_000 })
    const older = await fresh.history.page('alice', { limit: 1_000, before: page.messages[0]!.id })
    assert.deepEqual([...older.messages, ...page.messages].map(m => m.text), Array.from({ length: COUNT }, (_, i) => `m${i}`).filter((_, i) => i !== CHANGED))
    assert.deepEqual(page.gaps, [{ device: aliceCert.device, author: 'alice', missing: [CHANGED + 1] }])
    assert.deepEqual(await fresh.history.unread(), [{ target: 'alice', conv, unread: COUNT - 1 }])
    assert.equal(log.events.filter(e => e.type === 'message').length, COUNT - 1)
    assert.equal((await fresh.chatState('alice')).state, 'accepted')
  })

  it('pages a conversation with --before, newest last', async () => {
    const [alice, bob] = await h.clientsFor(['alice', 'bob'])
    await h.connect(alice!, bob!)
    for (let i = 1; i <= 25; i++) await alice!.send('bob', `m${i}`)
    await eventually(async () => (await bob!.history.conversations())[0]?.count === 25, 5_000, 'all 25 at bob')
    const last = await bob!.history.page('alice')
    assert.deepEqual(last.messages.map(m => m.text), Array.from({ length: 10 }, (_, i) => `m${i + 16}`))
    const before = await bob!.history.page('alice', { before: last.messages[0]!.id, limit: 10 })
    assert.deepEqual(before.messages.map(m => m.text), Array.from({ length: 10 }, (_, i) => `m${i + 6}`))
    const first = await bob!.history.page('alice', { before: before.messages[0]!.id, limit: 10 })
    assert.deepEqual(first.messages.map(m => m.text), ['m1', 'm2', 'm3', 'm4', 'm5'])
    assert.deepEqual(last.gaps, [])
  })

  it('sorts conversations by last activity and counts unread per conversation', async () => {
    const [alice, bob, carol] = await h.clientsFor(['alice', 'bob', 'carol'])
    await h.connect(bob!, alice!)
    await h.connect(carol!, alice!)
    const log = new EventLog(alice!)
    await bob!.send('alice', 'from bob')
    await carol!.send('alice', 'from carol 1')
    await carol!.send('alice', 'from carol 2')
    await log.waitFor(isText('from carol 2'))
    const convs = (await alice!.history.conversations()).sort((a, b) => b.lastActivity - a.lastActivity)
    assert.deepEqual(convs.map(c => [c.target, c.unread]), [['carol', 2], ['bob', 1]])
    await alice!.history.markRead('carol')
    assert.deepEqual(await alice!.history.unread(), [{ target: 'bob', conv: 'dm:alice:bob', unread: 1 }])
  })

  it('keeps only ciphertext of direct messages in the rendezvous node\'s files', async () => {
    const [alice, bob] = await h.clientsFor(['alice', 'bob'])
    await h.connect(alice!, bob!)
    const bobHome = bob!.home.dir
    await bob!.stop()
    const secret = 'the eagle lands at midnight'
    await alice!.send('bob', secret)
    const dir = join((h as unknown as { rendezvousDir: string }).rendezvousDir, 'db')
    await h.stopRendezvous()
    let scanned = 0
    for (const f of await readdir(dir)) {
      const bytes = await readFile(join(dir, f))
      scanned += bytes.length
      assert.equal(bytes.includes(Buffer.from(secret)), false, `${f} holds the text in clear`)
      assert.equal(bytes.includes(Buffer.from('eagle')), false, `${f} holds part of the text in clear`)
    }
    assert.ok(scanned > 0)
    // and yet bob gets it when he comes back
    await h.startRendezvous()
    const again = await h.startClient(bobHome)
    await again.catchUp()
    assert.deepEqual((await again.history.page('alice')).messages.map(m => m.text), [secret])
  })

  it('shows recent room history to someone who logs in later', async () => {
    const [alice, bob] = await h.clientsFor(['alice', 'bob'])
    const log = new EventLog(bob!)
    await eventually(() => alice!.libp2p.services.pubsub.getSubscribers('/meshchat/room/global/1.0.0').length > 0)
    await alice!.send('#global', 'early bird')
    await log.waitFor(isText('early bird'))
    const late = await h.client('carol')
    await late.catchUp()
    assert.deepEqual((await late.history.page('#global')).messages.map(m => [m.from, m.text]), [['alice', 'early bird']])
  })

  it('sends the archive copies of many messages at once in fewer requests, and every one lands once', async () => {
    const [alice, bob] = await h.clientsFor(['alice', 'bob'])
    await h.connect(alice!, bob!)
    const bobHome = bob!.home.dir
    await bob!.stop()
    await eventually(async () => (await alice!.users()).find(u => u.user === 'bob')?.online === false)
    // count the put requests the node serves
    const node = h.rendezvous! as unknown as { handleArchive: (req: { op: string }, conn: unknown) => Promise<unknown> }
    const original = node.handleArchive.bind(node)
    let puts = 0
    // the node answers each put a little late, as a busy node does, so puts pile up behind the ones in flight
    node.handleArchive = async (req, conn) => {
      if (req.op === 'put') { puts++; await new Promise(resolve => setTimeout(resolve, 50)) }
      return await original(req, conn)
    }
    const sent = await Promise.all(Array.from({ length: 40 }, async (_, i) => await alice!.send('bob', `burst ${i}`)))
    assert.ok(sent.every(s => s.status === 'sent'))
    assert.ok(puts < 40, `${puts} put requests for 40 messages`)
    const again = await h.startClient(bobHome)
    await eventually(async () => (await again.history.page('alice', { limit: 100 })).messages.length === 40, 10_000, 'all 40 at bob')
    const texts = (await again.history.page('alice', { limit: 100 })).messages.map(m => m.text).sort()
    assert.deepEqual(texts, Array.from({ length: 40 }, (_, i) => `burst ${i}`).sort())
  })

  it('lets the archive copies of acknowledged messages wait to leave together, and sends a waiting one before the device stops', async () => {
    const [alice, bob] = await h.clientsFor(['alice', 'bob'])
    await h.connect(alice!, bob!)
    const node = h.rendezvous! as unknown as { handleArchive: (req: { op: string, cert?: { user: string } }, conn: unknown) => Promise<unknown> }
    const original = node.handleArchive.bind(node)
    let puts = 0
    node.handleArchive = async (req, conn) => {
      if (req.op === 'put' && req.cert?.user === 'alice') puts++
      return await original(req, conn)
    }
    // one at a time, each acknowledged by bob's device before the next: before, one put each
    for (let i = 0; i < 20; i++) assert.equal((await alice!.send('bob', `one by one ${i}`)).status, 'delivered')
    assert.equal((await alice!.send('bob', 'last word')).status, 'delivered')
    // its copy may still be waiting for company: stop() sends it before the device goes
    await alice!.stop()
    assert.ok(puts <= 10, `${puts} put requests from alice for 21 messages sent one by one`)
    // a new device of bob's has only the archive to learn them from
    const fresh = await secondDevice('bob')
    const want = [...Array.from({ length: 20 }, (_, i) => `one by one ${i}`), 'last word'].sort()
    await eventually(async () => (await fresh.history.page('alice', { limit: 100 })).messages.length === want.length, 10_000, 'all 21 at bob\'s new device')
    assert.deepEqual((await fresh.history.page('alice', { limit: 100 })).messages.map(m => m.text).sort(), want)
  })

  it('knows when messages are missing and says so in the page', async () => {
    const [alice, bob] = await h.clientsFor(['alice', 'bob'])
    await h.connect(alice!, bob!)
    const login = await alice!.home.requireLogin()
    const key = await alice!.home.deviceKey()
    // alice's device numbered this one 4: bob has never seen 1 to 3
    const env = await signEnvelope(key, login.cert, { conv: dmConversation('alice', 'bob'), kind: 'text', body: { text: 'fourth' }, n: 4 })
    await request(alice!.libp2p, bob!.libp2p.getMultiaddrs()[0]!, DM_PROTOCOL, env, dmAck)
    const page = await bob!.history.page('alice')
    assert.deepEqual(page.messages.map(m => m.text), ['fourth'])
    assert.deepEqual(page.gaps.map(g => [g.author, g.device, g.missing]), [['alice', alice!.peerId, [1, 2, 3]]])
  })

  it('queues a message when neither the recipient nor the server can be reached, and sends it when the server is back', async () => {
    const [alice, bob] = await h.clientsFor(['alice', 'bob'])
    await h.connect(alice!, bob!)
    const bobHome = bob!.home.dir
    await bob!.stop()
    await eventually(async () => (await alice!.users()).find(u => u.user === 'bob')?.online === false)
    await h.stopRendezvous()
    await eventually(() => alice!.connectionState !== 'connected', 5_000, 'alice notices')
    await assert.rejects(alice!.send('bob', 'queued while down'), { name: 'OfflineError' })
    assert.deepEqual((await alice!.history.page('bob')).messages.map(m => [m.text, m.status]), [['queued while down', 'sending']])
    await h.startRendezvous()
    await eventually(async () => (await alice!.history.page('bob')).messages[0]?.status === 'sent', 10_000, 'the queued message stored at the node')
    const again = await h.startClient(bobHome)
    await again.catchUp()
    assert.deepEqual((await again.history.page('alice')).messages.map(m => m.text), ['queued while down'])
  })
})
