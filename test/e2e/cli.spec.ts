/**
 * The README walkthrough with the real binary: every step is a separate `meshchat` process, as
 * people run it. The tests run the compiled code in dist/ (build first: `npm run build`).
 */
import assert from 'node:assert/strict'
import { readdirSync } from 'node:fs'
import { createServer } from 'node:net'
import { ProcessGroup, assertFailure, assertOk, commandsIn, isText, uniqueName as unique } from '../../src/testing/index.js'
import type { ListenLine, ListenProcess, ServeProcess } from '../../src/testing/index.js'

const PASSWORD = 'correct horse battery'
/** Every process gets the password, and loopback peers are not penalised for sharing 127.0.0.1. */
const ENV = { MESHCHAT_PASSWORD: PASSWORD, MESHCHAT_IP_COLOCATION_WHITELIST: '127.0.0.1' }
/** A quick heartbeat, and room for the many registrations and failed logins from 127.0.0.1. */
const SERVE_ARGS = ['--heartbeat-ms', '500', '--registrations-per-second', '100', '--address-free-failures', '100', '--log-level', 'debug']
const COMMANDS = ['serve', 'register', 'login', 'logout', 'whoami', 'users', 'send', 'listen', 'ping', 'conversations', 'history', 'unread', 'read',
  'request', 'requests', 'accept', 'decline', 'close', 'contacts', 'profile', 'rooms', 'room', 'send-file', 'files', 'get']

/** A port nothing listens on: bound, then released. */
async function closedPort (): Promise<number> {
  const server = createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  assert.ok(address != null && typeof address === 'object')
  await new Promise<void>(resolve => server.close(() => { resolve() }))
  return address.port
}

const isPresence = (user: string, online: boolean) => (l: ListenLine): boolean => l.type === 'presence' && l.user === user && l.online === online
const connectionStates = (listen: ListenProcess): unknown[] => listen.lines.filter(l => l.type === 'connection').map(l => l.state)

