/**
 * Real network separation (issue 6): the rendezvous node on a "public" namespace, alice and bob
 * each behind their own masquerading router. Skipped, visibly, where namespaces cannot be made.
 */
import assert from 'node:assert/strict'
import { NatLab, natLabSupport, eventually, SERVER_IP } from '../../src/testing/index.js'
import type { ListenLine, ListenProcess, ServeProcess } from '../../src/testing/index.js'

const PASSWORD = 'correct horse battery'
const ENV = { MESHCHAT_PASSWORD: PASSWORD }
const isText = (text: string) => (l: ListenLine): boolean => l.type === 'message' && l.text === text
const isChat = (user: string, state: string) => (l: ListenLine): boolean =>
  l.type === 'chat' && (l.chat as { user?: unknown, state?: unknown } | undefined)?.user === user && (l.chat as { state?: unknown }).state === state

interface Person { user: string, home: string, listen: ListenProcess }

describe('behind NAT (network namespaces)', function () {
  this.timeout(90_000)
  let lab: NatLab
  let server: ServeProcess

  before(function () {
    const support = natLabSupport()
    if (!support.ok) {
      console.log(`    (NAT tests skipped: ${support.reason})`)
      this.skip()
    }
  })
  beforeEach(async () => {
    lab = await NatLab.create()
  })
  afterEach(async () => { await lab?.destroy() })

  async function startServer (args: string[] = []): Promise<ServeProcess> {
    server = await lab.groups.srv.startServe({ host: '0.0.0.0', port: 4001, args: ['--heartbeat-ms', '500', ...args] })
    return server
  }

  /** Registers `user` on host `host` and starts its `listen --json` (waiting for its relay slot unless told not to). */
  async function person (host: 'a' | 'b', user: string, slot = true): Promise<Person> {
    const group = lab.groups[host]
    const home = await group.tempDir(`nat-${user}`)
    const res = await group.run(['register', '--home', home, '--server', `/ip4/${SERVER_IP}/tcp/4001/p2p/${server.peerId}`, '--user', user], { env: ENV })
    assert.equal(res.code, 0, res.stderr)
    const listen = await group.startListen(home, { listen: ['/ip4/0.0.0.0/tcp/0'], env: ENV })
    if (slot) await listen.waitFor(l => l.type === 'relay' && l.reserved === true, 15_000, `${user} holding a relay slot`)
    return { user, home, listen }
  }

  /** Makes two people accepted chat partners (direct messages need that): `a` asks, `b` accepts, `a` sees it. */
  async function connect (a: Person, b: Person): Promise<void> {
    const asked = await a.listen.command({ cmd: 'request', user: b.user }, 30_000)
    assert.equal(asked.ok, true, JSON.stringify(asked))
    await b.listen.waitFor(isChat(a.user, 'pending'), 30_000, `${b.user} to see ${a.user}'s request`)
    const accepted = await b.listen.command({ cmd: 'accept', user: a.user }, 30_000)
    assert.equal(accepted.ok, true, JSON.stringify(accepted))
    await a.listen.waitFor(isChat(b.user, 'accepted'), 30_000, `${a.user} to see ${b.user}'s acceptance`)
  }

  it('alice and bob, each behind NAT, exchange direct messages through the relay; the path is visible', async () => {
    await startServer()
    const alice = await person('a', 'alice')
    const bob = await person('b', 'bob')
    await connect(alice, bob)
    const sent = await alice.listen.command({ cmd: 'send', to: 'bob', text: 'hello through two NATs' }, 20_000)
    assert.equal(sent.ok, true, JSON.stringify(sent))
    assert.equal((sent.result as { status: string }).status, 'delivered')
    await bob.listen.waitFor(isText('hello through two NATs'), 10_000)
    const back = await bob.listen.command({ cmd: 'send', to: 'alice', text: 'and back' }, 20_000)
    assert.equal(back.ok, true, JSON.stringify(back))
    await alice.listen.waitFor(isText('and back'), 10_000)
    const ping = await alice.listen.command({ cmd: 'ping', user: 'bob' }, 20_000)
    assert.equal(ping.ok, true, JSON.stringify(ping))
    const [result] = ping.result as Array<{ path: string, rttMs: number }>
    assert.ok(result != null && ['direct', 'relayed'].includes(result.path))
    console.log(`      (alice → bob: ${result.path}, ${result.rttMs.toFixed(1)} ms)`)
  })

  it('carries global-room messages between people behind NAT', async () => {
    await startServer()
    const alice = await person('a', 'alice')
    const bob = await person('b', 'bob')
    const res = await alice.listen.command({ cmd: 'send', to: '#global', text: 'hello room from behind NAT' }, 20_000)
    assert.equal(res.ok, true, JSON.stringify(res))
    const got = await bob.listen.waitFor(isText('hello room from behind NAT'), 10_000)
    assert.equal(got.room, 'global')
  })

  it('renews its relay slot before it expires, and stays reachable past its lifetime', async function () {
    // libp2p refreshes a slot 30 s after it was made at the soonest: a 35 s slot shows the renewal
    const ttl = 35
    await startServer(['--relay-ttl', String(ttl)])
    const alice = await person('a', 'alice')
    const reservedAt = Date.now()
    const bob = await person('b', 'bob')
    await connect(alice, bob)
    // the scenario is time itself: the first slot's lifetime must pass
    await eventually(() => Date.now() > reservedAt + (ttl + 3) * 1000, (ttl + 10) * 1000, 'the first slot\'s lifetime')
    const back = await bob.listen.command({ cmd: 'send', to: 'alice', text: 'reached you past the first slot' }, 20_000)
    assert.equal(back.ok, true, JSON.stringify(back))
    assert.equal((back.result as { status: string }).status, 'delivered', JSON.stringify(back))
    await alice.listen.waitFor(isText('reached you past the first slot'), 10_000)
  })

  it('loses and doubles nothing over a lossy link', async () => {
    await startServer()
    const alice = await person('a', 'alice')
    const bob = await person('b', 'bob')
    await connect(alice, bob)
    await lab.loss('a', 0.1)
    const texts = Array.from({ length: 20 }, (_, i) => `lossy ${i}`)
    for (const text of texts) {
      const res = await alice.listen.command({ cmd: 'send', to: 'bob', text }, 30_000)
      assert.equal(res.ok, true, JSON.stringify(res))
    }
    for (const text of texts) await bob.listen.waitFor(isText(text), 20_000, text)
    await lab.loss('a', 0)
    const page = await bob.listen.command({ cmd: 'history', target: 'alice', limit: 100 }, 20_000)
    const got = (page.result as { messages: Array<{ text: string }> }).messages.map(m => m.text)
    assert.deepEqual(got, texts)
  })

  it('catches up exactly once after its link was down for seconds', async () => {
    await startServer()
    const alice = await person('a', 'alice')
    const bob = await person('b', 'bob')
    await connect(alice, bob)
    await lab.link('a', false)
    // bob writes while alice is cut off: stored at the node for her
    const texts = ['while you were cut off 1', 'while you were cut off 2']
    for (const text of texts) {
      const res = await bob.listen.command({ cmd: 'send', to: 'alice', text }, 30_000)
      assert.equal(res.ok, true, JSON.stringify(res))
    }
    await lab.link('a', true)
    for (const text of texts) await alice.listen.waitFor(isText(text), 30_000, text)
    const page = await alice.listen.command({ cmd: 'history', target: 'bob', limit: 100 }, 20_000)
    const got = (page.result as { messages: Array<{ text: string }> }).messages.map(m => m.text)
    assert.deepEqual(got, texts)
    assert.equal(alice.listen.lines.filter(isText(texts[0]!)).length, 1)
  })

  it('says why when the relay is full, and delivery falls back to the node\'s stored copy', async () => {
    await startServer(['--relay-reservations', '0'])
    const alice = await person('a', 'alice', false)
    const bob = await person('b', 'bob', false)
    await alice.listen.waitFor(l => l.type === 'relay' && l.reserved === false, 20_000, 'alice told she has no relay slot')
    const refused = await bob.listen.waitFor(l => l.type === 'relay' && l.reserved === false, 20_000, 'bob told he has no relay slot')
    assert.match(String(refused.reason), /no relay slot/)
    await connect(alice, bob)
    const sent = await alice.listen.command({ cmd: 'send', to: 'bob', text: 'via the stored copy' }, 30_000)
    assert.equal(sent.ok, true, JSON.stringify(sent))
    assert.equal((sent.result as { status: string }).status, 'sent')
    await bob.listen.waitFor(isText('via the stored copy'), 15_000, 'the stored copy reaching bob')
  })
})
