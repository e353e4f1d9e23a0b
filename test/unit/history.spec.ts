/**
 * History.receiveForAck (src/client/history.ts): a direct message whose sender waits for the ack
 * is stored before the call resolves, and its events follow on the next turn of the event loop.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { History } from '../../src/client/history.js'
import { ChatNotAcceptedError } from '../../src/protocol/index.js'
import { ClientStore } from '../../src/store/index.js'
import { eventually } from '../../src/testing/index.js'
import type { ClientEvent } from '../../src/client/index.js'
import type { Envelope, ReceiptBody } from '../../src/protocol/index.js'

const ALICE_DEVICE = '12D3KooWAliceAliceAliceAliceAliceAliceAliceAlice'

/** A text from alice to bob (History does not check signatures: the client did before). */
function text (i: number): Envelope {
  return {
    v: 1, id: i.toString(16).padStart(32, '0'), conv: 'dm:alice:bob', author: 'alice', device: ALICE_DEVICE,
    sentAt: Date.now(), n: i, kind: 'text', body: { text: `hello ${i}` }, cert: {} as never, sig: ''
  } as unknown as Envelope
}

describe('History.receiveForAck', function () {
  let dir: string
  let store: ClientStore
  let events: ClientEvent[]
  let receipts: Array<{ conv: string, body: ReceiptBody, to: string | null }>
  let admitted: boolean
  let history: History

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshchat-history-'))
    store = await ClientStore.open(dir, 'bob')
    events = []
    receipts = []
    admitted = true
    history = new History(store, 'bob', {
      sendReceipt: async (conv, body, to) => { receipts.push({ conv, body, to }) },
      emit: ev => { events.push(ev) },
      admit: async () => admitted,
      refusal: async () => new ChatNotAcceptedError('bob has not accepted a chat with alice')
    })
  })
  afterEach(async () => {
    await history.flush()
    await store.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('resolves with the message stored and nothing announced yet; its events and delivered receipt follow', async () => {
    const env = text(1)
    await history.receiveForAck(env)
    assert.equal((await store.getMessage(env.id))?.text, 'hello 1', 'stored before the ack')
    assert.equal(events.length, 0, 'no event before the ack is written')
    await nextTurn()
    assert.deepEqual(events.map(e => e.type), ['message', 'unread'])
    assert.ok(events[0]!.type === 'message' && events[0]!.message.id === env.id)
    assert.ok(events[1]!.type === 'unread' && events[1]!.unread === 1)
    await eventually(() => receipts.length === 1, 5_000, 'the delivered receipt')
    assert.deepEqual(receipts[0]!.body, { status: 'delivered', ids: [env.id] })
    assert.equal(receipts[0]!.to, 'alice')

    // the same message again (a resend after a lost ack): stored once, announced once
    await history.receiveForAck(env)
    await nextTurn()
    assert.equal(events.filter(e => e.type === 'message').length, 1)
    assert.equal((await store.conversation('dm:alice:bob'))?.count, 1)
  })

  it('refuses a message the chat does not admit with its reason, and stores and announces nothing', async () => {
    admitted = false
    const env = text(2)
    await assert.rejects(history.receiveForAck(env), { name: 'ChatNotAcceptedError' })
    await nextTurn()
    assert.equal(await store.getMessage(env.id), undefined)
    assert.equal(events.length, 0)
  })
})
