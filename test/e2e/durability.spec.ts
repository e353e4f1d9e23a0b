/**
 * Nothing lost, nothing doubled (issues 4 and 10): the rendezvous node and clients killed with
 * SIGKILL in the middle of traffic, restarted, and every acknowledged message is present once on
 * every device that should have it.
 */
import assert from 'node:assert/strict'
import { ProcessGroup, assertOk, commandsIn } from '../../src/testing/index.js'
import type { ChatSide, ListenProcess, ServeProcess } from '../../src/testing/index.js'

const PASSWORD = 'correct horse battery'
const ENV = { MESHCHAT_PASSWORD: PASSWORD, MESHCHAT_IP_COLOCATION_WHITELIST: '127.0.0.1' }
const SERVE_ARGS = ['--heartbeat-ms', '500', '--registrations-per-second', '100']

describe('durability under SIGKILL', function () {
  this.timeout(120_000)
  const group = new ProcessGroup()
  afterEach(async () => { await group.stopAll() })

  const commands = commandsIn(group, { env: ENV, timeoutMs: 30_000 })
  const registered = async (server: ServeProcess, user: string): Promise<string> => await commands.register(server.address, user)
  /** An accepted chat; a running listen of either side must see the other's step within 10 s. */
  const chatting = async (a: ChatSide, b: ChatSide): Promise<void> => { await commands.chatting(a, b, 10_000) }

  async function historyTexts (home: string, peer: string): Promise<string[]> {
    const page = await commands.json<{ messages: Array<{ text: string }> }>({ home }, 'history', peer, '--limit', '1000')
    return page.messages.map(m => m.text)
  }

  it('keeps every acknowledged message once when the rendezvous node is killed mid-traffic', async () => {
    let server = await group.startServe({ args: SERVE_ARGS })
    const { port, dataDir } = server
    const aliceHome = await registered(server, 'alice')
    const bobHome = await registered(server, 'bob')
    const carolHome = await registered(server, 'carol')
    const alice = await group.startListen(aliceHome, { env: ENV })
    const bob = await group.startListen(bobHome, { env: ENV })
    await chatting({ user: 'alice', home: aliceHome, listen: alice }, { user: 'bob', home: bobHome, listen: bob })
    // carol accepts with a one-shot command and is offline throughout: she relies on the node's archive alone
    await chatting({ user: 'alice', home: aliceHome, listen: alice }, { user: 'carol', home: carolHome })
    const acked: { bob: string[], carol: string[] } = { bob: [], carol: [] }
    const send = async (listen: ListenProcess, to: 'bob' | 'carol', text: string): Promise<void> => {
      const res = await listen.command({ cmd: 'send', to, text }, 20_000)
      if (res.ok === true) acked[to].push(text)
    }
    for (let i = 0; i < 15; i++) {
      await send(alice, 'bob', `b${i}`)
      await send(alice, 'carol', `c${i}`)
    }
    await server.kill('SIGKILL')
    // while the node is down: bob still gets direct messages; carol's are queued on alice's device
    for (let i = 15; i < 25; i++) {
      await send(alice, 'bob', `b${i}`)
      await send(alice, 'carol', `c${i}`)
    }
    server = await group.startServe({ args: SERVE_ARGS, port, dataDir })
    await alice.waitFor(l => l.type === 'connection' && l.state === 'connected' && alice.lines.indexOf(l) > 3, 20_000, 'alice reconnected')
    for (let i = 25; i < 40; i++) {
      await send(alice, 'bob', `b${i}`)
      await send(alice, 'carol', `c${i}`)
    }
    assert.ok(acked.bob.length >= 35, `most messages to bob were acknowledged: ${acked.bob.length}`)
    await alice.stop()
    await bob.stop()
    // bob: every acknowledged message, once, in the order sent
    const bobGot = await historyTexts(bobHome, 'alice')
    for (const t of acked.bob) assert.ok(bobGot.includes(t), `acknowledged ${t} reached bob`)
    assert.equal(new Set(bobGot).size, bobGot.length, 'no duplicates at bob')
    assert.deepEqual(bobGot, Array.from({ length: 40 }, (_, i) => `b${i}`).filter(t => bobGot.includes(t)))
    // carol comes online (only her accept ran before): everything alice sent her, once, in order, including
    // what was queued while the node was down
    const carol = await historyTexts(carolHome, 'alice')
    assert.deepEqual(carol, Array.from({ length: 40 }, (_, i) => `c${i}`).filter(t => carol.includes(t)))
    for (const t of acked.carol) assert.ok(carol.includes(t), `acknowledged ${t} reached carol`)
    assert.equal(new Set(carol).size, carol.length, 'no duplicates')
    // the sender's own history has each message once too
    const aliceToBob = await historyTexts(aliceHome, 'bob')
    assert.equal(new Set(aliceToBob).size, aliceToBob.length)
  })

  it('a client killed with SIGKILL and restarted catches up by itself', async () => {
    const server = await group.startServe({ args: SERVE_ARGS })
    const aliceHome = await registered(server, 'alice')
    const bobHome = await registered(server, 'bob')
    const alice = await group.startListen(aliceHome, { env: ENV })
    let bob = await group.startListen(bobHome, { env: ENV })
    await chatting({ user: 'alice', home: aliceHome, listen: alice }, { user: 'bob', home: bobHome, listen: bob })
    const first = await alice.command({ cmd: 'send', to: 'bob', text: 'before the crash' }, 20_000)
    assert.equal(first.ok, true)
    await bob.waitFor(l => l.type === 'message' && l.text === 'before the crash', 10_000)
    await bob.kill('SIGKILL')
    await alice.waitFor(l => l.type === 'presence' && l.user === 'bob' && l.online === false, 10_000, 'bob offline')
    const during = await alice.command({ cmd: 'send', to: 'bob', text: 'while you were down' }, 20_000)
    assert.equal(during.ok, true)
    bob = await group.startListen(bobHome, { env: ENV })
    await bob.waitFor(l => l.type === 'message' && l.text === 'while you were down', 15_000, 'the missed message')
    await bob.stop()
    assert.deepEqual(await historyTexts(bobHome, 'alice'), ['before the crash', 'while you were down'])
  })
})
