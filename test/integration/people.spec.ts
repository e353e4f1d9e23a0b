import assert from 'node:assert/strict'
import { Harness, EventLog, eventually, TEST_PASSWORD, TEST_SCRYPT } from '../../src/testing/index.js'
import { login } from '../../src/client/index.js'
import { signEnvelope, newRoomKey, sealRoomContent } from '../../src/crypto/index.js'
import { dmConversation, encodeFrame, roomTopic, roomConversation } from '../../src/protocol/index.js'
import type { ClientEvent, MeshClient } from '../../src/client/index.js'

const isText = (text: string) => (e: ClientEvent): boolean => e.type === 'message' && e.message.text === text

/** Sends to a room as soon as a peer is there to take it (a new member's mesh forms in the background). */
async function sendOnceMeshed (client: MeshClient, room: string, text: string): Promise<void> {
  await eventually(async () => {
    try { await client.send(room, text); return true } catch { return false }
  }, 10_000, `a peer in ${room}`)
}

describe('people: chat requests, contacts, profiles', function () {
  this.timeout(60_000)
  let h: Harness
  beforeEach(async () => { h = new Harness(); await h.startRendezvous() })
  afterEach(async () => { await h.stop() })

  async function secondDevice (user: string, start = true): Promise<MeshClient> {
    const home = await h.tempDir(`${user}-dev`)
    await login({ home, server: h.serverAddress, user, password: TEST_PASSWORD, wrapScrypt: TEST_SCRYPT })
    return await h.startClient(home, start)
  }

  /** Stops a client and starts it again on the same home later. */
  async function offline (c: MeshClient): Promise<() => Promise<MeshClient>> {
    const home = c.home.dir
    await c.stop()
    return async () => await h.startClient(home)
  }

  it('refuses direct messages until a request is accepted, and the sender reads why', async () => {
    const [alice, bob] = await h.clientsFor(['alice', 'bob'])
    await assert.rejects(alice!.send('bob', 'hi'), (e: Error) => e.name === 'ChatNotAcceptedError' && /meshchat request bob/.test(e.message))
    const bobLog = new EventLog(bob!)
    const state = await alice!.request('bob', 'hello, it is alice')
    assert.equal(state.state, 'pending')
    assert.equal(state.by, 'alice')
    await bobLog.waitFor(e => e.type === 'chat' && e.chat.state === 'pending', 5_000, 'the request at bob')
    assert.deepEqual((await bob!.requests()).map(r => [r.user, r.direction, r.text]), [['alice', 'incoming', 'hello, it is alice']])
    assert.deepEqual((await alice!.requests()).map(r => [r.user, r.direction]), [['bob', 'outgoing']])
    // the requester may not write before the acceptance, nor may bob before accepting
    await assert.rejects(alice!.send('bob', 'too early'), (e: Error) => e.name === 'ChatNotAcceptedError' && /not accepted/.test(e.message))
    await assert.rejects(bob!.send('alice', 'too early'), (e: Error) => e.name === 'ChatNotAcceptedError' && /meshchat accept alice/.test(e.message))
    await bob!.accept('alice')
    await eventually(async () => (await alice!.chatState('bob')).state === 'accepted', 5_000, 'alice to see the acceptance')
    assert.deepEqual(await bob!.requests(), [])
    await alice!.send('bob', 'now we talk')
    await bobLog.waitFor(isText('now we talk'))
    await bob!.send('alice', 'yes')
  })

  it('a device that ignores the rule cannot make a refused message show up at the other side', async () => {
    const [alice, bob] = await h.clientsFor(['alice', 'bob'])
    // alice's device writes without a request, past its own check: bob's device refuses it
    const { signEnvelope: sign } = await import('../../src/crypto/index.js')
    const { request } = await import('../../src/net/index.js')
    const { DM_PROTOCOL, dmAck, dmConversation } = await import('../../src/protocol/index.js')
    const key = await alice!.home.deviceKey()
    const login = await alice!.home.requireLogin()
    const env = await sign(key, login.cert, { conv: dmConversation('alice', 'bob'), kind: 'text', body: { text: 'unasked' } })
    const bobPeer = (await alice!.users()).find(u => u.user === 'bob')!.devices[0]!
    const { peerIdFromString } = await import('@libp2p/peer-id')
    const { multiaddr } = await import('@multiformats/multiaddr')
    await alice!.libp2p.peerStore.merge(peerIdFromString(bobPeer.peer), { multiaddrs: bobPeer.addrs.map(a => multiaddr(a)) })
    await assert.rejects(request(alice!.libp2p, peerIdFromString(bobPeer.peer), DM_PROTOCOL, env, dmAck), { name: 'ChatNotAcceptedError' })
    assert.equal((await bob!.history.page('alice')).messages.length, 0)
    assert.deepEqual(await bob!.history.conversations(), [])
    // nor can a room message come in sideways, past the room's validators (a private room's list)
    const roomEnv = await sign(key, login.cert, { conv: 'room:board', kind: 'text', body: { text: 'sideways' } })
    await assert.rejects(request(alice!.libp2p, peerIdFromString(bobPeer.peer), DM_PROTOCOL, roomEnv, dmAck), { name: 'InvalidMessageError' })
    assert.deepEqual(await bob!.history.conversations(), [])
  })

  it('walks every state with one side offline at each step: pending, accepted, closed, re-requested, declined', async () => {
    let [alice, bob] = await h.clientsFor(['alice', 'bob'])
    // 1. bob offline while alice asks
    let bobBack = await offline(bob!)
    await alice!.request('bob', 'are you there?')
    bob = await bobBack()
    await eventually(async () => (await bob!.requests()).some(r => r.user === 'alice' && r.direction === 'incoming'), 10_000, 'the request through the archive')
    // 2. alice offline while bob accepts
    let aliceBack = await offline(alice!)
    await bob.accept('alice')
    await bob.send('alice', 'accepted while you were away')
    alice = await aliceBack()
    await eventually(async () => (await alice!.chatState('bob')).state === 'accepted', 10_000, 'the acceptance through the archive')
    await eventually(async () => (await alice!.history.page('bob')).messages.some(m => m.text === 'accepted while you were away'), 10_000, 'the message sent after the acceptance')
    await alice.send('bob', 'thanks')
    // 3. bob offline while alice closes
    bobBack = await offline(bob)
    const closed = await alice.closeChat('bob')
    assert.equal(closed.state, 'closed')
    await assert.rejects(alice.send('bob', 'after close'), { name: 'ChatNotAcceptedError' })
    bob = await bobBack()
    await eventually(async () => (await bob!.chatState('alice')).state === 'closed', 10_000, 'the close through the archive')
    await assert.rejects(bob.send('alice', 'after close'), (e: Error) => e.name === 'ChatNotAcceptedError' && /alice closed the chat/.test(e.message))
    // history stays on both sides
    assert.ok((await bob.history.page('alice')).messages.some(m => m.text === 'thanks'))
    assert.ok((await alice.history.page('bob')).messages.some(m => m.text === 'accepted while you were away'))
    // 4. re-requested by bob while alice is offline, declined by alice, asked again and accepted
    aliceBack = await offline(alice)
    await bob.request('alice', 'sorry, again?')
    alice = await aliceBack()
    await eventually(async () => (await alice!.chatState('bob')).state === 'pending', 10_000, 'the new request')
    await alice.decline('bob')
    await eventually(async () => (await bob!.chatState('alice')).state === 'declined', 10_000, 'the decline')
    await assert.rejects(bob.send('alice', 'declined?'), (e: Error) => e.name === 'ChatNotAcceptedError' && /declined/.test(e.message))
    await bob.request('alice')
    await eventually(async () => (await alice!.chatState('bob')).state === 'pending', 10_000, 'the third request')
    await alice.accept('bob')
    await eventually(async () => (await bob!.chatState('alice')).state === 'accepted', 10_000, 'the second acceptance')
    await bob.send('alice', 'open again')
  })

  it('keeps request states on every device of both sides and across restarts; two requests meet as an acceptance', async () => {
    const [alice, bob] = await h.clientsFor(['alice', 'bob'])
    const bob2 = await secondDevice('bob')
    await alice!.request('bob')
    await eventually(async () => (await bob2.chatState('alice')).state === 'pending', 5_000, 'the request on bob\'s second device')
    await bob2.accept('alice')
    await eventually(async () => (await bob!.chatState('alice')).state === 'accepted', 5_000, 'the acceptance on bob\'s first device')
    await eventually(async () => (await alice!.chatState('bob')).state === 'accepted', 5_000, 'the acceptance at alice')
    const back = await offline(bob!)
    const again = await back()
    assert.equal((await again.chatState('alice')).state, 'accepted')
    // carol and dave ask each other at the same time: both asked, so the chat is open
    const [carol, dave] = await h.clientsFor(['carol', 'dave'])
    await Promise.all([carol!.request('dave'), dave!.request('carol')])
    await eventually(async () => (await carol!.chatState('dave')).state === 'accepted' && (await dave!.chatState('carol')).state === 'accepted', 5_000, 'both requests to meet')
  })

  it('holds a message that came before the acceptance it was sent after, and stores it once the acceptance arrives', async () => {
    const [alice, bob] = await h.clientsFor(['alice', 'bob'])
    const conv = dmConversation('alice', 'bob')
    const now = Date.now()
    const sign = async (c: MeshClient, fields: Record<string, unknown>): Promise<never> =>
      await signEnvelope(await c.home.deviceKey(), (await c.home.requireLogin()).cert, { conv, ...fields } as never) as never
    const asked = await sign(alice!, { kind: 'request', body: {}, sentAt: now - 20 })
    const accepted = await sign(bob!, { kind: 'accept', body: {}, sentAt: now - 10 })
    const text = await sign(alice!, { kind: 'text', body: { text: 'sent after the acceptance' }, sentAt: now })
    // this device of bob's learns of the request, then alice's message, and only then of the acceptance
    await bob!.history.receive(asked)
    await assert.rejects(bob!.history.receive(text), { name: 'ChatNotAcceptedError' })
    const store = (bob as unknown as { store: { people: { heldOf: (conv: string) => Promise<unknown[]> } } }).store
    assert.equal((await store.people.heldOf(conv)).length, 1)
    assert.deepEqual((await bob!.history.page('alice')).messages, [])
    await bob!.history.receive(accepted)
    assert.deepEqual((await bob!.history.page('alice')).messages.map(m => m.text), ['sent after the acceptance'])
    assert.equal((await store.people.heldOf(conv)).length, 0)
  })

  it('refuses bad requests with one line and changes nothing', async () => {
    const [alice] = await h.clientsFor(['alice'])
    await assert.rejects(alice!.request('nobody-here'), { name: 'UnknownUserError' })
    await assert.rejects(alice!.request('Bad Name'), { name: 'InvalidInputError' })
    await assert.rejects(alice!.request('alice'), { name: 'InvalidInputError' })
    await assert.rejects(alice!.accept('nobody-here'), { name: 'UnknownUserError' })
    await h.client('bob')
    await assert.rejects(alice!.accept('bob'), (e: Error) => e.name === 'InvalidInputError' && /has not asked/.test(e.message))
    await assert.rejects(alice!.closeChat('bob'), { name: 'InvalidInputError' })
    assert.deepEqual(await alice!.requests(), [])
  })

  it('keeps contacts the same on every device, and shows presence and profile names', async () => {
    const [alice, bob] = await h.clientsFor(['alice', 'bob'])
    await h.client('carol')
    const alice2 = await secondDevice('alice')
    const log2 = new EventLog(alice2)
    await bob!.setProfile({ name: 'Bob Builder', status: 'building' })
    await alice!.addContact('bob')
    await alice!.addContact('carol')
    await log2.waitFor(e => e.type === 'contact' && e.user === 'carol' && e.added, 5_000, 'the contact on the second device')
    const list = await alice2.contacts()
    assert.deepEqual(list.map(c => [c.user, c.name, c.status, c.online]), [['bob', 'Bob Builder', 'building', true], ['carol', '', '', true]])
    await alice2.removeContact('carol')
    await eventually(async () => (await alice!.contacts()).map(c => c.user).join() === 'bob', 5_000, 'the removal on the first device')
    // a device that was offline catches up from the archive
    const back = await offline(alice2)
    await alice!.addContact('carol')
    const again = await back()
    await eventually(async () => (await again.contacts()).map(c => c.user).join() === 'bob,carol', 10_000, 'the contacts after a restart')
    await assert.rejects(alice!.addContact('nobody-here'), { name: 'UnknownUserError' })
    await assert.rejects(alice!.removeContact('dave'), { name: 'InvalidInputError' })
  })

  it('shows profiles, pushes a change to online peers at once, and refuses bad fields', async () => {
    const [alice, bob] = await h.clientsFor(['alice', 'bob'])
    assert.deepEqual(await alice!.profile('bob'), { user: 'bob', name: '', status: '', about: '', updatedAt: null })
    const aliceLog = new EventLog(alice!)
    const set = await bob!.setProfile({ name: 'Bob', status: 'at lunch', about: 'I build things 🛠️' })
    assert.equal(set.name, 'Bob')
    await aliceLog.waitFor(e => e.type === 'profile' && e.profile.user === 'bob' && e.profile.status === 'at lunch', 5_000, 'the pushed profile')
    const seen = await alice!.profile('bob')
    assert.equal(seen.about, 'I build things 🛠️')
    // a field left out keeps its value
    await bob!.setProfile({ status: 'back' })
    assert.deepEqual({ ...(await alice!.profile('bob')), updatedAt: 0 }, { user: 'bob', name: 'Bob', status: 'back', about: 'I build things 🛠️', updatedAt: 0 })
    // own profile from another device of the same account
    const bob2 = await secondDevice('bob')
    assert.equal((await bob2.profile()).status, 'back')
    await assert.rejects(bob!.setProfile({ name: 'x'.repeat(65) }), { name: 'InvalidInputError' })
    await assert.rejects(bob!.setProfile({ status: 'bell\u0007' }), { name: 'InvalidInputError' })
    await assert.rejects(bob!.setProfile({}), { name: 'InvalidInputError' })
    assert.equal((await alice!.profile('bob')).status, 'back')
    await assert.rejects(alice!.profile('nobody-here'), { name: 'UnknownUserError' })
  })
})

