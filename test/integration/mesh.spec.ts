import assert from 'node:assert/strict'
import { Harness, EventLog, eventually, TEST_PASSWORD, TEST_SCRYPT } from '../../src/testing/index.js'
import { login } from '../../src/client/index.js'
import { roomTopic, GLOBAL_ROOM } from '../../src/protocol/index.js'
import type { ClientEvent, MeshClient } from '../../src/client/index.js'

const isText = (text: string) => (e: ClientEvent): boolean => e.type === 'message' && e.message.text === text
const isPresence = (user: string, online: boolean) => (e: ClientEvent): boolean => e.type === 'presence' && e.user === user && e.online === online

async function roomReady (clients: MeshClient[]): Promise<void> {
  const topic = roomTopic(GLOBAL_ROOM)
  await eventually(() => clients.every(c => c.libp2p.services.pubsub.getSubscribers(topic).length > 0), 5_000, 'room subscriptions')
}

describe('mesh core', function () {
  let h: Harness
  beforeEach(async () => { h = new Harness(); await h.startRendezvous() })
  afterEach(async () => { await h.stop() })

  it('shows presence live to five clients: registered, online, offline', async () => {
    const clients = await h.clientsFor(['alice', 'bob', 'carol', 'dave'])
    const logs = clients.map(c => new EventLog(c))
    const erin = await h.client('erin')
    for (const log of logs) {
      await log.waitFor(e => e.type === 'registered' && e.user === 'erin', 5_000, 'registered erin')
      await log.waitFor(isPresence('erin', true), 5_000, 'erin online')
    }
    const users = await clients[0]!.users()
    assert.deepEqual(users.map(u => [u.user, u.online]), [['alice', true], ['bob', true], ['carol', true], ['dave', true], ['erin', true]])
    await erin.stop()
    for (const log of logs) await log.waitFor(isPresence('erin', false), 5_000, 'erin offline')
    const after = (await clients[1]!.users()).find(u => u.user === 'erin')
    assert.equal(after?.online, false)
    assert.ok(after?.lastSeen != null && after.lastSeen > 0)
  })

  it('sends a direct message to every device of a user with two devices, and a copy to the sender\'s other device', async () => {
    const [alice, bob] = await h.clientsFor(['alice', 'bob'])
    await h.connect(alice!, bob!)
    const alice2Home = await h.tempDir('alice2')
    await login({ home: alice2Home, server: h.serverAddress, user: 'alice', password: TEST_PASSWORD, wrapScrypt: TEST_SCRYPT })
    const alice2 = await h.startClient(alice2Home)
    const bob2Home = await h.tempDir('bob2')
    await login({ home: bob2Home, server: h.serverAddress, user: 'bob', password: TEST_PASSWORD, wrapScrypt: TEST_SCRYPT })
    const bob2 = await h.startClient(bob2Home)
    await eventually(async () => (await alice2.chatState('bob')).state === 'accepted', 5_000, 'the chat synced to alice\'s new device')
    await eventually(async () => (await bob2.chatState('alice')).state === 'accepted', 5_000, 'the chat synced to bob\'s new device')
    const logs = [bob!, bob2, alice2].map(c => new EventLog(c))
    await eventually(async () => (await alice!.users()).find(u => u.user === 'bob')?.devices.length === 2, 5_000, 'both devices of bob')
    await eventually(async () => (await alice!.users()).find(u => u.user === 'alice')?.devices.length === 2, 5_000, 'both devices of alice')
    const res = await alice!.send('bob', 'to both of you')
    assert.equal(res.deliveredTo.length, 2)
    for (const [i, log] of logs.entries()) {
      const ev = await log.waitFor(isText('to both of you'), 5_000, 'the message')
      assert.ok(ev.type === 'message')
      assert.equal(ev.message.from, 'alice')
      // the other person of the chat, seen from each device
      assert.equal(ev.message.peer, i === 2 ? 'bob' : 'alice')
      assert.equal(ev.message.conv, 'dm:alice:bob')
    }
  })

  it('stores a message to an offline user, and refuses unknown users and bad text with named errors', async () => {
    const [alice, bob] = await h.clientsFor(['alice', 'bob'])
    await h.connect(alice!, bob!)
    await bob!.stop()
    await eventually(async () => (await alice!.users()).find(u => u.user === 'bob')?.online === false)
    const res = await alice!.send('bob', 'are you there?')
    assert.equal(res.status, 'sent')
    assert.deepEqual(res.deliveredTo, [])
    await assert.rejects(alice!.send('nobody', 'hi'), { name: 'UnknownUserError' })
    await assert.rejects(alice!.send('bob', ''), { name: 'InvalidInputError' })
    await assert.rejects(alice!.send('bob', 'x'.repeat(17 * 1024)), { name: 'InvalidInputError' })
    // rooms can be created now: a well-formed name nobody created is unknown, a malformed one invalid
    await assert.rejects(alice!.send('#nowhere', 'hi'), { name: 'UnknownRoomError' })
    await assert.rejects(alice!.send('#No Such Room!', 'hi'), { name: 'InvalidInputError' })
  })

  it('carries global room messages to five clients', async () => {
    const clients = await h.clientsFor(['alice', 'bob', 'carol', 'dave', 'erin'])
    const logs = clients.map(c => new EventLog(c))
    await roomReady(clients)
    await clients[2]!.send('#global', 'hello everyone')
    for (const [i, log] of logs.entries()) {
      if (i === 2) continue
      const ev = await log.waitFor(isText('hello everyone'), 5_000, `room message at client ${i}`)
      assert.ok(ev.type === 'message')
      assert.equal(ev.message.room, 'global')
      assert.equal(ev.message.from, 'carol')
    }
    // each message arrives once
    await clients[0]!.send('#global', 'second')
    await logs[1]!.waitFor(isText('second'))
    assert.equal(logs[1]!.events.filter(isText('hello everyone')).length, 1)
  })

  it('keeps direct chats and the room going while the rendezvous node is down, and reconnects after', async () => {
    const clients = await h.clientsFor(['alice', 'bob', 'carol'])
    const [alice, bob] = clients
    await h.connect(alice!, bob!)
    const aliceLog = new EventLog(alice!)
    const bobLog = new EventLog(bob!)
    await roomReady(clients)
    // peers know each other directly, not only through the rendezvous node
    await eventually(() => alice!.libp2p.getConnections().some(c => c.remotePeer.toString() === bob!.peerId), 5_000, 'a direct connection')
    await eventually(() => alice!.libp2p.services.pubsub.getSubscribers(roomTopic(GLOBAL_ROOM)).length >= 3, 5_000, 'room peers')

    await h.stopRendezvous()
    await aliceLog.waitFor(e => e.type === 'connection' && e.state === 'reconnecting', 5_000, 'reconnecting')
    await alice!.send('bob', 'still here?')
    await bobLog.waitFor(isText('still here?'), 5_000, 'direct message without the server')
    await bob!.send('alice', 'yes')
    await aliceLog.waitFor(isText('yes'))
    await alice!.send('#global', 'room without server')
    await bobLog.waitFor(isText('room without server'), 5_000, 'room message without the server')

    const connectedBefore = aliceLog.events.filter(e => e.type === 'connection' && e.state === 'connected').length
    await h.startRendezvous()
    await eventually(() => aliceLog.events.filter(e => e.type === 'connection' && e.state === 'connected').length > connectedBefore, 10_000, 'alice reconnected')
    await eventually(() => bob!.connectionState === 'connected', 10_000, 'bob reconnected')
    await eventually(async () => (await alice!.users()).filter(u => u.online).length === 3, 5_000, 'presence rebuilt').catch(async err => {
      console.log(JSON.stringify(await alice!.users()), clients.map(c => c.connectionState))
      throw err
    })
    await alice!.send('bob', 'server is back')
    await bobLog.waitFor(isText('server is back'))
  })
})
