/**
 * `meshchat admin …` as the operator runs it: a separate process next to a running `meshchat
 * serve` (through its admin socket), and on the data folder of a stopped one. The tests run the
 * compiled code in dist/ (build first: `npm run build`).
 */
import assert from 'node:assert/strict'
import { ProcessGroup, assertFailure, assertOk, commandsIn } from '../../src/testing/index.js'
import type { RunOptions, RunResult, ServeProcess } from '../../src/testing/index.js'

const PASSWORD = 'correct horse battery'
const NEW_PASSWORD = 'a brand new password'
const ENV = { MESHCHAT_PASSWORD: PASSWORD, MESHCHAT_IP_COLOCATION_WHITELIST: '127.0.0.1' }
const SERVE_ARGS = ['--heartbeat-ms', '500', '--registrations-per-second', '100', '--address-free-failures', '100', '--account-free-failures', '100']

interface UserRow { user: string, online: boolean | null, disabled: boolean, lastSeen: number | null, lastAddr: string | null, createdAt: number, accountKey: string | null, devices: Array<{ peer: string, loggedIn: boolean, online: boolean | null }> }

describe('meshchat admin (separate processes)', function () {
  const group = new ProcessGroup()
  let dataDir: string
  let server: ServeProcess

  const { run, register } = commandsIn(group, { env: ENV })
  const adminRun = async (args: string[], options: RunOptions = {}): Promise<RunResult> =>
    await run(['admin', ...args, '--data', dataDir], options)
  const usersJson = async (): Promise<UserRow[]> => {
    const res = await adminRun(['users', '--json'])
    assertOk(res)
    return JSON.parse(res.stdout) as UserRow[]
  }
  const loginArgs = (home: string, user: string): string[] => ['login', '--no-ui', '--home', home, '--server', server.address, '--user', user]

  beforeEach(async function () {
    dataDir = await group.tempDir('admin-data')
    server = await group.startServe({ dataDir, args: SERVE_ARGS })
  })
  afterEach(async function () { await group.stopAll() })

  it('lists, adds, disables and enables accounts of a running node', async function () {
    assert.deepEqual(await usersJson(), [])
    const aliceHome = await register(server.address, 'alice')
    const bobHome = await register(server.address, 'bob')
    const alice = await group.startListen(aliceHome, { env: ENV })
    const bob = await group.startListen(bobHome, { env: ENV })

    const listed = await usersJson()
    assert.deepEqual(listed.map(u => [u.user, u.online, u.disabled]), [['alice', true, false], ['bob', true, false]])
    assert.equal(listed[0]!.devices.length, 1)
    assert.equal(listed[0]!.devices[0]!.online, true)
    const text = await adminRun(['users'])
    assertOk(text)
    assert.match(text.stdout, /^USER\s+ONLINE\s+STATUS\s+CREATED\s+LAST SEEN\s+LAST ADDRESS\s+DEVICES$/m)
    assert.match(text.stdout, /^alice\s+yes\s+active\s/m)
    assert.match(text.stdout, /^ {2}device 12D3KooW\S+ {2}online, logged in/m)

    // a new account, its password from stdin
    const added = await adminRun(['add-user', 'carol', '--password-stdin'], { input: `${NEW_PASSWORD}\n`, env: { MESHCHAT_PASSWORD: undefined } })
    assertOk(added)
    assert.match(added.stdout, /^added carol/)
    assertFailure(await adminRun(['add-user', 'carol']), 3)
    assertFailure(await adminRun(['add-user', 'Bad!']), 2)
    const carolHome = await group.tempDir('carol')
    assertOk(await run(loginArgs(carolHome, 'carol'), { env: { MESHCHAT_PASSWORD: NEW_PASSWORD } }))
    assert.ok((await usersJson()).find(u => u.user === 'carol')?.accountKey != null, 'its first device made the account key')

    // disabled: its session ends, every device hears of it, it cannot log in
    const off = await adminRun(['disable-user', 'alice'])
    assertOk(off)
    assert.equal(off.stdout, 'disabled alice (1 session closed)\n')
    await alice.waitFor(l => l.type === 'connection' && l.state === 'offline', 5_000, 'alice refused')
    await bob.waitFor(l => l.type === 'disabled' && l.user === 'alice' && l.disabled === true, 5_000, 'the disabled event')
    assertFailure(await run(loginArgs(await group.tempDir('alice2'), 'alice')), 4)
    assert.equal((await usersJson()).find(u => u.user === 'alice')?.disabled, true)
    assertFailure(await adminRun(['disable-user', 'nobody']), 3)

    const on = await adminRun(['disable-user', 'alice', '--enable', '--json'])
    assertOk(on)
    assert.deepEqual(JSON.parse(on.stdout), { user: 'alice', disabled: false, changed: true, sessionsClosed: 0 })
    assertOk(await run(loginArgs(await group.tempDir('alice3'), 'alice')))
  })

  it('resets a password: the old one is refused, the new one works, the device keeps its key', async function () {
    const home = await register(server.address, 'dave')
    const reset = await adminRun(['reset-password', 'dave'], { env: { MESHCHAT_PASSWORD: NEW_PASSWORD } })
    assertOk(reset)
    assert.match(reset.stdout, /1 device logged out/)
    assertFailure(await run(loginArgs(home, 'dave')), 4)
    const again = await run([...loginArgs(home, 'dave'), '--json'], { env: { MESHCHAT_PASSWORD: NEW_PASSWORD } })
    assertOk(again)
    assert.equal((JSON.parse(again.stdout) as { warning?: string }).warning, undefined)
    assert.equal(again.stderr, '')
    // a fresh device after another reset makes a new account key, and says so on stderr
    assertOk(await adminRun(['reset-password', 'dave']))
    const fresh = await run(loginArgs(await group.tempDir('dave2'), 'dave'))
    assertOk(fresh)
    assert.match(fresh.stderr, /^meshchat: warning: .*new one was made/)
  })

  it('works on the data folder of a stopped node, which then starts with the changes', async function () {
    const home = await register(server.address, 'erin')
    const port = server.port
    await server.kill()

    const users = await usersJson()
    assert.deepEqual(users.map(u => [u.user, u.online]), [['erin', null]])
    const text = await adminRun(['users'])
    assertOk(text)
    assert.match(text.stdout, /^erin\s+\?\s+active\s/m)
    assert.match(text.stdout, /not running: who is online is unknown/)
    assertOk(await adminRun(['add-user', 'fred']))
    assertOk(await adminRun(['disable-user', 'erin']))

    server = await group.startServe({ dataDir, port, args: SERVE_ARGS })
    assertOk(await run(loginArgs(await group.tempDir('fred'), 'fred')))
    assertFailure(await run(loginArgs(await group.tempDir('erin2'), 'erin')), 4)
    assert.deepEqual((await usersJson()).map(u => [u.user, u.disabled]), [['erin', true], ['fred', false]])
  })

  it('says in one line when the folder holds no node data', async function () {
    const empty = await group.tempDir('empty')
    assertFailure(await run(['admin', 'users', '--data', empty]), 2)
    assertFailure(await run(['admin']), 2)
  })
})