describe('rooms: named, public and private', function () {
  this.timeout(60_000)
  let h: Harness
  beforeEach(async () => { h = new Harness(); await h.startRendezvous() })
  afterEach(async () => { await h.stop() })

  it('creates, joins, talks in, lists and leaves a public room, with history for late joiners', async () => {
    const [alice, bob, carol] = await h.clientsFor(['alice', 'bob', 'carol'])
    const created = await alice!.createRoom('#ops')
    assert.deepEqual([created.room, created.private, created.owner, created.members, created.joined], ['ops', false, 'alice', 1, true])
    await bob!.joinRoom('ops')
    const bobLog = new EventLog(bob!)
    await sendOnceMeshed(alice!, '#ops', 'deploy at noon')
    await bobLog.waitFor(isText('deploy at noon'), 10_000, 'the room message at bob')
    // carol is not in it: she cannot write, and the room shows as one to join
    await assert.rejects(carol!.send('#ops', 'hi'), { name: 'NotMemberError' })
    const carolRooms = await carol!.rooms()
    assert.deepEqual(carolRooms.map(r => [r.room, r.joined]), [['global', true], ['ops', false]])
    assert.equal(carolRooms[1]!.members, 2)
    // joining later, she gets the room's history from the node
    const carolLog = new EventLog(carol!)
    await carol!.joinRoom('ops')
    await carolLog.waitFor(isText('deploy at noon'), 10_000, 'room history for the late joiner')
    // a public room's messages are plain (no room key): the node keeps them as sent
    assert.ok((await h.rendezvous!.store.readRoom('ops', null, 100)).some(r => (r.envelope as { kind: string }).kind === 'text'))
    assert.deepEqual((await alice!.members('ops')).map(m => [m.user, m.owner]), [['alice', true], ['bob', false], ['carol', false]])
    await bob!.leaveRoom('ops')
    await assert.rejects(bob!.send('#ops', 'gone'), { name: 'NotMemberError' })
    assert.equal((await alice!.rooms()).find(r => r.room === 'ops')?.members, 2)
    // names have rules; a taken name and an unknown room give one line each
    await assert.rejects(bob!.createRoom('ops'), { name: 'RoomTakenError' })
    await assert.rejects(bob!.createRoom('global'), { name: 'RoomTakenError' })
    await assert.rejects(bob!.createRoom('No Spaces'), { name: 'InvalidInputError' })
    await assert.rejects(bob!.joinRoom('nowhere'), { name: 'UnknownRoomError' })
    await assert.rejects(bob!.send('#nowhere', 'hi'), { name: 'UnknownRoomError' })
    await assert.rejects(bob!.leaveRoom('global'), { name: 'InvalidInputError' })
  })

  it('a private room admits only members on the owner-signed list; a non-member\'s forged publish is rejected', async () => {
    const [alice, bob, mallory] = await h.clientsFor(['alice', 'bob', 'mallory'])
    const room = await alice!.createRoom('secret', { private: true })
    assert.equal(room.private, true)
    // not visible, not joinable, not readable for outsiders
    assert.deepEqual((await mallory!.rooms()).map(r => r.room), ['global'])
    await assert.rejects(mallory!.joinRoom('secret'), { name: 'NotMemberError' })
    await assert.rejects(mallory!.members('secret'), { name: 'UnknownRoomError' })
    await assert.rejects(bob!.invite('secret', 'mallory'), { name: 'UnknownRoomError' })
    const bobLog = new EventLog(bob!)
    await alice!.invite('secret', 'bob')
    await bobLog.waitFor(e => e.type === 'room' && e.room.room === 'secret' && e.room.joined, 5_000, 'bob to be added')
    assert.equal((await bob!.rooms()).find(r => r.room === 'secret')?.joined, true)
    await sendOnceMeshed(bob!, '#secret', 'members only')
    const aliceLog = new EventLog(alice!)
    await aliceLog.waitFor(isText('members only'), 10_000, 'bob\'s message at alice')

    // mallory subscribes to the topic by hand and publishes a signed, certified envelope: she is not on the list
    const rejected: string[] = []
    const validator = h.rendezvous!.libp2p.services.pubsub.topicValidators.get(roomTopic('secret'))!
    h.rendezvous!.libp2p.services.pubsub.topicValidators.set(roomTopic('secret'), async (peer, msg) => {
      const res = await validator(peer, msg)
      if (res !== 'accept') rejected.push(String(res))
      return res
    })
    const pubsub = mallory!.libp2p.services.pubsub
    pubsub.subscribe(roomTopic('secret'))
    const login = await mallory!.home.requireLogin()
    const env = await signEnvelope(await mallory!.home.deviceKey(), login.cert, { conv: roomConversation('secret'), kind: 'text', body: { text: 'let me in' } })
    await eventually(async () => {
      await pubsub.publish(roomTopic('secret'), encodeFrame(env)).catch(() => {})
      return rejected.includes('reject')
    }, 10_000, 'the node to reject the forged publish')
    // nobody shows it, and the node did not keep it
    await aliceLog.waitFor(isText('members only'))
    assert.equal(aliceLog.find(isText('let me in')), undefined)
    assert.equal(bobLog.find(isText('let me in')), undefined)
    const carolHist = await h.rendezvous!.store.readRoom('secret', null, 100)
    assert.ok(carolHist.every(r => (r.envelope as { author: string }).author !== 'mallory'))
    await assert.rejects(mallory!.send('#secret', 'hello?'), { name: 'UnknownRoomError' })
    // the owner cannot leave a private room; a member can
    await assert.rejects(alice!.leaveRoom('secret'), { name: 'InvalidInputError' })
    await bob!.leaveRoom('secret')
  })

  it('a private room\'s messages travel sealed with the room key: members read them, an outsider on the topic and the node cannot', async () => {
    const [alice, bob, carol, mallory] = await h.clientsFor(['alice', 'bob', 'carol', 'mallory'])
    const topic = roomTopic('secret')
    await alice!.createRoom('secret', { private: true })
    const bobLog = new EventLog(bob!)
    await alice!.invite('secret', 'bob')
    await bobLog.waitFor(e => e.type === 'room' && e.room.room === 'secret' && e.room.joined, 5_000, 'bob to be added')
    // mallory listens on the topic by hand (no login is needed for that: any peer may subscribe)
    const heard: Uint8Array[] = []
    const malloryLog = new EventLog(mallory!)
    const malloryPubsub = mallory!.libp2p.services.pubsub
    malloryPubsub.addEventListener('gossipsub:message', evt => { if (evt.detail.msg.topic === topic) heard.push(evt.detail.msg.data) })
    malloryPubsub.subscribe(topic)
    const malloryPeer = mallory!.libp2p.peerId.toString()
    await eventually(async () => h.rendezvous!.libp2p.services.pubsub.getSubscribers(topic).some(p => p.toString() === malloryPeer), 10_000, 'mallory on the topic')
    const aliceLog = new EventLog(alice!)
    await sendOnceMeshed(bob!, '#secret', 'members only')
    await aliceLog.waitFor(isText('members only'), 10_000, 'bob\'s message at alice, opened')
    await eventually(async () => heard.length > 0, 10_000, 'the message on the topic at mallory')
    const utf8 = new TextDecoder()
    assert.ok(heard.every(d => !utf8.decode(d).includes('members only')), 'no plaintext on the topic')
    assert.equal((JSON.parse(utf8.decode(heard[0])) as { kind: string }).kind, 'sealed-room')
    // the node keeps the history sealed: it never has the key
    // (the node stores what it forwards; a member may have it from another member first)
    await eventually(async () => (await h.rendezvous!.store.readRoom('secret', null, 100)).length > 0, 10_000, 'the message in the node\'s room history')
    const kept = await h.rendezvous!.store.readRoom('secret', null, 100)
    assert.ok(kept.every(r => (r.envelope as { kind: string }).kind === 'sealed-room' && !JSON.stringify(r.envelope).includes('members only')))
    // a member's plaintext (a device that ignores the rule) is refused by the node and kept nowhere
    const rejected: string[] = []
    const validator = h.rendezvous!.libp2p.services.pubsub.topicValidators.get(topic)!
    h.rendezvous!.libp2p.services.pubsub.topicValidators.set(topic, async (peer, msg) => {
      const res = await validator(peer, msg)
      if (res !== 'accept') rejected.push(String(res))
      return res
    })
    const bobLogin = await bob!.home.requireLogin()
    const plain = await signEnvelope(await bob!.home.deviceKey(), bobLogin.cert, { conv: roomConversation('secret'), kind: 'text', body: { text: 'in the clear' } })
    await eventually(async () => {
      await bob!.libp2p.services.pubsub.publish(topic, encodeFrame(plain)).catch(() => {})
      return rejected.includes('reject')
    }, 10_000, 'the node to reject plaintext in a private room')
    assert.ok((await h.rendezvous!.store.readRoom('secret', null, 100)).every(r => !JSON.stringify(r.envelope).includes('in the clear')))
    // carol, invited later, reads the history from before her invitation (the list carries the older keys) and what follows
    const carolLog = new EventLog(carol!)
    await alice!.invite('secret', 'carol')
    await carolLog.waitFor(isText('members only'), 10_000, 'history from before the invitation, opened')
    await sendOnceMeshed(alice!, '#secret', 'welcome carol')
    await carolLog.waitFor(isText('welcome carol'), 10_000, 'a message after the invitation at carol')
    await bobLog.waitFor(isText('welcome carol'), 10_000, 'a message under the new key at bob')
    assert.ok(heard.every(d => !utf8.decode(d).includes('welcome carol')))
    assert.equal(malloryLog.find(e => e.type === 'message' && e.message.conv === roomConversation('secret')), undefined)
    assert.equal(aliceLog.find(isText('in the clear')), undefined)
  })

  it('the owner removes a member: a new room key the removed person never gets, they cannot post, the others still read', async () => {
    const [alice, bob, carol] = await h.clientsFor(['alice', 'bob', 'carol', 'dave', 'mallory'])
    const topic = roomTopic('secret')
    await alice!.createRoom('secret', { private: true })
    const bobLog = new EventLog(bob!)
    const carolLog = new EventLog(carol!)
    await alice!.invite('secret', 'bob')
    await alice!.invite('secret', 'carol')
    await bobLog.waitFor(e => e.type === 'room' && e.room.room === 'secret' && e.room.joined, 5_000, 'bob to be added')
    await carolLog.waitFor(e => e.type === 'room' && e.room.room === 'secret' && e.room.joined, 5_000, 'carol to be added')
    await sendOnceMeshed(alice!, '#secret', 'before the removal')
    await bobLog.waitFor(isText('before the removal'), 10_000, 'the message at bob before the removal')
    await carolLog.waitFor(isText('before the removal'), 10_000, 'the message at carol before the removal')

    // only the owner removes, only members, only from a private room
    await assert.rejects(carol!.removeMember('secret', 'bob'), { name: 'NotMemberError' })
    await assert.rejects(alice!.removeMember('secret', 'mallory'), { name: 'InvalidInputError' })
    await assert.rejects(alice!.removeMember('secret', 'alice'), { name: 'InvalidInputError' })
    await alice!.createRoom('lobby')
    await bob!.joinRoom('lobby')
    await assert.rejects(alice!.removeMember('lobby', 'bob'), { name: 'InvalidInputError' })
    // a forged list that keeps bob is refused by the node
    const aliceLogin = await alice!.home.requireLogin()
    const kept = await h.rendezvous!.store.getRoom('secret')
    const forged = await signEnvelope(await alice!.home.deviceKey(), aliceLogin.cert, {
      conv: roomConversation('secret'), kind: 'members', body: { ...(kept!.list as { body: { members: string[] } }).body, version: kept!.version + 1 } as never
    })
    const { PEOPLE_PROTOCOL, peopleResponse } = await import('../../src/protocol/index.js')
    const { request } = await import('../../src/net/index.js')
    const nodePeer = h.rendezvous!.libp2p.peerId
    await alice!.libp2p.peerStore.merge(nodePeer, { multiaddrs: h.rendezvous!.libp2p.getMultiaddrs() })
    await assert.rejects(request(alice!.libp2p, nodePeer, PEOPLE_PROTOCOL, { op: 'remove', cert: aliceLogin.cert, room: 'secret', user: 'bob', list: forged }, peopleResponse), { name: 'InvalidInputError' })
    assert.equal((await h.rendezvous!.store.getRoom('secret'))!.version, kept!.version)

    const removed = await alice!.removeMember('secret', 'bob')
    assert.deepEqual([removed.members, removed.joined, removed.private], [2, true, true])
    // bob's device is told and forgets the room; the new list holds no key for him
    await bobLog.waitFor(e => e.type === 'room' && e.room.room === 'secret' && !e.room.joined, 5_000, 'bob to be told')
    assert.ok(!(await bob!.rooms()).some(r => r.room === 'secret'))
    const record = (await h.rendezvous!.store.getRoom('secret'))!
    const body = (record.list as { body: { members: string[], keys: Record<string, string> } }).body
    assert.deepEqual([...body.members].sort(), ['alice', 'carol'])
    assert.deepEqual(Object.keys(body.keys).sort(), ['alice', 'carol'])
    assert.deepEqual((await alice!.members('secret')).map(m => m.user).sort(), ['alice', 'carol'])

    // bob listens on the topic by hand, and tries to post there: the node refuses him
    const heard: Uint8Array[] = []
    const bobPubsub = bob!.libp2p.services.pubsub
    bobPubsub.addEventListener('gossipsub:message', evt => { if (evt.detail.msg.topic === topic) heard.push(evt.detail.msg.data) })
    bobPubsub.subscribe(topic)
    const rejected: string[] = []
    const validator = h.rendezvous!.libp2p.services.pubsub.topicValidators.get(topic)!
    h.rendezvous!.libp2p.services.pubsub.topicValidators.set(topic, async (peer, msg) => {
      const res = await validator(peer, msg)
      if (res !== 'accept') rejected.push(String(res))
      return res
    })
    await assert.rejects(bob!.send('#secret', 'am I still in?'))
    const bobLogin = await bob!.home.requireLogin()
    const sealed = sealRoomContent(newRoomKey(), 'secret', record.version, { kind: 'text', body: { text: 'still here' } })
    const bobEnv = await signEnvelope(await bob!.home.deviceKey(), bobLogin.cert, { conv: roomConversation('secret'), kind: 'sealed-room', body: sealed })
    await eventually(async () => {
      await bobPubsub.publish(topic, encodeFrame(bobEnv)).catch(() => {})
      return rejected.includes('reject')
    }, 10_000, 'the node to reject the removed member\'s publish')
    await eventually(async () => h.rendezvous!.libp2p.services.pubsub.getSubscribers(topic).some(p => p.equals(bob!.libp2p.peerId)), 10_000, 'bob on the topic')

    // a message after the removal: carol reads it, bob never does
    await sendOnceMeshed(alice!, '#secret', 'after the removal')
    await carolLog.waitFor(isText('after the removal'), 10_000, 'the message after the removal at carol')
    await eventually(async () => heard.length > 0, 10_000, 'the message on the topic at bob')
    const utf8 = new TextDecoder()
    assert.ok(heard.every(d => !utf8.decode(d).includes('after the removal')))
    assert.equal(bobLog.find(isText('after the removal')), undefined)
    assert.equal(carolLog.find(isText('still here')), undefined)
    assert.ok((await h.rendezvous!.store.readRoom('secret', null, 100)).every(r => (r.envelope as { author: string }).author !== 'bob'))
    await assert.rejects(bob!.joinRoom('secret'), { name: 'NotMemberError' })

    // carol leaves by herself: the owner's device signs a list and a key without her at once
    const before = ((await h.rendezvous!.store.getRoom('secret'))!.list as { body: { version: number } }).body.version
    await carol!.leaveRoom('secret')
    await eventually(async () => {
      const list = (await h.rendezvous!.store.getRoom('secret'))!.list as { body: { version: number, members: string[], keys: Record<string, string> } }
      return list.body.version === before + 1 && !list.body.members.includes('carol') && !('carol' in list.body.keys)
    }, 10_000, 'the owner\'s device to re-key without carol')
    await alice!.invite('secret', 'dave')
    const after = (await h.rendezvous!.store.getRoom('secret'))!.list as { body: { members: string[], keys: Record<string, string> } }
    assert.deepEqual([...after.body.members].sort(), ['alice', 'dave'])
    assert.deepEqual(Object.keys(after.body.keys).sort(), ['alice', 'dave'])
    // removing someone who left takes them off the list too; again is no member at all
    await assert.rejects(carol!.joinRoom('secret'), { name: 'NotMemberError' })
    await assert.rejects(alice!.removeMember('secret', 'carol'), { name: 'InvalidInputError' })
  })
})

