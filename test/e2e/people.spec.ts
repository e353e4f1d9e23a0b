/**
 * Issue 8 with the real binary: chat requests, contacts, profiles and rooms, each step a separate
 * `meshchat` process against a real `serve`. Runs the compiled code in dist/ (`npm run build`).
 */
import assert from 'node:assert/strict'
import { ProcessGroup, assertFailure, assertOk, commandsIn, isText, uniqueName as unique } from '../../src/testing/index.js'
import type { ServeProcess, TestPerson as Person } from '../../src/testing/index.js'

const PASSWORD = 'correct horse battery'
const ENV = { MESHCHAT_PASSWORD: PASSWORD, MESHCHAT_IP_COLOCATION_WHITELIST: '127.0.0.1' }
const SERVE_ARGS = ['--heartbeat-ms', '500', '--registrations-per-second', '100', '--address-free-failures', '100']

interface Request { user: string, direction: string, text?: string, at: number }
interface Chat { user: string, state: string, by: string | null }
interface Contact { user: string, online: boolean | null, lastSeen: number | null, name: string, status: string, addedAt: number }
interface Profile { user: string, name: string, status: string, about: string, updatedAt: number | null }
interface Room { room: string, private: boolean, owner: string | null, members: number, joined: boolean }
interface Member { user: string, online: boolean, owner: boolean }

