/**
 * Real network separation (issue 6): the rendezvous node on a "public" namespace, alice and bob
 * each behind their own masquerading router. Skipped, visibly, where namespaces cannot be made.
 */
import assert from 'node:assert/strict'
import { NatLab, natLabSupport, SERVER_IP } from '../../src/testing/index.js'
import type { ListenLine, ListenProcess, ServeProcess } from '../../src/testing/index.js'

const PASSWORD = 'correct horse battery'
const ENV = { MESHCHAT_PASSWORD: PASSWORD }
const isText = (text: string) => (l: ListenLine): boolean => l.type === 'message' && l.text === text

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

  /** Registers `user` on host `host` and starts its `listen --json`. */
  async function person (host: 'a' | 'b', user: string): Promise<{ home: string, listen: ListenProcess }> {
    const group = lab.groups[host]
    const home = await group.tempDir(`nat-${user}`)
    const res = await group.run(['register', '--home', home, '--server', `/ip4/${SERVER_IP}/tcp/4001/p2p/${server.peerId}`, '--user', user], { env: ENV })
    assert.equal(res.code, 0, res.stderr)
    const listen = await group.startListen(home, { listen: ['/ip4/0.0.0.0/tcp/0'], env: ENV })
    await listen.waitFor(l => l.type === 'relay' && l.reserved === true, 15_000, `${user} holding a relay slot`)
    return { home, listen }
  }

  it('alice and bob, each behind NAT, exchange direct messages through the relay; the path is visible', async () => {
    await startServer()
    const alice = await person('a', 'alice')
    const bob = await person('b', 'bob')
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
})
