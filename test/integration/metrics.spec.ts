import assert from 'node:assert/strict'
import { Harness, EventLog, eventually, TEST_PASSWORD, TEST_SCRYPT } from '../../src/testing/index.js'
import { login } from '../../src/client/index.js'

describe('rendezvous metrics', function () {
  let h: Harness
  beforeEach(async () => { h = new Harness({ rendezvous: { metricsPort: 0 } }); await h.startRendezvous() })
  afterEach(async () => { await h.stop() })

  async function scrape (): Promise<string> {
    const res = await fetch(`http://127.0.0.1:${h.rendezvous!.metricsPort!}/metrics`, { signal: AbortSignal.timeout(5_000) })
    assert.equal(res.status, 200)
    assert.match(res.headers.get('content-type') ?? '', /text\/plain/)
    return await res.text()
  }

  it('counts logins, registrations, sessions, archive items and puts and rejections, and reads gauges', async () => {
    const [alice, bob] = await h.clientsFor(['alice', 'bob'])
    await h.connect(alice!, bob!)
    await assert.rejects(login({ home: await h.tempDir('x'), server: h.serverAddress, user: 'alice', password: 'wrong password', wrapScrypt: TEST_SCRYPT }), { name: 'WrongPasswordError' })
    await login({ home: await h.tempDir('y'), server: h.serverAddress, user: 'bob', password: TEST_PASSWORD, wrapScrypt: TEST_SCRYPT })
    const log = new EventLog(bob!)
    await alice!.send('bob', 'counted')
    await log.waitFor(e => e.type === 'message')
    // (the archive copy of a message bob's device has may wait a moment for others to go with it)
    const items = (t: string): number => Number(/^meshchat_archive_items_total (\d+)$/m.exec(t)?.[1] ?? 0)
    await eventually(async () => items(await scrape()) >= 2, 5_000, 'the archive copies at the node')
    const text = await scrape()
    assert.match(text, /^# TYPE meshchat_logins_total counter$/m)
    assert.match(text, /^meshchat_logins_total\{result="wrong_password"\} 1$/m)
    assert.match(text, /^meshchat_logins_total\{result="ok"\} 1$/m)
    assert.match(text, /^meshchat_registrations_total\{result="ok"\} 2$/m)
    assert.match(text, /^meshchat_sessions_total 2$/m)
    // the message (sealed to bob and to alice), and maybe already bob's delivered receipt
    assert.ok(items(text) >= 2, text)
    // in one put request or more (copies of several messages may share one)
    const puts = Number(/^meshchat_archive_puts_total (\d+)$/m.exec(text)?.[1])
    assert.ok(puts >= 1 && puts <= items(text), text)
    assert.match(text, /^meshchat_rejections_total\{op="auth",reason="WrongPasswordError"\} 1$/m)
    assert.match(text, /^meshchat_online_users 2$/m)
    assert.match(text, /^meshchat_accounts 2$/m)
    assert.match(text, /^meshchat_connections \d+$/m)
    const notFound = await fetch(`http://127.0.0.1:${h.rendezvous!.metricsPort!}/other`)
    assert.equal(notFound.status, 404)
  })
})