describe('rooms: the listing comes in pages', function () {
  this.timeout(60_000)
  /** Small enough that a handful of private rooms (each carrying its signed member list) takes several pages. */
  const PAGE_BYTES = 3_000
  let h: Harness
  beforeEach(async () => { h = new Harness({ rendezvous: { roomsPageBytes: PAGE_BYTES } }); await h.startRendezvous() })
  afterEach(async () => { await h.stop() })

  it('lists every room once, in order (#global, then by name), over several pages that each fit the budget', async () => {
    const [alice, bob, carol] = await h.clientsFor(['alice', 'bob', 'carol'])
    for (const name of ['delta', 'alpha', 'kilo', 'echo', 'zulu']) {
      await alice!.createRoom(name, { private: true })
      await alice!.invite(name, 'bob')
    }
    await carol!.createRoom('bravo')
    await carol!.createRoom('mike')
    await carol!.createRoom('hotel', { private: true })
    await bob!.joinRoom('mike')

    // the pages as the node sends them: a first page without `after`, as an older device asks
    const { PEOPLE_PROTOCOL, peopleResponse } = await import('../../src/protocol/index.js')
    const { request } = await import('../../src/net/index.js')
    const nodePeer = h.rendezvous!.libp2p.peerId
    await alice!.libp2p.peerStore.merge(nodePeer, { multiaddrs: h.rendezvous!.libp2p.getMultiaddrs() })
    const cert = (await alice!.home.requireLogin()).cert
    const pages: string[][] = []
    let total = 0
    let after: string | undefined
    for (;;) {
      const res = await request(alice!.libp2p, nodePeer, PEOPLE_PROTOCOL, { op: 'rooms', cert, ...(after == null ? {} : { after }) }, peopleResponse)
      assert.ok('rooms' in res && res.rooms.length > 0)
      const sizes = res.rooms.map(r => JSON.stringify(r).length + 1)
      total += sizes.reduce((a, b) => a + b, 0)
      assert.ok(res.rooms.length === 1 || sizes.reduce((a, b) => a + b, 0) <= PAGE_BYTES, 'a page of several rooms fits the budget')
      pages.push(res.rooms.map(r => r.room))
      if (res.more !== true) break
      after = res.rooms.at(-1)!.room
      assert.ok(pages.length < 20, 'the pages end')
    }
    const expected = ['global', 'alpha', 'bravo', 'delta', 'echo', 'kilo', 'mike', 'zulu']
    assert.ok(pages.length >= 3, `${pages.length} pages`)
    assert.ok(total > PAGE_BYTES, 'one answer would not have fit the budget')
    assert.deepEqual(pages.flat(), expected)

    // the device asks page after page and lists each room once
    const listed = await alice!.rooms()
    assert.deepEqual(listed.map(r => r.room), expected)
    assert.deepEqual(listed.filter(r => r.joined).map(r => r.room), ['global', 'alpha', 'delta', 'echo', 'kilo', 'zulu'])
    assert.equal(listed.find(r => r.room === 'kilo')?.members, 2)
    assert.deepEqual((await bob!.rooms()).filter(r => r.joined).map(r => r.room), ['global', 'alpha', 'delta', 'echo', 'kilo', 'mike', 'zulu'])
    assert.deepEqual((await carol!.rooms()).map(r => r.room), ['global', 'bravo', 'hotel', 'mike'])
    // private rooms found on later pages are followed: bob, invited, writes in the last one
    await sendOnceMeshed(bob!, '#zulu', 'on the last page')
  })

  it('offers public rooms to join up to the bound counted from the start of the order, so every page agrees', async () => {
    const { MAX_PUBLIC_ROOMS_LISTED } = await import('../../src/protocol/index.js')
    const [alice] = await h.clientsFor(['alice'])
    const store = h.rendezvous!.store
    const names = Array.from({ length: MAX_PUBLIC_ROOMS_LISTED + 5 }, (_, i) => `pub-${String(i).padStart(4, '0')}`)
    for (const room of names) await store.createRoom({ room, owner: 'carol', private: false, createdAt: 1, list: null, version: 0 })
    // alice's own rooms come after the bound: listed all the same
    await alice!.createRoom('pub-9999')
    await alice!.createRoom('zzz', { private: true })

    const account = (await store.getAccount('alice'))!
    const cert = (await alice!.home.requireLogin()).cert
    const walked: string[] = []
    let after: string | undefined
    let pages = 0
    for (;;) {
      const res = await h.rendezvous!.people.handle({ op: 'rooms', cert, ...(after == null ? {} : { after }) }, account) as { rooms: Array<{ room: string }>, more: boolean }
      pages++
      walked.push(...res.rooms.map(r => r.room))
      if (!res.more) break
      after = res.rooms.at(-1)!.room
    }
    const expected = ['global', ...names.slice(0, MAX_PUBLIC_ROOMS_LISTED), 'pub-9999', 'zzz']
    assert.ok(pages >= 3, `${pages} pages`)
    assert.deepEqual(walked, expected)
    assert.deepEqual((await alice!.rooms()).map(r => r.room), expected)
  })
})
