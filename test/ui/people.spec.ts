/**
 * The chat screen's state for issue 8, without rendering: chat requests and where each direct
 * chat stands, contacts, profiles and rooms.
 */
import assert from 'node:assert/strict'
import { initialState, listRows, profileTarget, reduce, selectedRequest, stepRow } from '../../src/ui/state.js'
import { chatNote, chatNotice, firstLine, requestsAfter, sortRequests, standingOf } from '../../src/ui/people.js'
import type { ChatAction, ChatState } from '../../src/ui/state.js'
import type { ChatRequest, Contact, ConversationEntry, DirectChat, Profile, RoomInfo } from '../../src/ui/port.js'

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

function chat (user: string, state: DirectChat['state'], by: string | null, fields: Partial<DirectChat> = {}): DirectChat {
  return { user, conv: `dm:${[ME, user].sort().join(':')}`, state, by, at: by == null ? null : 1_000, ...fields }
}

function request (user: string, direction: ChatRequest['direction'], at: number, text?: string): ChatRequest {
  return { user, direction, at, ...(text == null ? {} : { text }) }
}

function room (name: string, fields: Partial<RoomInfo> = {}): RoomInfo {
  return { room: name, private: false, owner: null, createdAt: 1, members: 1, joined: true, list: null, ...fields }
}

function contact (user: string, fields: Partial<Contact> = {}): Contact {
  return { user, online: false, lastSeen: null, name: '', status: '', addedAt: 1, ...fields }
}

function profile (user: string, fields: Partial<Profile> = {}): Profile {
  return { user, name: '', status: '', about: '', updatedAt: null, ...fields }
}

function apply (state: ChatState, ...actions: ChatAction[]): ChatState {
  return actions.reduce(reduce, state)
}

function targets (state: ChatState): string[] {
  return state.conversations.map(c => c.target)
}

