/**
 * The operator's commands (issue 8) against a real rendezvous node: through its admin socket
 * while it runs, on its store while it is stopped.
 */
import assert from 'node:assert/strict'
import { stat } from 'node:fs/promises'
import { createConnection } from 'node:net'
import { join } from 'node:path'
import { Harness, EventLog, TEST_PASSWORD, TEST_SCRYPT, eventually } from '../../src/testing/index.js'
import { register, login, Home } from '../../src/client/index.js'
import { openAdmin, withAdmin, ADMIN_SOCKET } from '../../src/rendezvous/admin.js'
import { LevelRendezvousState } from '../../src/store/index.js'
import type { AdminApi, AdminUser } from '../../src/rendezvous/admin.js'
import type { PresenceEvent } from '../../src/protocol/index.js'
import { rejectsNamed } from '../assert.js'

const NEW_PASSWORD = 'a brand new password'


function find (list: AdminUser[], user: string): AdminUser {
  const found = list.find(u => u.user === user)
  assert.ok(found != null, `no ${user} in ${list.map(u => u.user).join(', ')}`)
  return found
}

/** One line to the admin socket, its answer parsed. */
async function rawCommand (path: string, line: string): Promise<{ ok: boolean, error?: { name: string } }> {
  return await new Promise((resolve, reject) => {
    const s = createConnection(path)
    let buf = ''
    s.on('data', chunk => {
      buf += chunk.toString()
      const nl = buf.indexOf('\n')
      if (nl >= 0) { s.destroy(); resolve(JSON.parse(buf.slice(0, nl))) }
    })
    s.on('error', reject)
    s.write(`${line}\n`)
  })
}

