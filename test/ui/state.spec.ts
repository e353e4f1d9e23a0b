import assert from 'node:assert/strict'
import { initialState, MAX_LOADED, reduce, sortConversations, targetOfMessage } from '../../src/ui/state.js'
import type { ChatAction, ChatState } from '../../src/ui/state.js'
import type { ChatMessage, ConversationEntry } from '../../src/ui/port.js'

const ME = 'alice'

function entry (target: string, fields: Partial<ConversationEntry> = {}): ConversationEntry {
  const room = target.startsWith('#')
  return {
    conv: room ? `room:${target.slice(1)}` : `dm:${[ME, target].sort().join(':')}`,
    target,
    kind: room ? 'room' : 'dm',
    lastActivity: 0,
    lastAuthor: '',
    lastText: '',
    unread: 0,
    count: 0,
    online: room ? null : false,
    ...fields
  }
}

/** A direct message from `from` to `to` (or a room message when `room` is given). */
function message (id: string, fields: Partial<ChatMessage> & { from: string }): ChatMessage {
  const dm = fields.room == null
  return {
    id,
    conv: dm ? `dm:${[ME, fields.peer ?? fields.from].sort().join(':')}` : `room:${fields.room!}`,
    fromDevice: 'device-1',
    sentAt: 1_000,
    receivedAt: 1_000,
    text: `text of ${id}`,
    ...(dm && fields.from !== ME ? { peer: fields.from } : {}),
    ...fields
  }
}

function apply (state: ChatState, ...actions: ChatAction[]): ChatState {
  return actions.reduce(reduce, state)
}

function targets (state: ChatState): string[] {
  return state.conversations.map(c => c.target)
}

function entryOf (state: ChatState, target: string): ConversationEntry {
  const found = state.conversations.find(c => c.target === target)
  assert.ok(found != null, `no conversation ${target}`)
  return found
}

function ids (list: ChatMessage[] | undefined): string[] {
  return (list ?? []).map(m => m.id)
}