describe('meshchat cli (separate processes)', function () {
  /** The rendezvous node shared by the tests that do not disturb it. */
  const suite = new ProcessGroup()
  /** What one test starts; stopped after each test. */
  const each = new ProcessGroup()
  let server: ServeProcess

  const { run, register, chatting } = commandsIn(each, { env: ENV })

  /** Registers `user` in a fresh home on `address` and returns the home. */
  const registered = async (user: string, address = server.address): Promise<string> => await register(address, user)

  async function listening (home: string): Promise<ListenProcess> {
    return await each.startListen(home, { env: ENV })
  }

  before(async function () {
    // the node too must not penalise the many devices of this run for sharing 127.0.0.1
    server = await suite.startServe({ args: SERVE_ARGS, env: ENV })
  })
  after(async function () { await suite.stopAll() })
  afterEach(async function () { await each.stopAll() })

  describe('walkthrough', function () {
    it('registers two people on their own homes; whoami and users show them', async function () {
      const [alice, bob] = [unique('alice'), unique('bob')]
      const [aliceHome] = await Promise.all([registered(alice), registered(bob)])
      const who = await run(['whoami', '--home', aliceHome, '--json'])
      assertOk(who)
      const me = JSON.parse(who.stdout) as Record<string, unknown>
      assert.equal(me.user, alice)
      assert.equal(me.server, server.address)
      assert.equal(me.home, aliceHome)
      assert.match(String(me.device), /^12D3KooW/)
      assert.ok(typeof me.certExpires === 'number' && me.certExpires > Date.now())

      const list = await run(['users', '--home', aliceHome, '--json'])
      assertOk(list)
      const users = JSON.parse(list.stdout) as Array<Record<string, unknown>>
      const ours = users.filter(u => u.user === alice || u.user === bob)
      assert.deepEqual(ours.map(u => [u.user, u.online, u.devices]), [[alice, false, 0], [bob, false, 0]])
    })

    it('delivers a direct message and a #global message to a listening peer', async function () {
      const [alice, bob] = [unique('alice'), unique('bob')]
      const [aliceHome, bobHome] = await Promise.all([registered(alice), registered(bob)])
      const bobListen = await listening(bobHome)
      await chatting({ user: alice, home: aliceHome }, { user: bob, home: bobHome, listen: bobListen })

      const sent = await run(['send', '--home', aliceHome, bob, 'hello', `from ${alice}`])
      assertOk(sent)
      assert.equal(sent.stdout, `delivered to ${bob} (1 device)\n`)
      const dm = await bobListen.waitFor(isText(`hello from ${alice}`), 5_000, 'the direct message')
      assert.equal(dm.from, alice)
      assert.equal(dm.peer, alice)
      assert.equal(dm.conv, `dm:${alice}:${bob}`)

      const room = await run(['send', '--home', aliceHome, '#global', `hello room from ${alice}`])
      assertOk(room)
      const msg = await bobListen.waitFor(isText(`hello room from ${alice}`), 5_000, 'the room message')
      assert.equal(msg.room, 'global')
      assert.equal(msg.from, alice)
    })

    it('pings the rendezvous node and a peer, directly', async function () {
      const [alice, bob] = [unique('alice'), unique('bob')]
      const [aliceHome, bobHome] = await Promise.all([registered(alice), registered(bob)])
      const bobListen = await listening(bobHome)
      const bobDevice = bobListen.lines.find(l => l.type === 'ready')?.device

      const toServer = await run(['ping', '--home', aliceHome, '--json'])
      assertOk(toServer)
      const toBob = await run(['ping', bob, '--home', aliceHome, '--json'])
      assertOk(toBob)
      const [s] = JSON.parse(toServer.stdout) as Array<Record<string, unknown>>
      assert.equal(s?.target, 'rendezvous')
      assert.equal(s?.peer, server.peerId)
      assert.equal(s?.path, 'direct')
      assert.ok(typeof s?.rttMs === 'number' && s.rttMs >= 0)
      const results = JSON.parse(toBob.stdout) as Array<Record<string, unknown>>
      assert.equal(results.length, 1)
      assert.equal(results[0]?.target, bob)
      assert.equal(results[0]?.peer, bobDevice)
      assert.equal(results[0]?.path, 'direct')
      assert.ok(typeof results[0]?.rttMs === 'number' && results[0].rttMs >= 0)
    })

    it('serves a one-shot send through the listen running on the same home', async function () {
      const [alice, bob] = [unique('alice'), unique('bob')]
      const [aliceHome, bobHome] = await Promise.all([registered(alice), registered(bob)])
      const bobListen = await listening(bobHome)
      const aliceListen = await listening(aliceHome)
      const aliceDevice = String(aliceListen.lines.find(l => l.type === 'ready')?.device)
      await bobListen.waitFor(isPresence(alice, true), 5_000, `${alice} online`)
      await chatting({ user: alice, home: aliceHome, listen: aliceListen }, { user: bob, home: bobHome, listen: bobListen })
      // a one-shot client of its own would open a new connection to the rendezvous node
      const connectionsOfAlice = (): number => server.stderr().split('\n').filter(l => l.includes('"connection open"') && l.includes(aliceDevice)).length
      const before = connectionsOfAlice()

      const sent = await run(['send', '--home', aliceHome, bob, 'through the control socket'])
      assertOk(sent)
      const msg = await bobListen.waitFor(isText('through the control socket'), 5_000, 'the message')
      assert.equal(msg.fromDevice, aliceDevice)

      // a round trip through both listens: anything the send disturbed has shown by now
      const answer = await bobListen.command({ cmd: 'send', to: alice, text: 'got it' })
      assert.equal(answer.ok, true, JSON.stringify(answer))
      await aliceListen.waitFor(isText('got it'), 5_000, 'the answer')
      assert.deepEqual(connectionStates(aliceListen), ['connecting', 'connected'])
      assert.equal(bobListen.lines.filter(l => l.type === 'presence' && l.user === alice).length, 1, 'alice went online once and stayed')
      assert.equal(connectionsOfAlice(), before, 'no second connection from alice\'s device')
    })

    it('shows a peer online while its listen runs, and offline soon after it is killed', async function () {
      const [bob, carol] = [unique('bob'), unique('carol')]
      const [bobHome, carolHome] = await Promise.all([registered(bob), registered(carol)])
      const bobListen = await listening(bobHome)
      const carolListen = await listening(carolHome)
      await bobListen.waitFor(isPresence(carol, true), 5_000, `${carol} online`)
      await carolListen.kill('SIGKILL')
      const offline = await bobListen.waitFor(isPresence(carol, false), 5_000, `${carol} offline`)
      assert.ok(typeof offline.lastSeen === 'number')
    })

    it('keeps a message to someone offline and delivers it when their listen starts', async function () {
      const [alice, bob] = [unique('alice'), unique('bob')]
      const [aliceHome, bobHome] = await Promise.all([registered(alice), registered(bob)])
      // bob accepts from a one-shot command too: his device has never been online
      await chatting({ user: alice, home: aliceHome }, { user: bob, home: bobHome })
      const sent = await run(['send', '--home', aliceHome, bob, 'while you were away'])
      assertOk(sent)
      assert.match(sent.stdout, /no device online, stored/)
      const bobListen = await listening(bobHome)
      const msg = await bobListen.waitFor(isText('while you were away'), 5_000, 'the stored message')
      assert.equal(msg.from, alice)
      assert.equal(msg.conv, `dm:${alice}:${bob}`)
    })

    it('runs two one-shot commands on one home at the same time', async function () {
      const [alice, bob] = [unique('alice'), unique('bob')]
      const [aliceHome, bobHome] = await Promise.all([registered(alice), registered(bob)])
      const bobListen = await listening(bobHome)
      await chatting({ user: alice, home: aliceHome }, { user: bob, home: bobHome, listen: bobListen })
      const results = await Promise.all([
        run(['users', '--home', aliceHome, '--json']),
        run(['ping', bob, '--home', aliceHome, '--json']),
        run(['send', '--home', aliceHome, bob, 'at the same time'])
      ])
      for (const res of results) assertOk(res)
    })

    it('answers an invalid command on stdin with an error result that carries its id', async function () {
      const alice = unique('alice')
      const aliceListen = await listening(await registered(alice))
      const res = await aliceListen.command({ cmd: 'frobnicate', id: 'bad-1' })
      assert.equal(res.ok, false)
      assert.equal((res.error as { name?: string } | undefined)?.name, 'InvalidInputError')
    })
  })

  describe('errors: one line, a non-zero exit code, no stack trace', function () {
    it('wrong password on login', async function () {
      const alice = unique('alice')
      await registered(alice)
      const home = await each.tempDir('wrong-password')
      const res = await run(['login', '--home', home, '--server', server.address, '--user', alice], { env: { MESHCHAT_PASSWORD: 'not the password' } })
      assertFailure(res, 4, alice)
    })

    it('a taken name on register', async function () {
      const alice = unique('alice')
      await registered(alice)
      const home = await each.tempDir('taken')
      assertFailure(await run(['register', '--home', home, '--server', server.address, '--user', alice]), 3, alice)
    })

    it('an unknown user on login', async function () {
      const nobody = unique('nobody')
      const home = await each.tempDir('unknown')
      assertFailure(await run(['login', '--home', home, '--server', server.address, '--user', nobody]), 3, nobody)
    })

    it('an unreachable server', async function () {
      const port = await closedPort()
      const home = await each.tempDir('unreachable')
      assertFailure(await run(['register', '--home', home, '--server', `/ip4/127.0.0.1/tcp/${port}`, '--user', unique('alice')]), 6, String(port))
      assertFailure(await run(['register', '--home', home, '--server', `127.0.0.1:${port}`, '--user', unique('alice')]), 6, String(port))
    })

    it('a bad server address', async function () {
      const home = await each.tempDir('bad-address')
      assertFailure(await run(['register', '--home', home, '--server', 'not-an-address', '--user', unique('alice')]), 2, 'not-an-address')
    })

    it('send when this home is not logged in', async function () {
      const home = await each.tempDir('not-logged-in')
      assertFailure(await run(['send', '--home', home, 'bob', 'hi']), 5, home)
    })

    it('ping someone who is offline', async function () {
      const [alice, bob] = [unique('alice'), unique('bob')]
      const [aliceHome] = await Promise.all([registered(alice), registered(bob)])
      assertFailure(await run(['ping', bob, '--home', aliceHome]), 8, bob)
    })

    it('an invalid username', async function () {
      const home = await each.tempDir('invalid-name')
      assertFailure(await run(['register', '--home', home, '--server', server.address, '--user', 'Not Valid!']), 2, 'Not Valid!')
    })
  })

  describe('usage', function () {
    it('--help lists every command and exits 0', async function () {
      const res = await run(['--help'])
      assertOk(res)
      for (const cmd of COMMANDS) assert.match(res.stdout, new RegExp(`meshchat ${cmd}\\b`), cmd)
      assert.equal(res.stderr, '')
    })

    it('send --help lists its arguments and options and exits 0', async function () {
      const res = await run(['send', '--help'])
      assertOk(res)
      for (const word of ['meshchat send <to> <text...>', '--home', '--server', '--json', '--help']) {
        assert.ok(res.stdout.includes(word), `send --help should list ${word}`)
      }
      assert.equal(res.stderr, '')
    })

    it('an unknown command exits 2 with one line', async function () {
      assertFailure(await run(['frobnicate']), 2, 'frobnicate')
    })

    it('a bad MESHCHAT_HEAP_GROWING_PERCENT exits 2 with one line, before any command runs', async function () {
      const home = await each.tempDir('bad-heap')
      for (const bad of ['abc', '-5', '1.5', '301']) {
        const res = await run(['register', '--home', home, '--server', server.address, '--user', unique('heap')], { env: { MESHCHAT_HEAP_GROWING_PERCENT: bad } })
        assertFailure(res, 2, `"${bad}"`)
        assert.match(res.stderr, /MESHCHAT_HEAP_GROWING_PERCENT must be an integer from 0 to 300/)
      }
      assert.deepEqual(readdirSync(home), [], 'nothing was written to the home')
      assertOk(await run(['--version'], { env: { MESHCHAT_HEAP_GROWING_PERCENT: '0' } }))
    })

    it('serve with a numeric option out of range or not a number exits 2 with one line naming it', async function () {
      const dataDir = await each.tempDir('bad-numbers')
      const cases: Array<[string, string]> = [
        ['--heartbeat-ms', '5'], ['--heartbeat-ms', 'abc'], ['--heartbeat-ms', '600001'], ['--port', '70000'], ['--max-connections', '-1'],
        ['--room-rate', '0'], ['--max-streams', '2.5'], ['--relay-ttl', 'NaN'], ['--metrics-port', '-80'],
        ['--presence-writes-per-second', '0']
      ]
      for (const [flag, value] of cases) {
        const res = await run(['serve', '--host', '127.0.0.1', '--data', dataDir, ...(flag === '--port' ? [] : ['--port', '0']), flag, value])
        assertFailure(res, 2, flag)
        // a value yargs could read as a number is repeated; text is named as not a number
        assert.ok(res.stderr.includes(Number.isNaN(Number(value)) ? 'not a number' : `"${value}"`), res.stderr)
      }
      assertFailure(await run(['serve', '--data', dataDir, '--port', '0', '--heartbeat-ms', '500', '--heartbeat-ms', '600']), 2, '--heartbeat-ms: given more than once')
      assert.deepEqual(readdirSync(dataDir), [], 'nothing was written to the data folder')
    })

    it('serve on a port already in use says so in one line', async function () {
      const dataDir = await each.tempDir('port-in-use')
      const res = await run(['serve', '--host', '127.0.0.1', '--port', String(server.port), '--data', dataDir])
      assertFailure(res, undefined, String(server.port))
    })
  })

  describe('when the rendezvous node dies', function () {
    it('keeps direct and #global messages flowing between listening peers, and both reconnect when it comes back', async function () {
      const own = await each.startServe({ args: SERVE_ARGS })
      const [alice, bob] = [unique('alice'), unique('bob')]
      const [aliceHome, bobHome] = await Promise.all([registered(alice, own.address), registered(bob, own.address)])
      // bob first: alice's welcome then lists bob's device, which she keeps while the node is down
      const bobListen = await listening(bobHome)
      const aliceListen = await listening(aliceHome)
      await chatting({ user: alice, home: aliceHome, listen: aliceListen }, { user: bob, home: bobHome, listen: bobListen })
      const warmUp = await aliceListen.command({ cmd: 'send', to: bob, text: 'before' })
      assert.equal(warmUp.ok, true, JSON.stringify(warmUp))
      await bobListen.waitFor(isText('before'), 5_000, 'the first message')

      await own.kill('SIGKILL')
      await aliceListen.waitFor(l => l.type === 'connection' && l.state === 'reconnecting', 5_000, 'alice reconnecting')
      await bobListen.waitFor(l => l.type === 'connection' && l.state === 'reconnecting', 5_000, 'bob reconnecting')

      const direct = await aliceListen.command({ cmd: 'send', to: bob, text: 'while the node is down' }, 10_000)
      assert.equal(direct.ok, true, JSON.stringify(direct))
      await bobListen.waitFor(isText('while the node is down'), 5_000, 'the direct message')
      const room = await aliceListen.command({ cmd: 'send', to: '#global', text: 'room while the node is down' }, 10_000)
      assert.equal(room.ok, true, JSON.stringify(room))
      const roomMsg = await bobListen.waitFor(isText('room while the node is down'), 5_000, 'the room message')
      assert.equal(roomMsg.room, 'global')

      const connectedCount = (l: ListenProcess): number => connectionStates(l).filter(s => s === 'connected').length
      const restarted = await each.startServe({ dataDir: own.dataDir, port: own.port, args: SERVE_ARGS })
      assert.equal(restarted.address, own.address, 'same key, same port')
      // the clients back off up to 5 s between attempts
      await aliceListen.waitFor(() => connectedCount(aliceListen) >= 2, 12_000, 'alice connected again')
      await bobListen.waitFor(() => connectedCount(bobListen) >= 2, 12_000, 'bob connected again')
    })

    it('notices a node that stops answering (frozen, its socket still open) within three beats, and is back when it wakes', async function () {
      const own = await each.startServe({ args: SERVE_ARGS })
      const aliceListen = await listening(await registered(unique('alice'), own.address))
      await aliceListen.waitFor(l => l.type === 'connection' && l.state === 'connected', 5_000, 'alice connected')
      const pid = own.proc.pid!
      process.kill(pid, 'SIGSTOP')
      try {
        // no pong for 3 × 500 ms: the session is given up although no socket closed
        await aliceListen.waitFor(l => l.type === 'connection' && l.state === 'reconnecting', 10_000, 'alice to give up on the frozen node')
      } finally {
        process.kill(pid, 'SIGCONT')
      }
      await aliceListen.waitFor(() => connectionStates(aliceListen).filter(s => s === 'connected').length >= 2, 30_000, 'alice connected again')
    })

    it('a one-shot ping through a running listen names the unreachable node', async function () {
      const own = await each.startServe({ args: SERVE_ARGS })
      const aliceHome = await registered(unique('alice'), own.address)
      const aliceListen = await listening(aliceHome)
      await own.kill('SIGKILL')
      await aliceListen.waitFor(l => l.type === 'connection' && l.state === 'reconnecting', 5_000, 'alice reconnecting')
      assertFailure(await run(['ping', '--home', aliceHome]), 6, String(own.port))
    })
  })
})