describe('admin commands', function () {
  let h: Harness
  const opened: AdminApi[] = []
  /** An admin for the harness's node, closed after the test. */
  const admin = async (): Promise<AdminApi> => {
    const a = await openAdmin(h.rendezvousDataDir, { scrypt: TEST_SCRYPT })
    opened.push(a)
    return a
  }
  const creds = (home: string, user: string, password = TEST_PASSWORD): Parameters<typeof login>[0] =>
    ({ home, server: h.serverAddress, user, password, wrapScrypt: TEST_SCRYPT })

  beforeEach(async () => {
    h = new Harness({ rendezvous: { accountFreeFailures: 1000, addressFreeFailures: 1000, registrationsPerSecond: 100 } })
    await h.startRendezvous()
  })
  afterEach(async () => {
    await Promise.allSettled(opened.splice(0).map(async a => { await a.close() }))
    await h.stop()
  })

  it('lists every account through the running node, and from the store of a stopped one', async () => {
    const alice = await h.client('alice')
    await h.client('bob', { start: false })
    const live = await admin()
    assert.equal(live.live, true)
    const users = await live.users()
    assert.deepEqual(users.map(u => u.user), ['alice', 'bob'])
    const a = find(users, 'alice')
    assert.equal(a.online, true)
    assert.equal(a.disabled, false)
    assert.equal(typeof a.createdAt, 'number')
    assert.match(String(a.lastAddr), /^\/ip4\/127\.0\.0\.1\/tcp\//)
    assert.equal(a.accountKey, (await alice.home.readAccountKey())?.publicKey)
    assert.deepEqual(a.devices.map(d => [d.peer, d.loggedIn, d.online]), [[alice.peerId, true, true]])
    const b = find(users, 'bob')
    assert.equal(b.online, false)
    assert.equal(b.lastSeen, null)
    assert.deepEqual(b.devices.map(d => [d.loggedIn, d.online]), [[true, false]])

    await alice.stop()
    await eventually(async () => find(await live.users(), 'alice').online === false, 5_000, 'alice offline')
    await live.close()
    await h.stopRendezvous()
    assert.equal((await stat(join(h.rendezvousDataDir, ADMIN_SOCKET)).catch(() => undefined)), undefined, 'the socket is removed at stop')

    const stopped = await admin()
    assert.equal(stopped.live, false)
    const offline = await stopped.users()
    const a2 = find(offline, 'alice')
    assert.equal(a2.online, null, 'unknown without a running node')
    assert.ok(a2.lastSeen != null)
    assert.deepEqual(a2.devices.map(d => [d.peer, d.loggedIn, d.online]), [[alice.peerId, true, null]])
    // the node waits for an admin command that holds its store for a moment
    const starting = h.startRendezvous()
    await stopped.users()
    await stopped.close()
    await starting
    assert.equal((await admin()).live, true)
  })

  it('add-user: the account logs in with that password, and its first device makes the account key', async () => {
    const events: PresenceEvent[] = []
    h.rendezvous!.presence.onEvent(ev => events.push(ev))
    const a = await admin()
    const added = await a.addUser('carol', NEW_PASSWORD)
    assert.equal(added.user, 'carol')
    assert.equal(added.accountKey, null)
    assert.ok(events.some(ev => ev.type === 'registered' && ev.user === 'carol'))
    await rejectsNamed(a.addUser('carol', NEW_PASSWORD), 'UsernameTakenError')
    await rejectsNamed(a.addUser('Carol!', NEW_PASSWORD), 'InvalidInputError')
    await rejectsNamed(a.addUser('dora', 'short'), 'InvalidInputError')
    await rejectsNamed(register(creds(await h.tempDir('c0'), 'carol')), 'UsernameTakenError')

    const home = await h.tempDir('c1')
    await rejectsNamed(login(creds(home, 'carol')), 'WrongPasswordError')
    const first = await login(creds(home, 'carol', NEW_PASSWORD))
    assert.equal(first.warning, undefined)
    const key = await new Home(home).readAccountKey()
    assert.ok(key != null)
    assert.equal(find(await a.users(), 'carol').accountKey, key.publicKey)
    assert.ok(events.some(ev => ev.type === 'registered' && ev.user === 'carol' && ev.accountKey === key.publicKey), 'devices learn the new key')

    // a second device unwraps the same key; others find it in the directory
    const home2 = await h.tempDir('c2')
    await login(creds(home2, 'carol', NEW_PASSWORD))
    assert.equal((await new Home(home2).readAccountKey())?.publicKey, key.publicKey)
    const carol = await h.startClient(home)
    const bob = await h.client('bob')
    assert.equal((await bob.users()).find(u => u.user === 'carol')?.accountKey, key.publicKey)
    assert.equal(carol.user, 'carol')

    // and without a running node
    await a.close()
    await h.stopRendezvous()
    await withAdmin(h.rendezvousDataDir, async offline => { await offline.addUser('dora', NEW_PASSWORD) }, { scrypt: TEST_SCRYPT })
    await h.startRendezvous()
    await login(creds(await h.tempDir('d1'), 'dora', NEW_PASSWORD))
  })

  it('disable-user ends the sessions and refuses logins and certificates; --enable undoes it', async () => {
    const alice = await h.client('alice')
    await h.client('bob')
    const events: PresenceEvent[] = []
    h.rendezvous!.presence.onEvent(ev => events.push(ev))
    const log = new EventLog(alice)
    const a = await admin()

    const res = await a.setDisabled('alice', true)
    assert.deepEqual(res, { user: 'alice', disabled: true, changed: true, sessionsClosed: 1 })
    assert.ok(events.some(ev => ev.type === 'disabled' && ev.user === 'alice' && ev.disabled))
    await log.waitFor(ev => ev.type === 'error' && ev.error.name === 'AccountDisabledError', 5_000, 'the refused session')
    await eventually(() => alice.connectionState === 'offline', 5_000, 'alice offline')
    assert.equal(find(await a.users(), 'alice').online, false)
    await rejectsNamed(login(creds(await h.tempDir('a2'), 'alice')), 'AccountDisabledError')
    await alice.stop()
    await rejectsNamed(h.startClient(alice.home.dir), 'AccountDisabledError')
    // the directory marks it, for a device that connects now
    const carol = await h.client('carol')
    assert.equal((await carol.users()).find(u => u.user === 'alice')?.disabled, true)
    assert.equal((await carol.users()).find(u => u.user === 'bob')?.disabled, undefined)
    assert.equal((await a.setDisabled('alice', true)).changed, false)
    await rejectsNamed(a.setDisabled('nobody', true), 'UnknownUserError')

    const back = await a.setDisabled('alice', false)
    assert.deepEqual(back, { user: 'alice', disabled: false, changed: true, sessionsClosed: 0 })
    assert.ok(events.some(ev => ev.type === 'disabled' && ev.user === 'alice' && !ev.disabled))
    const again = await h.startClient(alice.home.dir)
    assert.equal(again.connectionState, 'connected')
    await login(creds(await h.tempDir('a3'), 'alice'))
  })

  it('reset-password: the old password is refused, a device that held the key keeps it, a new device makes one', async () => {
    const alice = await h.client('alice')
    const homeA = alice.home.dir
    const original = (await alice.home.readAccountKey())!
    const log = new EventLog(alice)
    const a = await admin()
    const res = await a.resetPassword('alice', NEW_PASSWORD)
    assert.deepEqual(res, { user: 'alice', devicesLoggedOut: 1, sessionsClosed: 1 })
    await log.waitFor(ev => ev.type === 'error' && ev.error.name === 'InvalidCertificateError', 5_000, 'the refused session')
    await alice.stop()
    assert.deepEqual(find(await a.users(), 'alice').devices.map(d => d.loggedIn), [false])
    await rejectsNamed(login(creds(homeA, 'alice')), 'WrongPasswordError')

    // (a) this device holds the key: it wraps it again with the new password, nothing is lost
    const again = await login(creds(homeA, 'alice', NEW_PASSWORD))
    assert.equal(again.warning, undefined)
    assert.equal((await new Home(homeA).readAccountKey())?.publicKey, original.publicKey)
    assert.equal(find(await a.users(), 'alice').accountKey, original.publicKey)
    const second = await h.tempDir('a2')
    assert.equal((await login(creds(second, 'alice', NEW_PASSWORD))).warning, undefined)
    assert.equal((await new Home(second).readAccountKey())?.publicKey, original.publicKey)
    assert.equal((await h.startClient(homeA)).connectionState, 'connected')

    // (b) after another reset a device that never held the key makes a new one, and says so
    await a.resetPassword('alice', TEST_PASSWORD)
    const fresh = await h.tempDir('a3')
    const made = await login(creds(fresh, 'alice'))
    assert.match(String(made.warning), /new one was made/)
    const key = (await new Home(fresh).readAccountKey())!
    assert.notEqual(key.publicKey, original.publicKey)
    assert.equal(find(await a.users(), 'alice').accountKey, key.publicKey)
    // a device logging in later takes that key; a wrong unwrap without a reset stays an error
    const later = await h.tempDir('a4')
    assert.equal((await login(creds(later, 'alice'))).warning, undefined)
    assert.equal((await new Home(later).readAccountKey())?.publicKey, key.publicKey)
    await rejectsNamed(a.resetPassword('nobody', NEW_PASSWORD), 'UnknownUserError')
    await rejectsNamed(a.resetPassword('alice', 'short'), 'InvalidInputError')
  })

  it('many concurrent admin writes while the node handles logins and sessions lose nothing', async () => {
    const steady = await h.clientsFor(['rita', 'rolf', 'ruth', 'rudy'])
    const resetUsers = ['umar', 'una', 'uli']
    for (const u of resetUsers) await register(creds(await h.tempDir(u), u))
    const admins = await Promise.all([admin(), admin(), admin(), admin()])
    const work: Array<Promise<unknown>> = []
    for (let i = 0; i < 16; i++) work.push(admins[i % admins.length]!.addUser(`new${i}`, NEW_PASSWORD))
    // steady users' sessions write lastSeen and lastAddr while they are disabled and enabled
    steady.forEach((c, i) => {
      work.push((async () => {
        await admins[i]!.setDisabled(c.user, true)
        await admins[(i + 1) % admins.length]!.setDisabled(c.user, false)
        await admins[(i + 2) % admins.length]!.setDisabled(c.user, i % 2 === 0)
      })())
    })
    // logins with the old password race the reset of theirs
    for (const u of resetUsers) {
      for (let k = 0; k < 3; k++) work.push(login(creds(await h.tempDir(`${u}${k}`), u)).catch(() => undefined))
      work.push(admins[0]!.resetPassword(u, NEW_PASSWORD))
    }
    // and plain logins of the steady users from new devices
    for (const c of steady) work.push(login(creds(await h.tempDir(`${c.user}-x`), c.user)).catch((err: Error) => err.name))
    await Promise.all(work)

    const users = await admins[0]!.users()
    for (let i = 0; i < 16; i++) assert.equal(find(users, `new${i}`).disabled, false)
    steady.forEach((c, i) => { assert.equal(find(users, c.user).disabled, i % 2 === 0, c.user) })
    for (const u of resetUsers) {
      const devices = find(users, u).devices
      assert.ok(devices.length >= 1)
      assert.deepEqual(devices.filter(d => d.loggedIn), [], `${u}: no device stays logged in with the old password`)
      await rejectsNamed(login(creds(await h.tempDir(`${u}-old`), u)), 'WrongPasswordError')
      await login(creds(await h.tempDir(`${u}-new`), u, NEW_PASSWORD))
    }
    await login(creds(await h.tempDir('n0'), 'new0', NEW_PASSWORD))
    await login(creds(await h.tempDir('n15'), 'new15', NEW_PASSWORD))
  })

  it('serves an owner-only socket that answers bad commands with named errors', async () => {
    const path = join(h.rendezvousDataDir, ADMIN_SOCKET)
    assert.equal((await stat(path)).mode & 0o777, 0o600)
    assert.equal((await rawCommand(path, 'not json')).error?.name, 'InvalidInputError')
    assert.equal((await rawCommand(path, '{"cmd":"drop-database"}')).error?.name, 'InvalidInputError')
    assert.equal((await rawCommand(path, JSON.stringify({ cmd: 'disable-user', user: 'x'.repeat(65), disabled: true }))).error?.name, 'InvalidInputError')
    assert.equal((await rawCommand(path, 'x'.repeat(200 * 1024))).error?.name, 'InvalidInputError')
    assert.equal((await rawCommand(path, JSON.stringify({ cmd: 'disable-user', user: 'nobody', disabled: true }))).error?.name, 'UnknownUserError')
    assert.equal((await rawCommand(path, '{"cmd":"users"}')).ok, true)
  })

  it('refuses a store that another process holds without answering, and a folder with no node data', async () => {
    await h.stopRendezvous()
    const held = await LevelRendezvousState.open(join(h.rendezvousDataDir, 'db'))
    try {
      await rejectsNamed(openAdmin(h.rendezvousDataDir, { lockWaitMs: 200 }), 'StoreLockedError')
    } finally {
      await held.close()
    }
    await rejectsNamed(openAdmin(await h.tempDir('empty')), 'InvalidInputError')
  })
})