describe('ui people helpers', function () {
  describe('sortRequests', function () {
    it('puts incoming before outgoing, newest first in each', () => {
      const sorted = sortRequests([request('a1', 'outgoing', 5), request('b1', 'incoming', 1), request('c1', 'incoming', 3), request('d1', 'outgoing', 9)])
      assert.deepEqual(sorted.map(r => r.user), ['c1', 'b1', 'd1', 'a1'])
    })
  })

  describe('requestsAfter', function () {
    it('adds a pending chat as incoming or outgoing, with its text', () => {
      let list = requestsAfter(ME, [], chat('bob', 'pending', 'bob', { text: 'hi', at: 5 }))
      assert.deepEqual(list, [{ user: 'bob', direction: 'incoming', text: 'hi', at: 5 }])
      list = requestsAfter(ME, list, chat('carol', 'pending', ME, { at: 7 }))
      assert.deepEqual(list, [{ user: 'bob', direction: 'incoming', text: 'hi', at: 5 }, { user: 'carol', direction: 'outgoing', at: 7 }])
    })

    it('drops the request once the chat is answered or closed, and leaves the others', () => {
      const list = [request('bob', 'incoming', 1), request('carol', 'outgoing', 2)]
      for (const state of ['accepted', 'declined', 'closed', 'none'] as const) {
        assert.deepEqual(requestsAfter(ME, list, chat('bob', state, 'bob')).map(r => r.user), ['carol'], state)
      }
    })
  })

  describe('standingOf', function () {
    it('takes a pending request over an older known state, else the known state, else nothing', () => {
      const chats = { bob: chat('bob', 'closed', 'bob'), carol: chat('carol', 'accepted', ME) }
      assert.deepEqual(standingOf(ME, [request('bob', 'incoming', 1, 'again?')], chats, 'bob'), { state: 'pending', by: 'bob', text: 'again?' })
      assert.deepEqual(standingOf(ME, [request('bob', 'outgoing', 1)], chats, 'bob'), { state: 'pending', by: ME })
      assert.deepEqual(standingOf(ME, [], chats, 'carol'), { state: 'accepted', by: ME })
      assert.equal(standingOf(ME, [], chats, 'dave'), null)
    })
  })

  describe('chatNote', function () {
    it('is nothing for an accepted chat or one whose standing is unknown', () => {
      assert.equal(chatNote(ME, 'bob', { state: 'accepted', by: 'bob' }), null)
      assert.equal(chatNote(ME, 'bob', null), null)
    })

    it('says why a chat is not open, and what to do', () => {
      assert.equal(chatNote(ME, 'bob', { state: 'none', by: null }), 'no chat with bob yet — /request bob [text] to ask')
      assert.equal(chatNote(ME, 'bob', { state: 'pending', by: ME }), 'waiting for bob to accept your chat request')
      assert.equal(chatNote(ME, 'bob', { state: 'closed', by: 'bob' }), 'closed by bob — /request bob to ask again')
      assert.equal(chatNote(ME, 'bob', { state: 'closed', by: ME }), 'you closed this chat — /request bob to open it again')
      assert.equal(chatNote(ME, 'bob', { state: 'declined', by: 'bob' }), 'bob declined — /request bob to ask again')
      assert.equal(chatNote(ME, 'bob', { state: 'declined', by: ME }), 'you declined bob — /request bob to chat after all')
    })

    it('shows an incoming request’s first line and the keys that answer it', () => {
      const note = chatNote(ME, 'bob', { state: 'pending', by: 'bob', text: 'hello alice\nsecond line' })!
      assert.ok(note.startsWith('bob asks to chat: “hello alice”'), note)
      assert.ok(!note.includes('second line'), note)
      assert.ok(note.includes('a to accept') && note.includes('d to decline') && note.includes('/accept'), note)
      assert.ok(chatNote(ME, 'bob', { state: 'pending', by: 'bob' })!.startsWith('bob asks to chat — '))
    })
  })

  describe('chatNotice', function () {
    it('tells what someone else did, once', () => {
      assert.equal(chatNotice(ME, null, chat('bob', 'pending', 'bob', { text: 'hi there\nmore' })), 'bob asks to chat: hi there')
      assert.equal(chatNotice(ME, { state: 'pending', by: ME }, chat('bob', 'accepted', 'bob')), 'bob accepted your chat request')
      assert.equal(chatNotice(ME, { state: 'pending', by: ME }, chat('bob', 'declined', 'bob')), 'bob declined your chat request')
      assert.equal(chatNotice(ME, { state: 'accepted', by: 'bob' }, chat('bob', 'closed', 'bob')), 'bob closed the chat')
      // the same news twice, or news of this account's own doing, says nothing
      assert.equal(chatNotice(ME, { state: 'closed', by: 'bob' }, chat('bob', 'closed', 'bob')), null)
      assert.equal(chatNotice(ME, null, chat('bob', 'accepted', ME)), null)
      assert.equal(chatNotice(ME, null, chat('bob', 'none', null)), null)
    })
  })

  it('firstLine', () => {
    assert.equal(firstLine(undefined), '')
    assert.equal(firstLine('  one \ntwo'), 'one')
  })
})