describe('meshchat people and rooms (separate processes)', function () {
  this.timeout(90_000)
  const suite = new ProcessGroup()
  const each = new ProcessGroup()
  let server: ServeProcess

  const commands = commandsIn(each, { env: ENV, timeoutMs: 30_000 })
  const { run, json, chatting } = commands
  const person = async (base: string): Promise<Person> => await commands.person(server.address, base)

  async function historyTexts (p: Person, target: string): Promise<string[]> {
    const page = await json<{ messages: Array<{ text: string }> }>(p, 'history', target, '--limit', '100')
    return page.messages.map(m => m.text)
  }

  before(async function () {
    // the node too must not penalise the many devices of this run for sharing 127.0.0.1
    server = await suite.startServe({ args: SERVE_ARGS, env: ENV })
  })
  after(async function () { await suite.stopAll() })
  afterEach(async function () { await each.stopAll() })

  describe('chat requests', function () {
    it('a request with text shows as incoming; once accepted, both can send', async function () {
      const [alice, bob] = await Promise.all([person('alice'), person('bob')])
      const asked = await run(['request', '--home', alice.home, bob.user, 'hi,', 'it\'s alice from work'])
      assertOk(asked)
      assert.match(asked.stdout, new RegExp(`asked ${bob.user} to chat`))

      const outgoing = await json<Request[]>(alice, 'requests')
      assert.deepEqual(outgoing.map(r => [r.user, r.direction, r.text]), [[bob.user, 'outgoing', 'hi, it\'s alice from work']])
      const incoming = await json<Request[]>(bob, 'requests')
      assert.deepEqual(incoming.map(r => [r.user, r.direction, r.text]), [[alice.user, 'incoming', 'hi, it\'s alice from work']])
      assert.ok(typeof incoming[0]!.at === 'number')
      const text = await run(['requests', '--home', bob.home])
      assertOk(text)
      assert.match(text.stdout, new RegExp(`^incoming +${alice.user} +.+ago +hi, it's alice from work\\n$`))

      const accepted = await json<Chat>(bob, 'accept', alice.user)
      assert.equal(accepted.user, alice.user)
      assert.equal(accepted.state, 'accepted')
      assertOk(await run(['send', '--home', alice.home, bob.user, 'hello bob']))
      assertOk(await run(['send', '--home', bob.home, alice.user, 'hello alice']))
      assert.deepEqual(await historyTexts(bob, alice.user), ['hello bob', 'hello alice'])
      assert.deepEqual(await historyTexts(alice, bob.user), ['hello bob', 'hello alice'])
      assert.deepEqual(await json<Request[]>(alice, 'requests'), [])
      assert.deepEqual(await json<Request[]>(bob, 'requests'), [])
    })

    it('a direct message before acceptance fails with exit code 12 and one clear line; nothing is sent', async function () {
      const [alice, bob] = await Promise.all([person('alice'), person('bob')])
      assertFailure(await run(['send', '--home', alice.home, bob.user, 'no chat yet']), 12, bob.user)
      assertOk(await run(['request', '--home', alice.home, bob.user]))
      assertFailure(await run(['send', '--home', alice.home, bob.user, 'not accepted yet']), 12, bob.user)
      // bob was asked, but has not accepted: he cannot write either
      assertFailure(await run(['send', '--home', bob.home, alice.user, 'not accepted by me']), 12, alice.user)
      assert.deepEqual(await historyTexts(bob, alice.user), [])
      assert.deepEqual(await historyTexts(alice, bob.user), [])
      // the request is still there to accept
      assert.deepEqual((await json<Request[]>(bob, 'requests')).map(r => r.direction), ['incoming'])
    })

    it('a declined request can be asked again', async function () {
      const [alice, bob] = await Promise.all([person('alice'), person('bob')])
      assertOk(await run(['request', '--home', alice.home, bob.user, 'first try']))
      const declined = await json<Chat>(bob, 'decline', alice.user)
      assert.equal(declined.state, 'declined')
      assert.deepEqual(await json<Request[]>(bob, 'requests'), [])
      assert.deepEqual(await json<Request[]>(alice, 'requests'), [])
      assertFailure(await run(['send', '--home', alice.home, bob.user, 'after decline']), 12, bob.user)

      const again = await json<Chat>(alice, 'request', bob.user, 'second try')
      assert.equal(again.state, 'pending')
      assert.deepEqual((await json<Request[]>(bob, 'requests')).map(r => [r.user, r.direction, r.text]), [[alice.user, 'incoming', 'second try']])
      assertOk(await run(['accept', '--home', bob.home, alice.user]))
      assertOk(await run(['send', '--home', alice.home, bob.user, 'at last']))
      assert.deepEqual(await historyTexts(bob, alice.user), ['at last'])
    })

    it('after close neither side can send, history stays, and a new request opens it again', async function () {
      const [alice, bob] = await Promise.all([person('alice'), person('bob')])
      await chatting(alice, bob)
      assertOk(await run(['send', '--home', alice.home, bob.user, 'before the close']))
      const closed = await json<Chat>(bob, 'close', alice.user)
      assert.equal(closed.state, 'closed')
      assertFailure(await run(['send', '--home', bob.home, alice.user, 'from the closer']), 12, alice.user)
      assertFailure(await run(['send', '--home', alice.home, bob.user, 'from the other side']), 12, bob.user)
      assert.deepEqual(await historyTexts(alice, bob.user), ['before the close'])
      assert.deepEqual(await historyTexts(bob, alice.user), ['before the close'])

      await chatting(alice, bob)
      assertOk(await run(['send', '--home', alice.home, bob.user, 'open again']))
      assert.deepEqual(await historyTexts(bob, alice.user), ['before the close', 'open again'])
    })

    it('request and accept through running listens reach the other side as chat events', async function () {
      const [alice, bob] = await Promise.all([person('alice'), person('bob')])
      const bobListen = await each.startListen(bob.home, { env: ENV })
      const aliceListen = await each.startListen(alice.home, { env: ENV })
      const asked = await aliceListen.command({ cmd: 'request', user: bob.user, text: 'over stdin' }, 10_000)
      assert.equal(asked.ok, true, JSON.stringify(asked))
      const seen = await bobListen.waitFor(l => l.type === 'chat' && (l.chat as Chat).user === alice.user && (l.chat as Chat).state === 'pending', 5_000, 'the request at bob')
      assert.equal((seen.chat as Chat).by, alice.user)
      // a one-shot command on bob's home is served by his listen
      const pending = await json<Request[]>(bob, 'requests')
      assert.deepEqual(pending.map(r => [r.user, r.direction, r.text]), [[alice.user, 'incoming', 'over stdin']])
      assertOk(await run(['accept', '--home', bob.home, alice.user]))
      await aliceListen.waitFor(l => l.type === 'chat' && (l.chat as Chat).user === bob.user && (l.chat as Chat).state === 'accepted', 5_000, 'the acceptance at alice')
      const sent = await aliceListen.command({ cmd: 'send', to: bob.user, text: 'now we talk' }, 10_000)
      assert.equal(sent.ok, true, JSON.stringify(sent))
      await bobListen.waitFor(isText('now we talk'), 5_000, 'the message')
    })
  })

  describe('contacts', function () {
    it('add, list and remove, with --json; the same list through a running listen', async function () {
      const [alice, bob, carol] = await Promise.all([person('alice'), person('bob'), person('carol')])
      assert.deepEqual(await json<Contact[]>(alice, 'contacts'), [])
      assertOk(await run(['contacts', 'add', carol.user, '--home', alice.home]))
      assertOk(await run(['contacts', 'add', bob.user, '--home', alice.home]))
      const two = await json<Contact[]>(alice, 'contacts')
      assert.deepEqual(two.map(c => c.user), [bob.user, carol.user], 'sorted by user')
      for (const c of two) {
        assert.ok(typeof c.addedAt === 'number')
        assert.equal(c.name, '')
      }
      const text = await run(['contacts', '--home', alice.home])
      assertOk(text)
      assert.equal(text.stdout.split('\n').filter(l => l !== '').length, 2)
      assert.match(text.stdout, new RegExp(`${bob.user}`))

      assertOk(await run(['contacts', 'remove', carol.user, '--home', alice.home]))
      const one = await json<Contact[]>(alice, 'contacts')
      assert.deepEqual(one.map(c => c.user), [bob.user])

      // alice's listen running, bob online: the one-shot command is served by it over the socket
      const aliceListen = await each.startListen(alice.home, { env: ENV })
      const bobListen = await each.startListen(bob.home, { env: ENV })
      await aliceListen.waitFor(l => l.type === 'presence' && l.user === bob.user && l.online === true, 5_000, `${bob.user} online`)
      const served = await json<Contact[]>(alice, 'contacts')
      const overStdin = await aliceListen.command({ cmd: 'contacts' })
      assert.equal(overStdin.ok, true, JSON.stringify(overStdin))
      const strip = (list: Contact[]): unknown[] => list.map(c => [c.user, c.name, c.status, c.addedAt])
      assert.deepEqual(strip(served), strip(one))
      assert.deepEqual(strip(overStdin.result as Contact[]), strip(one))
      assert.equal(served[0]!.online, true, 'presence as the running device knows it')
      // a change through the socket shows in the listen as an event
      assertOk(await run(['contacts', 'add', carol.user, '--home', alice.home]))
      await aliceListen.waitFor(l => l.type === 'contact' && l.user === carol.user && l.added === true, 5_000, 'the contact event')
      assert.deepEqual((await json<Contact[]>(alice, 'contacts')).map(c => c.user), [bob.user, carol.user])
      await bobListen.stop()
    })

    it('bad contact input: one line, non-zero, the list unchanged', async function () {
      const [alice, bob] = await Promise.all([person('alice'), person('bob')])
      assertOk(await run(['contacts', 'add', bob.user, '--home', alice.home]))
      assertFailure(await run(['contacts', 'add', 'Not Valid!', '--home', alice.home]), 2, 'Not Valid!')
      const nobody = unique('nobody')
      assertFailure(await run(['contacts', 'add', nobody, '--home', alice.home]), 3, nobody)
      assertFailure(await run(['contacts', 'remove', unique('stranger'), '--home', alice.home]), 2)
      assertFailure(await run(['contacts', 'add', '--home', alice.home]), 2)
      assert.deepEqual((await json<Contact[]>(alice, 'contacts')).map(c => c.user), [bob.user])
    })
  })

  describe('profiles', function () {
    it('profile set, then profile <user> from another account', async function () {
      const [alice, bob] = await Promise.all([person('alice'), person('bob')])
      const empty = await json<Profile>(bob, 'profile', alice.user)
      assert.deepEqual([empty.name, empty.status, empty.about, empty.updatedAt], ['', '', '', null])

      const set = await json<Profile>(alice, 'profile', 'set', '--name', 'Alice Liddell', '--status', 'down the hole', '--about', 'curious')
      assert.deepEqual([set.user, set.name, set.status, set.about], [alice.user, 'Alice Liddell', 'down the hole', 'curious'])
      const seen = await json<Profile>(bob, 'profile', alice.user)
      assert.deepEqual([seen.user, seen.name, seen.status, seen.about], [alice.user, 'Alice Liddell', 'down the hole', 'curious'])
      assert.ok(typeof seen.updatedAt === 'number')
      const own = await json<Profile>(alice, 'profile')
      assert.equal(own.name, 'Alice Liddell')

      // a field left out keeps its value
      await json<Profile>(alice, 'profile', 'set', '--status', 'back')
      const later = await json<Profile>(bob, 'profile', alice.user)
      assert.deepEqual([later.name, later.status, later.about], ['Alice Liddell', 'back', 'curious'])
      const text = await run(['profile', alice.user, '--home', bob.home])
      assertOk(text)
      assert.match(text.stdout, /^name +Alice Liddell$/m)
      assert.match(text.stdout, /^status +back$/m)
      assert.match(text.stdout, /^updated +.+ago$/m)

      // a username close to "set" is a username, not a mistyped subcommand
      const setter = await person('set')
      assert.equal((await json<Profile>(alice, 'profile', setter.user)).user, setter.user)
    })

    it('bad profile input: one line, non-zero, the profile unchanged', async function () {
      const alice = await person('alice')
      await json<Profile>(alice, 'profile', 'set', '--name', 'Alice')
      assertFailure(await run(['profile', 'set', '--home', alice.home]), 2)
      assertFailure(await run(['profile', 'set', '--name', 'x'.repeat(65), '--home', alice.home]), 2)
      assertFailure(await run(['profile', 'Not Valid!', '--home', alice.home]), 2, 'Not Valid!')
      const nobody = unique('nobody')
      assertFailure(await run(['profile', nobody, '--home', alice.home]), 3, nobody)
      assert.equal((await json<Profile>(alice, 'profile')).name, 'Alice')
    })
  })

  describe('rooms', function () {
    it('create, join, send to #room, members, leave', async function () {
      const [alice, bob] = await Promise.all([person('alice'), person('bob')])
      const name = unique('dev')
      const created = await json<Room>(alice, 'room', 'create', name)
      assert.deepEqual([created.room, created.private, created.owner, created.members, created.joined], [name, false, alice.user, 1, true])
      const bobSees = await json<Room[]>(bob, 'rooms')
      assert.deepEqual(bobSees.filter(r => r.room === name).map(r => [r.joined, r.members]), [[false, 1]], 'a public room to join')
      assert.deepEqual(bobSees.filter(r => r.room === 'global').map(r => r.joined), [true])

      const joined = await json<Room>(bob, 'room', 'join', `#${name}`)
      assert.deepEqual([joined.room, joined.joined, joined.members], [name, true, 2])
      const members = await json<Member[]>(alice, 'room', 'members', name)
      assert.deepEqual(members.map(m => [m.user, m.owner]).sort(), [[alice.user, true], [bob.user, false]].sort())

      const bobListen = await each.startListen(bob.home, { env: ENV })
      assertOk(await run(['send', '--home', alice.home, `#${name}`, 'hello room']))
      const msg = await bobListen.waitFor(isText('hello room'), 10_000, 'the room message')
      assert.equal(msg.room, name)
      assert.equal(msg.from, alice.user)
      await bobListen.stop()

      const left = await json<Room>(bob, 'room', 'leave', name)
      assert.deepEqual([left.room, left.joined], [name, false])
      assert.deepEqual((await json<Member[]>(alice, 'room', 'members', name)).map(m => m.user), [alice.user])
      assertFailure(await run(['send', '--home', bob.home, `#${name}`, 'not a member']), 13, name)
      const text = await run(['rooms', '--home', alice.home])
      assertOk(text)
      assert.match(text.stdout, new RegExp(`^#${name} +public +1 member +joined`, 'm'))
    })

    it('a private room takes only the people its owner invited', async function () {
      const [alice, bob, carol] = await Promise.all([person('alice'), person('bob'), person('carol')])
      const name = unique('secret')
      const created = await json<Room>(alice, 'room', 'create', name, '--private')
      assert.equal(created.private, true)
      assertFailure(await run(['room', 'join', name, '--home', bob.home]), 13, name)
      assert.deepEqual((await json<Member[]>(alice, 'room', 'members', name)).map(m => m.user), [alice.user])
      assert.ok(!(await json<Room[]>(bob, 'rooms')).some(r => r.room === name && r.joined), 'bob is not in it')

      assertOk(await run(['room', 'invite', name, bob.user, '--home', alice.home]))
      const joined = await json<Room>(bob, 'room', 'join', name)
      assert.deepEqual([joined.joined, joined.private], [true, true])
      assert.deepEqual((await json<Member[]>(alice, 'room', 'members', name)).map(m => m.user).sort(), [alice.user, bob.user].sort())
      assertFailure(await run(['room', 'join', name, '--home', carol.home]), 13, name)
      assert.deepEqual((await json<Member[]>(bob, 'room', 'members', name)).map(m => m.user).sort(), [alice.user, bob.user].sort())
    })
  })

  describe('bad input: one line, a non-zero exit code, nothing changed', function () {
    it('invalid names, unknown users and rooms, answers to nobody', async function () {
      const [alice, bob] = await Promise.all([person('alice'), person('bob')])
      const nobody = unique('nobody')
      const roomsBefore = await json<Room[]>(alice, 'rooms')

      assertFailure(await run(['request', 'Not Valid!', '--home', alice.home]), 2, 'Not Valid!')
      assertFailure(await run(['request', nobody, '--home', alice.home]), 3, nobody)
      assertFailure(await run(['accept', bob.user, '--home', alice.home]), 2, bob.user)
      assertFailure(await run(['decline', bob.user, '--home', alice.home]), 2, bob.user)
      assertFailure(await run(['close', bob.user, '--home', alice.home]), 2, bob.user)
      assertFailure(await run(['request', '--home', alice.home]), 2)

      const noRoom = unique('noroom')
      assertFailure(await run(['room', 'join', noRoom, '--home', alice.home]), 3, noRoom)
      assertFailure(await run(['room', 'members', noRoom, '--home', alice.home]), 3, noRoom)
      assertFailure(await run(['send', `#${noRoom}`, 'hello?', '--home', alice.home]), 3, noRoom)
      assertFailure(await run(['room', 'create', 'Bad Room', '--home', alice.home]), 2, 'Bad Room')
      assertFailure(await run(['room', 'create', 'global', '--home', alice.home]), undefined, 'global')
      const taken = unique('taken')
      assertOk(await run(['room', 'create', taken, '--home', bob.home]))
      assertFailure(await run(['room', 'create', taken, '--home', alice.home]), 3, taken)
      assertFailure(await run(['room', 'frobnicate', taken, '--home', alice.home]), 2)

      assert.deepEqual(await json<Request[]>(alice, 'requests'), [])
      assert.deepEqual(await json<Request[]>(bob, 'requests'), [])
      const roomsAfter = await json<Room[]>(alice, 'rooms')
      assert.deepEqual(roomsAfter.filter(r => r.joined).map(r => r.room), roomsBefore.filter(r => r.joined).map(r => r.room))
    })

    it('a running listen answers bad commands on stdin with an error result and keeps going', async function () {
      const alice = await person('alice')
      const listen = await each.startListen(alice.home, { env: ENV })
      const wrongType = await listen.command({ cmd: 'request', user: 5 })
      assert.equal(wrongType.ok, false)
      assert.equal((wrongType.error as { name?: string }).name, 'InvalidInputError')
      const badName = await listen.command({ cmd: 'join-room', room: 'Bad Room' })
      assert.equal(badName.ok, false)
      assert.equal((badName.error as { name?: string }).name, 'InvalidInputError')
      const unknownRoom = await listen.command({ cmd: 'members', room: unique('noroom') })
      assert.equal(unknownRoom.ok, false)
      assert.equal((unknownRoom.error as { name?: string }).name, 'UnknownRoomError')
      const fine = await listen.command({ cmd: 'requests' })
      assert.equal(fine.ok, true, JSON.stringify(fine))
      assert.deepEqual(fine.result, [])
    })
  })
})
