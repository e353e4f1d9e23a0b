import assert from 'node:assert/strict'
import fc from 'fast-check'
import { foldChat, admits, whyNotWritable } from '../../src/client/chat-state.js'
import type { ChatControl } from '../../src/client/chat-state.js'

const conv = 'dm:alice:bob'
let next = 0
function c (kind: ChatControl['kind'], author: string, sentAt: number, text?: string): ChatControl {
  return { id: (next++).toString(16).padStart(32, '0'), kind, author, sentAt, ...(text == null ? {} : { text }) }
}
const state = (controls: ChatControl[], until?: number): string => {
  const s = foldChat(conv, 'alice', 'bob', controls, until)
  return s.by == null ? s.state : `${s.state}:${s.by}`
}

describe('chat state', () => {
  it('starts with none and walks request → accept → close → request → decline', () => {
    const steps: ChatControl[] = []
    assert.equal(state(steps), 'none')
    steps.push(c('request', 'alice', 10, 'hi'))
    assert.equal(state(steps), 'pending:alice')
    assert.equal(foldChat(conv, 'alice', 'bob', steps).text, 'hi')
    steps.push(c('accept', 'bob', 20))
    assert.equal(state(steps), 'accepted:bob')
    steps.push(c('close', 'bob', 30))
    assert.equal(state(steps), 'closed:bob')
    steps.push(c('request', 'bob', 40))
    assert.equal(state(steps), 'pending:bob')
    steps.push(c('decline', 'alice', 50))
    assert.equal(state(steps), 'declined:alice')
    // the state at each time, for messages sent then
    assert.equal(state(steps, 25), 'accepted:bob')
    assert.equal(state(steps, 5), 'none')
  })

  it('ignores what the rules do not allow', () => {
    // accepting or declining one's own request, or a request that is not there
    assert.equal(state([c('request', 'alice', 1), c('accept', 'alice', 2)]), 'pending:alice')
    assert.equal(state([c('request', 'alice', 1), c('decline', 'alice', 2)]), 'pending:alice')
    assert.equal(state([c('accept', 'bob', 1)]), 'none')
    assert.equal(state([c('close', 'bob', 1)]), 'none')
    // a request in an open chat changes nothing; someone else's control is not counted
    assert.equal(state([c('request', 'alice', 1), c('accept', 'bob', 2), c('request', 'bob', 3)]), 'accepted:bob')
    assert.equal(state([c('request', 'mallory', 1)]), 'none')
  })

  it('two requests meet as an acceptance; a pending request can be withdrawn', () => {
    assert.equal(state([c('request', 'alice', 1), c('request', 'bob', 2)]), 'accepted:bob')
    assert.equal(state([c('request', 'alice', 1), c('close', 'alice', 2)]), 'closed:alice')
  })

  it('admits a message sent while the chat was open and arriving soon after, or sent while it is open now', () => {
    const H = 3_600_000
    const controls = [c('request', 'alice', 10 * H), c('accept', 'bob', 20 * H), c('close', 'alice', 30 * H)]
    // in flight when the chat closed: arrived a moment after it was sent
    assert.equal(admits(conv, 'alice', 'bob', controls, 25 * H, 25 * H + 1000), true)
    // backdated: "sent" while open, but it arrives long after: a closed chat is not written into
    assert.equal(admits(conv, 'alice', 'bob', controls, 29 * H, 31 * H), false)
    assert.equal(admits(conv, 'alice', 'bob', controls, 35 * H, 35 * H), false)
    assert.equal(admits(conv, 'alice', 'bob', controls, 15 * H, 15 * H), false)
    // clocks a little apart: the acceptance is dated after the message its reader sent
    const open = [c('request', 'bob', 10 * H), c('accept', 'alice', 20 * H)]
    assert.equal(admits(conv, 'alice', 'bob', open, 20 * H - 1000), true)
    // a stranger's messages from before the acceptance stay out, even once it is open
    assert.equal(admits(conv, 'alice', 'bob', open, 12 * H), false)
    assert.equal(admits(conv, 'alice', 'bob', open, 21 * H), true)
  })

  it('reaches the same state whatever order the envelopes arrive in', () => {
    const kinds: Array<ChatControl['kind']> = ['request', 'accept', 'decline', 'close']
    const control = fc.record({
      kind: fc.constantFrom(...kinds),
      author: fc.constantFrom('alice', 'bob'),
      sentAt: fc.integer({ min: 0, max: 50 }),
      id: fc.nat().map(n => n.toString(16).padStart(32, '0'))
    })
    fc.assert(fc.property(fc.uniqueArray(control, { maxLength: 12, selector: x => x.id }), fc.infiniteStream(fc.integer()), (list, seeds) => {
      const shuffled = [...list].sort(() => (seeds.next().value as number) % 2 === 0 ? 1 : -1)
      assert.deepEqual(foldChat(conv, 'alice', 'bob', shuffled), foldChat(conv, 'alice', 'bob', list))
    }))
  })

  it('says why a chat is not writable and what to type', () => {
    const s = foldChat(conv, 'alice', 'bob', [c('request', 'bob', 1)])
    assert.match(whyNotWritable(s, 'alice'), /meshchat accept bob/)
    assert.match(whyNotWritable(foldChat(conv, 'alice', 'bob', []), 'alice'), /meshchat request bob/)
  })
})