describe('ui state: requests, contacts, profiles, rooms (issue 8)', function () {
  let start: ChatState

  beforeEach(() => {
    start = apply(initialState(ME, 'connected'), { type: 'conversations', list: [entry('bob', { lastActivity: 3 }), entry('carol', { lastActivity: 2 })] }, { type: 'select', target: 'bob' })
  })

  describe('requests', function () {
    it('are kept sorted, incoming first', () => {
      const s = apply(start, { type: 'requests', list: [request('zoe', 'outgoing', 9), request('dave', 'incoming', 1), request('erin', 'incoming', 4)] })
      assert.deepEqual(s.requests.map(r => r.user), ['erin', 'dave', 'zoe'])
    })

    it('come and go with chat events, live', () => {
      let s = apply(start, { type: 'chat', chat: chat('dave', 'pending', 'dave', { text: 'hi alice' }), news: true })
      assert.deepEqual(s.requests.map(r => [r.user, r.direction, r.text]), [['dave', 'incoming', 'hi alice']])
      assert.deepEqual(s.notice, { text: 'dave asks to chat: hi alice', kind: 'info' })
      s = apply(s, { type: 'chat', chat: chat('erin', 'pending', ME) })
      assert.deepEqual(s.requests.map(r => [r.user, r.direction]), [['dave', 'incoming'], ['erin', 'outgoing']])
      s = apply(s, { type: 'chat', chat: chat('dave', 'accepted', ME) })
      assert.deepEqual(s.requests.map(r => r.user), ['erin'])
      assert.equal(s.chats.dave?.state, 'accepted')
      s = apply(s, { type: 'chat', chat: chat('erin', 'declined', 'erin'), news: true })
      assert.deepEqual(s.requests, [])
      assert.deepEqual(s.notice, { text: 'erin declined your chat request', kind: 'info' })
    })

    it('tells what someone else did only when it came as news, not when the screen asked', () => {
      const asked = apply(start, { type: 'chat', chat: chat('bob', 'accepted', 'bob') })
      assert.equal(asked.notice, null)
      assert.equal(asked.chats.bob?.state, 'accepted')
      const news = apply(start, { type: 'chat', chat: chat('bob', 'accepted', 'bob'), news: true })
      assert.deepEqual(news.notice, { text: 'bob accepted your chat request', kind: 'info' })
    })

    it('are rows above the conversations, and the cursor moves through both', () => {
      let s = apply(start, { type: 'requests', list: [request('dave', 'incoming', 2), request('erin', 'outgoing', 1)] })
      assert.deepEqual(listRows(s), [
        { target: 'dave', request: true },
        { target: 'erin', request: true },
        { target: 'bob', request: false },
        { target: 'carol', request: false },
        { target: '#global', request: false }
      ])
      // from bob, up is erin's request, then dave's, then around to #global
      s = apply(s, { type: 'move', delta: -1 })
      assert.deepEqual([s.selected, s.onRequest], ['erin', true])
      s = apply(s, { type: 'move', delta: -1 })
      assert.deepEqual([s.selected, s.onRequest], ['dave', true])
      assert.equal(selectedRequest(s)?.user, 'dave')
      assert.deepEqual(stepRow(s, -1), { target: '#global', request: false })
      assert.deepEqual(stepRow(s, 2), { target: 'bob', request: false })
      // a request row opens no conversation row of its own
      assert.deepEqual(targets(s), ['bob', 'carol', '#global'])
    })

    it('an outgoing request is not one to answer', () => {
      const s = apply(start, { type: 'requests', list: [request('erin', 'outgoing', 1)] }, { type: 'select', target: 'erin', request: true })
      assert.equal(s.onRequest, true)
      assert.equal(selectedRequest(s), undefined)
    })

    it('selecting a request row that is gone opens the chat as a conversation', () => {
      const s = apply(start, { type: 'select', target: 'dave', request: true })
      assert.equal(s.onRequest, false)
      assert.ok(targets(s).includes('dave'))
    })

    it('once the request under the cursor is answered, the person gets a conversation row and keeps the cursor', () => {
      let s = apply(start, { type: 'requests', list: [request('dave', 'incoming', 2)] }, { type: 'select', target: 'dave', request: true })
      assert.deepEqual(targets(s), ['bob', 'carol', '#global'])
      s = apply(s, { type: 'chat', chat: chat('dave', 'accepted', ME) })
      assert.equal(s.selected, 'dave')
      assert.equal(s.onRequest, false)
      assert.ok(targets(s).includes('dave'))
      assert.deepEqual(s.requests, [])
    })

    it('a fresh requests list that lacks the one under the cursor settles it the same way', () => {
      let s = apply(start, { type: 'requests', list: [request('dave', 'incoming', 2)] }, { type: 'select', target: 'dave', request: true })
      s = apply(s, { type: 'requests', list: [] })
      assert.equal(s.onRequest, false)
      assert.ok(targets(s).includes('dave'))
    })
  })

  describe('rooms', function () {
    it('joined rooms are listed like #global, others are not', () => {
      const s = apply(start, { type: 'rooms', list: [room('global'), room('lounge'), room('public', { joined: false })] })
      assert.deepEqual(targets(s), ['bob', 'carol', '#global', '#lounge'])
      assert.equal(s.rooms.public?.joined, false)
    })

    it('a room joined later appears, and a room left disappears', () => {
      let s = apply(start, { type: 'room', room: room('den') })
      assert.ok(targets(s).includes('#den'))
      s = apply(s, { type: 'room', room: room('den', { joined: false }) })
      assert.ok(!targets(s).includes('#den'))
      // #global stays whatever is said of it
      s = apply(s, { type: 'room', room: room('global', { joined: false }) })
      assert.ok(targets(s).includes('#global'))
    })

    it('a left room with history stays out of the list when the conversations load', () => {
      const s = apply(initialState(ME, 'connected'), { type: 'room', room: room('den', { joined: false }) }, { type: 'conversations', list: [entry('#den', { lastActivity: 9, count: 3 }), entry('bob')] })
      assert.deepEqual(targets(s).sort(), ['#global', 'bob'])
    })

    it('members are kept for the overlay', () => {
      const s = apply(start, { type: 'members', room: 'den', list: [{ user: ME, online: true, owner: true }] })
      assert.equal(s.overlay, 'members')
      assert.deepEqual(s.members, { room: 'den', list: [{ user: ME, online: true, owner: true }] })
    })
  })

  describe('contacts', function () {
    it('are sorted, follow presence and profiles, and leave when removed', () => {
      let s = apply(start, { type: 'contacts', list: [contact('carol'), contact('bob')] })
      assert.deepEqual(s.contacts.map(c => c.user), ['bob', 'carol'])
      s = apply(s, { type: 'presence', user: 'carol', online: true, lastSeen: 77 })
      assert.equal(s.contacts[1]!.online, true)
      assert.equal(s.contacts[1]!.lastSeen, 77)
      assert.equal(s.users.find(u => u.user === 'carol')?.lastSeen, 77)
      s = apply(s, { type: 'profile', profile: profile('bob', { name: 'Bob B.', status: 'away' }) })
      assert.deepEqual([s.contacts[0]!.name, s.contacts[0]!.status], ['Bob B.', 'away'])
      s = apply(s, { type: 'contact-removed', user: 'bob' })
      assert.deepEqual(s.contacts.map(c => c.user), ['carol'])
    })
  })

  describe('profile pane', function () {
    it('shows the open chat’s person, the one asked for, or this account in a room', () => {
      let s = apply(start, { type: 'profile-pane', pane: { open: true, user: null } })
      assert.equal(profileTarget(s), 'bob')
      s = apply(s, { type: 'select', target: 'carol' })
      assert.equal(profileTarget(s), 'carol')
      s = apply(s, { type: 'select', target: '#global' })
      assert.equal(profileTarget(s), ME)
      s = apply(s, { type: 'profile-pane', pane: { open: true, user: 'dave' } })
      assert.equal(profileTarget(s), 'dave')
    })

    it('profiles are kept by user and replaced by newer ones', () => {
      let s = apply(start, { type: 'profile', profile: profile('bob', { name: 'Bob' }) })
      s = apply(s, { type: 'profile', profile: profile('bob', { name: 'Robert', updatedAt: 5 }) })
      assert.equal(s.profiles.bob?.name, 'Robert')
    })
  })

  it('never changes the state it is given', () => {
    const before = JSON.stringify(start)
    apply(start,
      { type: 'requests', list: [request('dave', 'incoming', 1)] },
      { type: 'select', target: 'dave', request: true },
      { type: 'chat', chat: chat('dave', 'accepted', ME) },
      { type: 'rooms', list: [room('den')] },
      { type: 'contacts', list: [contact('bob')] },
      { type: 'profile', profile: profile('bob') },
      { type: 'profile-pane', pane: { open: true, user: null } })
    assert.equal(JSON.stringify(start), before)
  })
})