describe('ui state', function () {
  let start: ChatState

  beforeEach(() => {
    start = initialState(ME, 'connected')
  })

  describe('initialState', function () {
    it('starts with #global listed, nothing selected and the composer focused', () => {
      assert.deepEqual(targets(start), ['#global'])
      assert.equal(start.selected, null)
      assert.equal(start.focus, 'composer')
      assert.equal(start.overlay, null)
      assert.equal(start.notice, null)
      assert.equal(start.me, ME)
      assert.equal(start.connection, 'connected')
    })
  })

  describe('sortConversations', function () {
    it('puts the newest activity first', () => {
      const sorted = sortConversations([entry('bob', { lastActivity: 10 }), entry('carol', { lastActivity: 30 }), entry('#global', { lastActivity: 20 })])
      assert.deepEqual(sorted.map(c => c.target), ['carol', '#global', 'bob'])
    })

    it('puts people online before those offline when activity ties', () => {
      const sorted = sortConversations([entry('bob', { online: false }), entry('carol', { online: true }), entry('dave', { online: null })])
      assert.equal(sorted[0]!.target, 'carol')
    })

    it('orders by name last', () => {
      const sorted = sortConversations([entry('zed'), entry('bob'), entry('mia')])
      assert.deepEqual(sorted.map(c => c.target), ['bob', 'mia', 'zed'])
    })

    it('lets activity win over presence and presence win over name', () => {
      const sorted = sortConversations([
        entry('amy', { lastActivity: 5, online: false }),
        entry('zoe', { lastActivity: 5, online: true }),
        entry('bob', { lastActivity: 9, online: false })
      ])
      assert.deepEqual(sorted.map(c => c.target), ['bob', 'zoe', 'amy'])
    })

    it('does not change the list it is given', () => {
      const list = [entry('zed'), entry('bob')]
      sortConversations(list)
      assert.deepEqual(list.map(c => c.target), ['zed', 'bob'])
    })
  })

  describe('targetOfMessage', function () {
    it('names the room, the other person, or the recipient of my own message', () => {
      assert.equal(targetOfMessage(ME, message('1', { from: 'bob', room: 'global' })), '#global')
      assert.equal(targetOfMessage(ME, message('2', { from: 'bob' })), 'bob')
      assert.equal(targetOfMessage(ME, message('3', { from: ME, peer: 'bob' })), 'bob')
    })
  })

  describe('conversations', function () {
    it('sorts the list and keeps entries opened here that have no message yet', () => {
      const s = apply(start, { type: 'conversations', list: [entry('bob', { lastActivity: 5 }), entry('carol', { lastActivity: 9 })] })
      assert.deepEqual(targets(s), ['carol', 'bob', '#global'])
    })

    it('applies presence already known from events', () => {
      const s = apply(start, { type: 'presence', user: 'bob', online: true }, { type: 'conversations', list: [entry('bob', { online: false })] })
      assert.equal(entryOf(s, 'bob').online, true)
    })
  })

  describe('presence', function () {
    it('updates the person’s entry and re-sorts', () => {
      let s = apply(start, { type: 'conversations', list: [entry('bob'), entry('carol')] })
      assert.deepEqual(targets(s), ['#global', 'bob', 'carol'])
      s = apply(s, { type: 'presence', user: 'carol', online: true })
      assert.equal(entryOf(s, 'carol').online, true)
      assert.equal(s.presence.carol, true)
      assert.equal(s.conversations[0]!.target, 'carol')
      s = apply(s, { type: 'presence', user: 'carol', online: false })
      assert.equal(entryOf(s, 'carol').online, false)
      assert.deepEqual(targets(s), ['#global', 'bob', 'carol'])
    })

    it('adds a user not seen before to the users list, in name order, and updates a known one', () => {
      let s = apply(start, { type: 'users', list: [{ user: 'bob', online: false }, { user: 'dave', online: false }] })
      s = apply(s, { type: 'presence', user: 'carol', online: true })
      assert.deepEqual(s.users, [{ user: 'bob', online: false }, { user: 'carol', online: true }, { user: 'dave', online: false }])
      s = apply(s, { type: 'presence', user: 'bob', online: true })
      assert.deepEqual(s.users[0], { user: 'bob', online: true })
    })

    it('never marks a room online', () => {
      const s = apply(start, { type: 'presence', user: 'global', online: true })
      assert.equal(entryOf(s, '#global').online, null)
    })

    it('takes presence from a users list', () => {
      let s = apply(start, { type: 'conversations', list: [entry('bob')] })
      s = apply(s, { type: 'users', list: [{ user: 'bob', online: true }] })
      assert.equal(entryOf(s, 'bob').online, true)
      assert.equal(s.presence.bob, true)
    })

    it('adds a newly registered user once, offline', () => {
      let s = apply(start, { type: 'registered', user: 'erin' })
      s = apply(s, { type: 'registered', user: 'erin' })
      assert.deepEqual(s.users, [{ user: 'erin', online: false }])
    })
  })

  describe('message', function () {
    let s: ChatState

    beforeEach(() => {
      s = apply(start,
        { type: 'conversations', list: [entry('bob', { lastActivity: 500, count: 3 }), entry('carol', { lastActivity: 400, count: 1 })] },
        { type: 'select', target: 'carol' },
        { type: 'page', target: 'carol', messages: [], older: false, hasMore: false })
    })

    it('in another conversation bumps it to the top, counts it unread and sets a notice', () => {
      assert.deepEqual(targets(s), ['bob', 'carol', '#global'])
      const next = apply(s, { type: 'message', message: message('m1', { from: 'dave', sentAt: 1_000, text: 'hi alice' }) })
      assert.deepEqual(targets(next), ['dave', 'bob', 'carol', '#global'])
      const dave = entryOf(next, 'dave')
      assert.equal(dave.unread, 1)
      assert.equal(dave.count, 1)
      assert.equal(dave.lastText, 'hi alice')
      assert.equal(dave.lastAuthor, 'dave')
      assert.equal(dave.lastActivity, 1_000)
      assert.deepEqual(next.notice, { text: 'new message from dave', kind: 'info' })

      const again = apply(next, { type: 'message', message: message('m2', { from: 'bob', sentAt: 2_000 }) })
      assert.equal(again.conversations[0]!.target, 'bob')
      assert.equal(entryOf(again, 'bob').unread, 1)
      assert.equal(entryOf(again, 'bob').count, 4)
      assert.equal(entryOf(again, 'dave').unread, 1)
    })

    it('in a room says who wrote where', () => {
      const next = apply(s, { type: 'message', message: message('r1', { from: 'bob', room: 'global', sentAt: 3_000 }) })
      assert.equal(next.conversations[0]!.target, '#global')
      assert.equal(entryOf(next, '#global').unread, 1)
      assert.deepEqual(next.notice, { text: 'new message from bob in #global', kind: 'info' })
    })

    it('in the open conversation is shown, not counted unread, and sets no notice', () => {
      const next = apply(s, { type: 'message', message: message('m1', { from: 'carol', sentAt: 2_000 }) })
      assert.equal(entryOf(next, 'carol').unread, 0)
      assert.equal(next.conversations[0]!.target, 'carol')
      assert.equal(next.notice, null)
      assert.deepEqual(ids(next.messages.carol), ['m1'])
    })

    it('of my own is not counted unread and sets no notice', () => {
      const next = apply(s, { type: 'message', message: message('m1', { from: ME, peer: 'bob', sentAt: 2_000, status: 'sending' }) })
      assert.equal(entryOf(next, 'bob').unread, 0)
      assert.equal(entryOf(next, 'bob').lastAuthor, ME)
      assert.equal(next.conversations[0]!.target, 'bob')
      assert.equal(next.notice, null)
    })

    it('is inserted in time order into loaded messages, once', () => {
      let next = apply(s, { type: 'page', target: 'carol', messages: [message('a', { from: 'carol', sentAt: 100 }), message('c', { from: 'carol', sentAt: 300 })], older: false, hasMore: false })
      next = apply(next, { type: 'message', message: message('b', { from: 'carol', sentAt: 200 }) })
      next = apply(next, { type: 'message', message: message('d', { from: ME, peer: 'carol', sentAt: 400 }) })
      assert.deepEqual(ids(next.messages.carol), ['a', 'b', 'c', 'd'])
      const same = apply(next, { type: 'message', message: message('b', { from: 'carol', sentAt: 200 }) })
      assert.deepEqual(ids(same.messages.carol), ['a', 'b', 'c', 'd'])
    })

    it('is not kept for a conversation whose messages are not loaded (the page brings it)', () => {
      const next = apply(s, { type: 'message', message: message('m1', { from: 'bob' }) })
      assert.equal(next.messages.bob, undefined)
    })

    it('keeps only the first 200 characters as the list preview', () => {
      const next = apply(s, { type: 'message', message: message('m1', { from: 'bob', text: 'x'.repeat(500), sentAt: 9_000 }) })
      assert.equal(entryOf(next, 'bob').lastText.length, 200)
    })
  })

  describe('status', function () {
    function statusOf (s: ChatState): ChatMessage['status'] {
      return s.messages.bob?.[0]?.status
    }

    let s: ChatState
    beforeEach(() => {
      s = apply(start, { type: 'page', target: 'bob', messages: [message('m1', { from: ME, peer: 'bob', status: 'sending' })], older: false, hasMore: false })
    })

    it('rises sending → sent → delivered → read', () => {
      s = apply(s, { type: 'status', id: 'm1', status: 'sent' })
      assert.equal(statusOf(s), 'sent')
      s = apply(s, { type: 'status', id: 'm1', status: 'delivered' })
      assert.equal(statusOf(s), 'delivered')
      s = apply(s, { type: 'status', id: 'm1', status: 'read' })
      assert.equal(statusOf(s), 'read')
    })

    it('never goes back', () => {
      s = apply(s, { type: 'status', id: 'm1', status: 'delivered' })
      s = apply(s, { type: 'status', id: 'm1', status: 'sent' })
      assert.equal(statusOf(s), 'delivered')
      s = apply(s, { type: 'status', id: 'm1', status: 'sending' })
      assert.equal(statusOf(s), 'delivered')
      s = apply(s, { type: 'status', id: 'm1', status: 'read' }, { type: 'status', id: 'm1', status: 'delivered' })
      assert.equal(statusOf(s), 'read')
    })

    it('may skip steps (a receipt that arrives before the ack)', () => {
      s = apply(s, { type: 'status', id: 'm1', status: 'read' })
      assert.equal(statusOf(s), 'read')
    })

    it('leaves other messages alone', () => {
      s = apply(s, { type: 'status', id: 'other', status: 'read' })
      assert.equal(statusOf(s), 'sending')
    })
  })

  describe('unread', function () {
    it('sets the count of one conversation', () => {
      let s = apply(start, { type: 'conversations', list: [entry('bob', { unread: 4 }), entry('carol', { unread: 2 })] })
      s = apply(s, { type: 'unread', target: 'bob', unread: 0 })
      assert.equal(entryOf(s, 'bob').unread, 0)
      assert.equal(entryOf(s, 'carol').unread, 2)
      s = apply(s, { type: 'unread', target: 'carol', unread: 7 })
      assert.equal(entryOf(s, 'carol').unread, 7)
    })
  })

  describe('select', function () {
    it('opens a conversation and closes an overlay', () => {
      const s = apply(start, { type: 'overlay', overlay: 'users' }, { type: 'select', target: '#global' })
      assert.equal(s.selected, '#global')
      assert.equal(s.overlay, null)
      assert.deepEqual(targets(s), ['#global'])
    })

    it('of a user with no conversation yet (/msg) creates a placeholder entry with known presence', () => {
      const s = apply(start, { type: 'presence', user: 'frank', online: true }, { type: 'select', target: 'frank' })
      assert.equal(s.selected, 'frank')
      const frank = entryOf(s, 'frank')
      assert.equal(frank.kind, 'dm')
      assert.equal(frank.count, 0)
      assert.equal(frank.unread, 0)
      assert.equal(frank.online, true)
      const again = apply(s, { type: 'select', target: 'frank' })
      assert.equal(again.conversations.filter(c => c.target === 'frank').length, 1)
    })

    it('of a user whose presence is unknown leaves it unknown', () => {
      const s = apply(start, { type: 'select', target: 'gina' })
      assert.equal(entryOf(s, 'gina').online, null)
    })

    it('keeps the placeholder when the conversation list is reloaded', () => {
      const s = apply(start, { type: 'select', target: 'gina' }, { type: 'conversations', list: [entry('bob', { lastActivity: 5 })] })
      assert.deepEqual(targets(s), ['bob', '#global', 'gina'])
    })
  })

  describe('move', function () {
    let s: ChatState
    beforeEach(() => {
      s = apply(start, { type: 'conversations', list: [entry('bob', { lastActivity: 3 }), entry('carol', { lastActivity: 2 })] })
      assert.deepEqual(targets(s), ['bob', 'carol', '#global'])
    })

    it('goes to the first conversation when none is selected', () => {
      assert.equal(apply(s, { type: 'move', delta: 1 }).selected, 'bob')
    })

    it('steps forward and wraps around at the end', () => {
      s = apply(s, { type: 'select', target: 'bob' })
      s = apply(s, { type: 'move', delta: 1 })
      assert.equal(s.selected, 'carol')
      s = apply(s, { type: 'move', delta: 1 })
      assert.equal(s.selected, '#global')
      s = apply(s, { type: 'move', delta: 1 })
      assert.equal(s.selected, 'bob')
    })

    it('steps back and wraps around at the start', () => {
      s = apply(s, { type: 'select', target: 'bob' }, { type: 'move', delta: -1 })
      assert.equal(s.selected, '#global')
      s = apply(s, { type: 'move', delta: -1 })
      assert.equal(s.selected, 'carol')
    })

    it('wraps deltas larger than the list', () => {
      s = apply(s, { type: 'select', target: 'bob' }, { type: 'move', delta: 4 })
      assert.equal(s.selected, 'carol')
      s = apply(s, { type: 'move', delta: -7 })
      assert.equal(s.selected, 'bob')
    })

    it('does nothing on an empty list', () => {
      const empty: ChatState = { ...start, conversations: [] }
      assert.equal(reduce(empty, { type: 'move', delta: 1 }), empty)
    })
  })

  describe('page', function () {
    const m = (id: string, sentAt: number): ChatMessage => message(id, { from: 'bob', sentAt })

    it('stores the first page and whether more exist', () => {
      const s = apply(start, { type: 'page', target: 'bob', messages: [m('c', 3), m('d', 4)], older: false, hasMore: true })
      assert.deepEqual(ids(s.messages.bob), ['c', 'd'])
      assert.equal(s.hasMore.bob, true)
    })

    it('prepends an older page', () => {
      const s = apply(start,
        { type: 'page', target: 'bob', messages: [m('c', 3), m('d', 4)], older: false, hasMore: true },
        { type: 'page', target: 'bob', messages: [m('a', 1), m('b', 2)], older: true, hasMore: false })
      assert.deepEqual(ids(s.messages.bob), ['a', 'b', 'c', 'd'])
      assert.equal(s.hasMore.bob, false)
    })

    it('drops messages it already has, by id', () => {
      const s = apply(start,
        { type: 'page', target: 'bob', messages: [m('b', 2), m('c', 3)], older: false, hasMore: true },
        { type: 'page', target: 'bob', messages: [m('a', 1), m('b', 2)], older: true, hasMore: true },
        { type: 'page', target: 'bob', messages: [m('c', 3), m('d', 4)], older: false, hasMore: true })
      assert.deepEqual(ids(s.messages.bob), ['a', 'b', 'c', 'd'])
    })

    it('merges a newer page in time order with messages that arrived meanwhile', () => {
      const s = apply(start,
        { type: 'page', target: 'bob', messages: [], older: false, hasMore: false },
        { type: 'message', message: m('live', 5) },
        { type: 'page', target: 'bob', messages: [m('a', 1), m('b', 2)], older: false, hasMore: false })
      assert.deepEqual(ids(s.messages.bob), ['a', 'b', 'live'])
    })

    it('keeps other conversations', () => {
      const s = apply(start,
        { type: 'page', target: 'bob', messages: [m('a', 1)], older: false, hasMore: false },
        { type: 'page', target: '#global', messages: [message('r', { from: 'carol', room: 'global' })], older: false, hasMore: true })
      assert.deepEqual(ids(s.messages.bob), ['a'])
      assert.deepEqual(ids(s.messages['#global']), ['r'])
      assert.equal(s.hasMore.bob, false)
    })
  })

  describe('MAX_LOADED', function () {
    const many = (n: number, from = 0): ChatMessage[] => Array.from({ length: n }, (_, i) => message(`m${String(from + i).padStart(6, '0')}`, { from: 'bob', sentAt: from + i }))

    it('caps a page to the newest MAX_LOADED', () => {
      const s = apply(start, { type: 'page', target: 'bob', messages: many(MAX_LOADED + 25), older: false, hasMore: true })
      const list = s.messages.bob!
      assert.equal(list.length, MAX_LOADED)
      assert.equal(list[0]!.id, many(1, 25)[0]!.id)
      assert.equal(list.at(-1)!.id, many(1, MAX_LOADED + 24)[0]!.id)
    })

    it('keeps an older page at the cap by cutting the newest end, and reloads the newest on the way down', () => {
      let s = apply(start, { type: 'page', target: 'bob', messages: many(MAX_LOADED, 100), older: false, hasMore: true })
      s = apply(s, { type: 'page', target: 'bob', messages: many(50, 50), older: true, hasMore: true })
      let list = s.messages.bob!
      assert.equal(list.length, MAX_LOADED)
      assert.equal(list[0]!.id, many(1, 50)[0]!.id, 'the older page is kept')
      assert.equal(s.detached.bob, true)
      // a live message does not land in a window that no longer reaches the newest
      s = apply(s, { type: 'message', message: many(1, 999_999)[0]! })
      assert.equal(s.messages.bob!.length, MAX_LOADED)
      // back at the bottom: the newest page replaces the window
      s = apply(s, { type: 'page', target: 'bob', messages: many(50, MAX_LOADED + 100), older: false, hasMore: true })
      list = s.messages.bob!
      assert.equal(list.length, 50)
      assert.equal(s.detached.bob, false)
      assert.equal(s.scroll.bob, 0)
    })

    it('drops the oldest when a live message arrives at the cap', () => {
      let s = apply(start, { type: 'page', target: 'bob', messages: many(MAX_LOADED), older: false, hasMore: false })
      s = apply(s, { type: 'message', message: many(1, MAX_LOADED)[0]! })
      const list = s.messages.bob!
      assert.equal(list.length, MAX_LOADED)
      assert.equal(list[0]!.id, many(1, 1)[0]!.id)
      assert.equal(list.at(-1)!.id, many(1, MAX_LOADED)[0]!.id)
    })
  })

  describe('scroll', function () {
    it('stays between 0 and the loaded messages', () => {
      let s = apply(start, { type: 'page', target: 'bob', messages: [message('a', { from: 'bob' }), message('b', { from: 'bob' }), message('c', { from: 'bob' })], older: false, hasMore: false })
      s = apply(s, { type: 'scroll', target: 'bob', delta: 1 })
      assert.equal(s.scroll.bob, 1)
      s = apply(s, { type: 'scroll', target: 'bob', delta: 10 })
      assert.equal(s.scroll.bob, 2)
      s = apply(s, { type: 'scroll', target: 'bob', delta: -1 })
      assert.equal(s.scroll.bob, 1)
      s = apply(s, { type: 'scroll', target: 'bob', delta: -10 })
      assert.equal(s.scroll.bob, 0)
    })

    it('stays at 0 with nothing loaded', () => {
      const s = apply(start, { type: 'scroll', target: 'nobody', delta: 5 })
      assert.equal(s.scroll.nobody, 0)
    })
  })

  describe('notice, overlay, focus, connection', function () {
    it('set and clear', () => {
      let s = apply(start,
        { type: 'notice', notice: { text: 'boom', kind: 'error' } },
        { type: 'overlay', overlay: 'help' },
        { type: 'focus', focus: 'list' },
        { type: 'connection', state: 'reconnecting' })
      assert.deepEqual(s.notice, { text: 'boom', kind: 'error' })
      assert.equal(s.overlay, 'help')
      assert.equal(s.focus, 'list')
      assert.equal(s.connection, 'reconnecting')
      s = apply(s, { type: 'notice', notice: null }, { type: 'overlay', overlay: null })
      assert.equal(s.notice, null)
      assert.equal(s.overlay, null)
    })

    it('never changes the state it is given', () => {
      const before = JSON.stringify(start)
      apply(start,
        { type: 'conversations', list: [entry('bob')] },
        { type: 'message', message: message('m1', { from: 'bob' }) },
        { type: 'select', target: 'zed' })
      assert.equal(JSON.stringify(start), before)
    })
  })
})
