import assert from 'node:assert/strict'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { Harness, TEST_PASSWORD, TEST_SCRYPT } from '../../src/testing/index.js'
import { register, login, logout, MeshClient, Home } from '../../src/client/index.js'
import { rejectsNamed } from '../assert.js'


describe('accounts', function () {
  let h: Harness
  beforeEach(async () => { h = new Harness(); await h.startRendezvous() })
  afterEach(async () => { await h.stop() })

  it('registers, refuses a taken name, and logs in on a second device with its own key', async () => {
    const home1 = await h.tempDir('a1')
    const home2 = await h.tempDir('a2')
    const first = await register({ home: home1, server: h.serverAddress, user: 'alice', password: TEST_PASSWORD, wrapScrypt: TEST_SCRYPT })
    await rejectsNamed(register({ home: home2, server: h.serverAddress, user: 'alice', password: 'another pass', wrapScrypt: TEST_SCRYPT }), 'UsernameTakenError')
    const second = await login({ home: home2, server: h.serverAddress, user: 'alice', password: TEST_PASSWORD, wrapScrypt: TEST_SCRYPT })
    assert.equal(second.user, 'alice')
    assert.notEqual(first.cert.device, second.cert.device)
    const [a1, a2] = [await h.startClient(home1), await h.startClient(home2)]
    assert.equal(a1.user, 'alice')
    assert.equal(a2.user, 'alice')
    const me = (await a1.users()).find(u => u.user === 'alice')
    assert.equal(me?.devices.length, 2)
  })

  it('gives named errors for bad names, wrong passwords and unknown users', async () => {
    const home = await h.tempDir('x')
    const server = h.serverAddress
    await rejectsNamed(register({ home, server, user: 'A!', password: TEST_PASSWORD, wrapScrypt: TEST_SCRYPT }), 'InvalidInputError')
    await rejectsNamed(register({ home, server, user: 'alice', password: 'short' }), 'InvalidInputError')
    await register({ home, server, user: 'alice', password: TEST_PASSWORD, wrapScrypt: TEST_SCRYPT })
    await rejectsNamed(login({ home, server, user: 'alice', password: 'wrong password' }), 'WrongPasswordError')
    await rejectsNamed(login({ home, server, user: 'nobody', password: TEST_PASSWORD, wrapScrypt: TEST_SCRYPT }), 'UnknownUserError')
    await rejectsNamed(login({ home, server: 'not an address', user: 'alice', password: TEST_PASSWORD, wrapScrypt: TEST_SCRYPT }), 'InvalidInputError')
  })

  it('slows down repeated failed logins, even with the right password', async () => {
    const home = await h.tempDir('x')
    const server = h.serverAddress
    await register({ home, server, user: 'alice', password: TEST_PASSWORD, wrapScrypt: TEST_SCRYPT })
    for (let i = 0; i < 3; i++) {
      await rejectsNamed(login({ home, server, user: 'alice', password: `wrong ${i} password` }), 'WrongPasswordError')
    }
    await rejectsNamed(login({ home, server, user: 'alice', password: 'wrong again!' }), 'RateLimitedError')
    await rejectsNamed(login({ home, server, user: 'alice', password: TEST_PASSWORD, wrapScrypt: TEST_SCRYPT }), 'RateLimitedError')
  })

  it('throttles parallel guesses as well as sequential ones', async () => {
    const home = await h.tempDir('x')
    const server = h.serverAddress
    await register({ home, server, user: 'alice', password: TEST_PASSWORD, wrapScrypt: TEST_SCRYPT })
    const homes = await Promise.all(Array.from({ length: 10 }, async (_, i) => await h.tempDir(`g${i}`)))
    const results = await Promise.allSettled(homes.map(async (home, i) => await login({ home, server, user: 'alice', password: `guess number ${i}` })))
    const names = results.map(r => r.status === 'rejected' ? (r.reason as Error).name : 'ok')
    assert.equal(names.filter(n => n === 'WrongPasswordError').length, 3, names.join(' '))
    assert.equal(names.filter(n => n === 'RateLimitedError').length, 7, names.join(' '))
  })

  it('stays logged in across restarts, and a logged-out device is refused', async () => {
    const alice = await h.client('alice')
    const home = alice.home.dir
    await alice.stop()
    const again = await h.startClient(home)
    assert.equal(again.connectionState, 'connected')
    await again.stop()
    const saved = await new Home(home).requireLogin()
    const accountKey = await new Home(home).readAccountKey()
    await logout(home)
    await rejectsNamed(new Home(home).requireLogin(), 'NotLoggedInError')
    assert.equal(await new Home(home).readAccountKey(), undefined)
    // the old certificate is no longer honoured by the rendezvous node
    await new Home(home).saveLogin(saved)
    await new Home(home).saveAccountKey(accountKey!)
    await rejectsNamed(h.startClient(home), 'InvalidCertificateError')
  })

  it('refuses a rendezvous node whose key changed', async () => {
    const alice = await h.client('alice')
    await alice.stop()
    const addr = h.serverAddress
    const dir = (h as unknown as { rendezvousDir: string }).rendezvousDir
    await h.stopRendezvous()
    await rm(join(dir, 'node.key'))
    await h.startRendezvous()
    assert.notEqual(h.serverAddress, addr)
    await rejectsNamed(login({ home: alice.home.dir, server: addr, user: 'alice', password: TEST_PASSWORD, wrapScrypt: TEST_SCRYPT }), 'ServerKeyChangedError')
    const stale = new MeshClient({ home: alice.home.dir, listen: [], session: false })
    await rejectsNamed(stale.start(), 'ServerKeyChangedError')
  })

  it('pins the server key on first use when the address has no peer id', async () => {
    const home = await h.tempDir('tofu')
    const bare = h.serverAddress.replace(/\/p2p\/.*/, '')
    const saved = await register({ home, server: bare, user: 'alice', password: TEST_PASSWORD, wrapScrypt: TEST_SCRYPT })
    assert.equal(saved.server, h.serverAddress)
    assert.equal(await new Home(home).pinnedServer(bare), h.rendezvous!.peerId)
  })
})
