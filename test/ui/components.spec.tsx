import assert from 'node:assert/strict'
import { render } from 'ink-testing-library'
import { ConversationList } from '../../src/ui/components/ConversationList.js'
import { ChatView } from '../../src/ui/components/ChatView.js'
import { StatusLine } from '../../src/ui/components/StatusLine.js'
import { ContactsOverlay, HelpOverlay, MembersOverlay, UsersOverlay } from '../../src/ui/components/Overlays.js'
import { ProfilePane } from '../../src/ui/components/ProfilePane.js'
import { LoginForm } from '../../src/ui/components/LoginForm.js'
import { App } from '../../src/ui/components/App.js'
import { HELP_KEYS } from '../../src/ui/keys.js'
import { SLASH_HELP } from '../../src/ui/slash.js'
import { cellWidth, clock } from '../../src/ui/format.js'
import { assertFits, frameWhere, frameWith, frameWithout, KEY, lines, press, renderSized, text, type, until } from './screen.js'
import type { ReactElement } from 'react'
import type { Screen, SizedScreen } from './screen.js'
import type { ChatMessage, ChatPort, ChatRequest, ClientEvent, ConnectionState, Contact, ConversationEntry, DirectChat, HistoryPage, Profile, ProfileChange, RoomInfo, RoomMember, UserInfo } from '../../src/ui/port.js'
import type { SendResult } from '../../src/client/index.js'
import type { LoginValues } from '../../src/ui/components/LoginForm.js'

const ME = 'alice'

// ---------------------------------------------------------------------------------------------
// helpers

/** The column where `needle` starts on the first line containing it, in cells. */
function columnOf (frame: string, needle: string): number {
  const line = lines(frame).find(l => l.includes(needle))
  assert.ok(line != null, `${JSON.stringify(needle)} not in:\n${frame}`)
  return cellWidth(line.slice(0, line.indexOf(needle)))
}

// ---------------------------------------------------------------------------------------------
// fixtures

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

const T0 = new Date(2024, 4, 17, 9, 30).getTime()

function message (id: string, from: string, body: string, fields: Partial<ChatMessage> = {}): ChatMessage {
  const room = fields.room
  const peer = fields.peer ?? (from === ME ? undefined : from)
  return {
    id,
    conv: room != null ? `room:${room}` : `dm:${[ME, peer ?? ''].sort().join(':')}`,
    from,
    fromDevice: `${from}-device`,
    sentAt: T0,
    receivedAt: T0,
    text: body,
    ...(room == null && peer != null ? { peer } : {}),
    ...fields
  }
}

function userInfo (user: string, online: boolean): UserInfo {
  return { user, online, lastSeen: null, createdAt: T0, devices: [], accountKey: null }
}

/** The client core as the chat screen sees it, in memory: pushes events, records calls. */
class FakePort implements ChatPort {
  readonly user = ME
  connectionState: ConnectionState = 'connected'
  list: ConversationEntry[] = [
    entry('bob', { lastActivity: T0 + 2_000, online: true, count: 2, lastAuthor: 'bob', lastText: 'how are you?' }),
    entry('carol', { lastActivity: T0 + 1_000, online: false, unread: 2, count: 2, lastAuthor: 'carol', lastText: 'ping' }),
    entry('#global', { lastActivity: T0, count: 1 })
  ]

  directory: UserInfo[] = [userInfo(ME, true), userInfo('bob', true), userInfo('carol', false)]
  pages: Record<string, ChatMessage[]> = {
    bob: [message('b1', 'bob', 'hi alice, how are you?', { sentAt: T0 + 1_000 }), message('b2', ME, 'fine, thanks', { peer: 'bob', sentAt: T0 + 2_000, status: 'read' })],
    carol: [message('c1', 'carol', 'ping from carol', { sentAt: T0 + 500 }), message('c2', 'carol', 'are you there?', { sentAt: T0 + 1_000 })],
    '#global': [message('g1', 'dave', 'welcome to the mesh', { room: 'global', sentAt: T0 })]
  }

  readonly sent: Array<{ to: string, text: string }> = []
  readonly pageCalls: Array<{ target: string, before?: string }> = []
  readonly readCalls: string[] = []
  /** Replaces what `send` returns, e.g. a promise that never settles. */
  sendResult: (to: string, text: string) => Promise<SendResult> = async (to, text) => ({ id: `sent-${this.sent.length}`, conv: `dm:${to}`, sentAt: Date.now(), deliveredTo: [], status: 'sent' })

  private readonly listeners = new Set<(ev: ClientEvent) => void>()

  on (listener: (ev: ClientEvent) => void): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }

  emit (ev: ClientEvent): void {
    for (const l of this.listeners) l(ev)
  }

  get listening (): number {
    return this.listeners.size
  }

  async conversations (): Promise<ConversationEntry[]> {
    return this.list.map(c => ({ ...c }))
  }

  async users (): Promise<UserInfo[]> {
    return [...this.directory]
  }

  async send (to: string, body: string): Promise<SendResult> {
    this.sent.push({ to, text: body })
    return await this.sendResult(to, body)
  }

  readonly history = {
    page: async (target: string, options: { limit?: number, before?: string } = {}): Promise<HistoryPage> => {
      this.pageCalls.push({ target, ...(options.before == null ? {} : { before: options.before }) })
      const all = this.pages[target] ?? []
      const end = options.before == null ? all.length : Math.max(0, all.findIndex(m => m.id === options.before))
      const messages = all.slice(Math.max(0, end - (options.limit ?? 50)), end)
      return { conv: entry(target).conv, target, messages, gaps: [] }
    },
    markRead: async (target: string): Promise<unknown> => {
      this.readCalls.push(target)
      return { target, unread: 0 }
    }
  }
}

function directChat (user: string, state: DirectChat['state'], by: string | null, fields: Partial<DirectChat> = {}): DirectChat {
  return { user, conv: `dm:${[ME, user].sort().join(':')}`, state, by, at: by == null ? null : T0, ...fields }
}

function roomInfo (name: string, fields: Partial<RoomInfo> = {}): RoomInfo {
  return { room: name, private: false, owner: null, createdAt: T0, members: 2, joined: true, list: null, ...fields }
}

function profileOf (user: string, fields: Partial<Profile> = {}): Profile {
  return { user, name: '', status: '', about: '', updatedAt: null, ...fields }
}

/** The fake client core with issue 8's methods: requests, contacts, profiles and rooms, each call recorded. */
class PeoplePort extends FakePort {
  readonly calls: unknown[][] = []
  pending: ChatRequest[] = []
  /** Where each chat stands; bob and carol are accepted chat partners, as in the fixture. */
  chats: Record<string, DirectChat> = { bob: directChat('bob', 'accepted', 'bob'), carol: directChat('carol', 'accepted', ME) }
  contactList: Contact[] = []
  profiles: Record<string, Profile> = {}
  roomList: RoomInfo[] = [roomInfo('global', { members: 3 })]
  memberList: RoomMember[] = []
  /** Makes the named method fail with this error. */
  failing: Record<string, Error> = {}

  private record (name: string, ...args: unknown[]): void {
    this.calls.push([name, ...args])
    const err = this.failing[name]
    if (err != null) throw err
  }

  private answer (user: string, state: DirectChat['state'], text?: string): DirectChat {
    this.pending = this.pending.filter(r => r.user !== user)
    this.chats[user] = directChat(user, state, ME, text == null ? {} : { text })
    return this.chats[user]
  }

  callsOf (name: string): unknown[][] {
    return this.calls.filter(c => c[0] === name).map(c => c.slice(1))
  }

  async request (user: string, text?: string): Promise<DirectChat> { this.record('request', user, text); return this.answer(user, 'pending', text) }
  async accept (user: string): Promise<DirectChat> { this.record('accept', user); return this.answer(user, 'accepted') }
  async decline (user: string): Promise<DirectChat> { this.record('decline', user); return this.answer(user, 'declined') }
  async closeChat (user: string): Promise<DirectChat> { this.record('closeChat', user); return this.answer(user, 'closed') }
  async chatState (user: string): Promise<DirectChat> {
    const pending = this.pending.find(r => r.user === user)
    if (pending != null) return directChat(user, 'pending', pending.direction === 'incoming' ? user : ME, { at: pending.at, ...(pending.text == null ? {} : { text: pending.text }) })
    return this.chats[user] ?? directChat(user, 'none', null)
  }
  async requests (): Promise<ChatRequest[]> { return [...this.pending] }
  async contacts (): Promise<Contact[]> { this.record('contacts'); return [...this.contactList] }
  async addContact (user: string): Promise<void> {
    this.record('addContact', user)
    this.contactList.push({ user, online: null, lastSeen: null, name: '', status: '', addedAt: T0 })
  }

  async removeContact (user: string): Promise<void> {
    this.record('removeContact', user)
    this.contactList = this.contactList.filter(c => c.user !== user)
  }

  async profile (user?: string): Promise<Profile> { this.record('profile', user); return this.profiles[user ?? ME] ?? profileOf(user ?? ME) }
  async setProfile (change: ProfileChange): Promise<Profile> {
    this.record('setProfile', change)
    this.profiles[ME] = { ...(this.profiles[ME] ?? profileOf(ME)), ...change, updatedAt: T0 }
    return this.profiles[ME]
  }

  async rooms (): Promise<RoomInfo[]> { return [...this.roomList] }
  async createRoom (name: string, options: { private?: boolean } = {}): Promise<RoomInfo> {
    this.record('createRoom', name, options)
    return roomInfo(name, { private: options.private === true, owner: ME, members: 1 })
  }

  async joinRoom (name: string): Promise<RoomInfo> { this.record('joinRoom', name); return roomInfo(name) }
  async leaveRoom (name: string): Promise<RoomInfo> { this.record('leaveRoom', name); return roomInfo(name, { joined: false }) }
  async invite (room: string, user: string): Promise<RoomInfo> { this.record('invite', room, user); return roomInfo(room, { members: 3 }) }
  async removeMember (room: string, user: string): Promise<RoomInfo> { this.record('removeMember', room, user); return roomInfo(room, { members: 1 }) }
  async members (room: string): Promise<RoomMember[]> { this.record('members', room); return [...this.memberList] }
}

// ---------------------------------------------------------------------------------------------

describe('ui components', function () {
  const screens: Array<{ unmount: () => void }> = []
  function show (tree: ReactElement): Screen {
    const r = render(tree)
    screens.push(r)
    return r
  }

  afterEach(() => {
    for (const s of screens.splice(0)) s.unmount()
  })

  describe('ConversationList', function () {
    const list = [
      entry('#global', { unread: 3 }),
      entry('bob', { online: true }),
      entry('carol', { online: false, unread: 12 }),
      entry('dave', { online: null, unread: 150 })
    ]

    it('marks people online ●, offline ○ and rooms #', () => {
      const f = text(show(<ConversationList conversations={list} selected={null} focused={false} width={24} height={6} />).lastFrame())
      assert.match(f, /# global/)
      assert.match(f, /● bob/)
      assert.match(f, /○ carol/)
      // presence unknown is shown as not online
      assert.match(f, /○ dave/)
    })

    it('shows unread badges, 99+ past 99, and none at 0', () => {
      const f = text(show(<ConversationList conversations={list} selected={null} focused={false} width={24} height={6} />).lastFrame())
      assert.match(lines(f).find(l => l.includes('global'))!, /global\s+3\s*│/)
      assert.match(lines(f).find(l => l.includes('carol'))!, /carol\s+12\s*│/)
      assert.match(lines(f).find(l => l.includes('dave'))!, /dave\s+99\+\s*│/)
      assert.match(lines(f).find(l => l.includes('bob'))!, /bob\s*│/)
    })

    it('shows the selected row among the others', () => {
      const f = text(show(<ConversationList conversations={list} selected='carol' focused width={24} height={6} />).lastFrame())
      for (const name of ['global', 'bob', 'carol', 'dave']) assert.ok(f.includes(name), name)
    })

    it('keeps the selected row in view in a long list', () => {
      const many = Array.from({ length: 40 }, (_, i) => entry(`user${String(i).padStart(2, '0')}`))
      const f = text(show(<ConversationList conversations={many} selected='user30' focused width={24} height={6} />).lastFrame())
      assert.ok(f.includes('user30'), f)
      assert.ok(!f.includes('user00'), f)
      assert.equal(lines(f).length, 8)
    })

    it('truncates long names in a narrow pane and stays inside it', () => {
      const long = [entry('a_very_long_username_indeed', { online: true, unread: 5 }), entry('#global')]
      const f = text(show(<ConversationList conversations={long} selected='a_very_long_username_indeed' focused={false} width={16} height={3} />).lastFrame())
      assert.ok(!f.includes('a_very_long_username_indeed'), f)
      assert.match(f, /● a_very_l?\S*…/)
      assert.match(f, /5/)
      assertFits(f, 16)
    })
  })

  describe('ChatView', function () {
    const props = { me: ME, online: true, scroll: 0, hasMore: false, width: 60, height: 14 }

    it('puts mine on the right and theirs on the left', () => {
      const f = text(show(<ChatView {...props} target='bob' messages={[message('1', 'bob', 'theirs here'), message('2', ME, 'mine here', { peer: 'bob', status: 'sent' })]} />).lastFrame())
      assert.ok(columnOf(f, 'mine here') > columnOf(f, 'theirs here') + 10, f)
      assert.ok(columnOf(f, 'theirs here') <= 2, f)
      assertFits(f, 60)
    })

    it('heads theirs with the author and time in a room, and the time in a direct chat', () => {
      const room = text(show(<ChatView {...props} target='#global' online={null} messages={[message('1', 'bob', 'hello room', { room: 'global' })]} />).lastFrame())
      assert.ok(room.includes(`bob ${clock(T0)}`), room)
      const dm = text(show(<ChatView {...props} target='bob' messages={[message('1', 'bob', 'hello you')]} />).lastFrame())
      assert.ok(dm.includes(clock(T0)), dm)
      assert.match(dm, /bob ● online/)
    })

    it('shows the receipt of mine: …, ✓, ✓✓, ✓✓ read', () => {
      const statuses = ['sending', 'sent', 'delivered', 'read'] as const
      const messages = statuses.map((status, i) => message(`m${i}`, ME, `note ${status}`, { peer: 'bob', status, sentAt: T0 + i * 60_000 }))
      const f = text(show(<ChatView {...props} target='bob' messages={messages} height={20} />).lastFrame())
      const headerOf = (i: number): string => lines(f).find(l => l.includes(clock(T0 + i * 60_000)))!.replace(/^\s*│\s*|\s*│\s*$/g, '')
      assert.equal(headerOf(0), `${clock(T0)} …`)
      assert.equal(headerOf(1), `${clock(T0 + 60_000)} ✓`)
      assert.equal(headerOf(2), `${clock(T0 + 120_000)} ✓✓`)
      assert.equal(headerOf(3), `${clock(T0 + 180_000)} ✓✓ read`)
    })

    it('shows an empty state', () => {
      const empty = text(show(<ChatView {...props} target='bob' messages={[]} />).lastFrame())
      assert.ok(empty.includes('No messages yet. Say hello.'), empty)
      const none = text(show(<ChatView {...props} target={null} online={null} messages={[]} />).lastFrame())
      assert.ok(none.includes('Pick a conversation on the left.'), none)
      assert.ok(none.includes('no conversation'), none)
    })

    it('wraps long messages inside the pane', () => {
      const words = Array.from({ length: 60 }, (_, i) => `word${i}`)
      const f = text(show(<ChatView {...props} target='bob' height={30} messages={[message('1', 'bob', words.join(' ')), message('2', ME, words.join(' '), { peer: 'bob', status: 'sent' })]} />).lastFrame())
      assertFits(f, 60)
      for (const w of ['word0', 'word30', 'word59']) assert.ok(f.includes(w), w)
      assert.ok(lines(f).filter(l => l.includes('word')).length >= 10, f)
    })

    it('wraps a long word without spaces too', () => {
      const f = text(show(<ChatView {...props} target='bob' messages={[message('1', 'bob', 'x'.repeat(150))]} />).lastFrame())
      assertFits(f, 60)
      assert.equal(lines(f).join('').split('x').length - 1, 150)
    })

    it('renders Polish, Cyrillic and emoji', () => {
      const messages = [
        message('1', 'bob', 'zażółć gęślą jaźń', { sentAt: T0 }),
        message('2', ME, 'привет, как дела?', { peer: 'bob', status: 'delivered', sentAt: T0 + 1 }),
        message('3', 'bob', 'party 🎉👋 你好', { sentAt: T0 + 2 })
      ]
      const f = text(show(<ChatView {...props} target='bob' messages={messages} />).lastFrame())
      for (const t of ['zażółć gęślą jaźń', 'привет, как дела?', 'party 🎉👋 你好']) assert.ok(f.includes(t), `${t}:\n${f}`)
      assertFits(f, 60)
    })

    it('hints at older messages when more exist or do not fit', () => {
      const few = [message('1', 'bob', 'one')]
      const noHint = text(show(<ChatView {...props} target='bob' messages={few} />).lastFrame())
      assert.ok(!noHint.includes('PgUp'), noHint)
      const more = text(show(<ChatView {...props} target='bob' messages={few} hasMore />).lastFrame())
      assert.ok(more.includes('↑ PgUp for older'), more)
      const many = Array.from({ length: 30 }, (_, i) => message(`m${i}`, 'bob', `line ${i}`, { sentAt: T0 + i }))
      const hidden = text(show(<ChatView {...props} target='bob' messages={many} />).lastFrame())
      assert.ok(hidden.includes('↑ PgUp for older'), hidden)
      assert.ok(hidden.includes('line 29'), hidden)
      assert.ok(!hidden.includes('line 0\n'), hidden)
    })

    it('keeps the header to one line with a long name, older and newer hints', () => {
      const name = 'abcdefghijklmnopqrstuvwxyz_abcde'
      const many = Array.from({ length: 40 }, (_, i) => message(`m${i}`, name, `line ${i}`, { sentAt: T0 + i }))
      const f = text(show(<ChatView {...props} target={name} messages={many} scroll={5} hasMore height={10} />).lastFrame())
      const header = lines(f)[1]!
      assert.ok(header.includes('↑ PgUp for older  5 newer ↓'), f)
      assert.ok(header.includes('abcdefghij'), f)
      // the newest shown is right above the bottom border
      assert.match(lines(f).at(-2)!, /line 34\s*│/)
      assert.equal(lines(f).length, 12)
      assertFits(f, 60)
    })

    it('shows how many newer messages are below when scrolled up', () => {
      const many = Array.from({ length: 30 }, (_, i) => message(`m${i}`, 'bob', `line ${i}`, { sentAt: T0 + i }))
      const f = text(show(<ChatView {...props} target='bob' messages={many} scroll={5} />).lastFrame())
      assert.ok(f.includes('5 newer ↓'), f)
      assert.ok(f.includes('line 24'), f)
      assert.ok(!f.includes('line 25'), f)
    })
  })

  describe('StatusLine', function () {
    for (const [state, label] of [['connected', '● connected'], ['connecting', '◌ connecting'], ['reconnecting', '◌ reconnecting'], ['offline', '○ offline']] as const) {
      it(`shows ${state} and the user`, () => {
        const f = text(show(<StatusLine connection={state} me={ME} notice={null} width={80} />).lastFrame())
        assert.ok(f.includes(label), f)
        assert.ok(f.includes(`as ${ME}`), f)
        assert.equal(lines(f).length, 1)
      })
    }

    it('shows a notice on the same line', () => {
      const f = text(show(<StatusLine connection='connected' me={ME} notice={{ text: 'could not send: bob is offline', kind: 'error' }} width={80} />).lastFrame())
      assert.equal(lines(f).length, 1)
      assert.ok(f.includes('could not send: bob is offline'), f)
      assert.ok(f.includes('connected'), f)
    })

    it('cuts a long notice to the width', () => {
      const f = text(show(<StatusLine connection='reconnecting' me={ME} notice={{ text: `new message from ${'x'.repeat(200)}`, kind: 'info' }} width={80} />).lastFrame())
      assert.equal(lines(f).length, 1, f)
      assertFits(f, 80)
      assert.ok(f.includes('reconnecting'), f)
    })
  })

  describe('HelpOverlay', function () {
    it('lists every slash command and every key', () => {
      const f = text(show(<HelpOverlay width={100} />).lastFrame())
      for (const [usage, what] of SLASH_HELP) {
        assert.ok(f.includes(usage), usage)
        assert.ok(f.includes(what), what)
      }
      for (const [keys, what] of HELP_KEYS) {
        assert.ok(f.includes(keys), keys)
        assert.ok(f.includes(what), what)
      }
      assert.ok(f.includes('Esc to close'))
      assertFits(f, 100)
    })
  })

  describe('UsersOverlay', function () {
    it('lists users online first, with presence, and marks me', () => {
      const users = [{ user: 'carol', online: false }, { user: ME, online: true }, { user: 'bob', online: true }]
      const f = text(show(<UsersOverlay users={users} me={ME} width={60} />).lastFrame())
      assert.ok(f.includes('Users (2 online)'), f)
      assert.ok(f.includes(`● ${ME} (you)`), f)
      assert.ok(f.includes('● bob'), f)
      assert.ok(f.includes('○ carol'), f)
      assert.ok(!f.includes('bob (you)'), f)
      assert.ok(f.indexOf('○ carol') > f.indexOf('● bob'), f)
    })

    it('shows how many more past 30', () => {
      const users = Array.from({ length: 45 }, (_, i) => ({ user: `user${String(i).padStart(2, '0')}`, online: i % 2 === 0 }))
      const f = text(show(<UsersOverlay users={users} me={ME} width={60} />).lastFrame())
      assert.ok(f.includes('… and 15 more'), f)
    })
  })

  describe('ConversationList: requests (issue 8)', function () {
    const list = [entry('bob', { online: true }), entry('#global')]
    const requests: ChatRequest[] = [
      { user: 'dave', direction: 'incoming', text: 'hi alice, dave here\nand a second line', at: T0 + 60_000 },
      { user: 'erin', direction: 'incoming', at: T0 },
      { user: 'zoe', direction: 'outgoing', at: T0 }
    ]

    it('shows incoming requests (name, time, first line) and outgoing ones waiting, above the conversations', () => {
      const f = text(show(<ConversationList conversations={list} selected='bob' focused={false} width={28} height={12} requests={requests} />).lastFrame())
      assert.match(f, /Requests a✓ d✗/)
      assert.match(f, new RegExp(`» dave\\s+${clock(T0 + 60_000)}`))
      assert.ok(f.includes('hi alice, dave here'), f)
      assert.ok(!f.includes('second line'), f)
      assert.match(f, /» erin/)
      assert.match(f, /… zoe\s+waiting/)
      const order = ['Requests', '» dave', '» erin', '… zoe', '│──', '● bob', '# global'].map(n => f.indexOf(n))
      assert.deepEqual(order, [...order].sort((a, b) => a - b), f)
      assertFits(f, 28)
      assert.equal(lines(f).length, 14)
    })

    it('shows no keys when only outgoing requests wait, and no section without requests', () => {
      const out = text(show(<ConversationList conversations={list} selected='bob' focused={false} width={28} height={8} requests={[requests[2]!]} />).lastFrame())
      assert.ok(out.includes('Requests') && !out.includes('a✓'), out)
      const none = text(show(<ConversationList conversations={list} selected='bob' focused={false} width={28} height={8} requests={[]} />).lastFrame())
      assert.ok(!none.includes('Requests'), none)
    })

    it('keeps the request under the cursor in view in a short pane, and says how many more', () => {
      const many = Array.from({ length: 12 }, (_, i): ChatRequest => ({ user: `user${String(i).padStart(2, '0')}`, direction: 'incoming', text: `note ${i}`, at: T0 }))
      const f = text(show(<ConversationList conversations={list} selected={null} selectedRequest='user09' focused width={24} height={10} requests={many} />).lastFrame())
      assert.ok(f.includes('user09'), f)
      assert.match(f, /\+\d+ more/)
      assert.ok(f.includes('bob'), f)
      assert.equal(lines(f).length, 12)
      assertFits(f, 24)
    })

    it('cuts long names and lines in a narrow pane', () => {
      const long: ChatRequest[] = [{ user: 'a_very_long_username_indeed', direction: 'incoming', text: 'x'.repeat(80), at: T0 }]
      const f = text(show(<ConversationList conversations={list} selected={null} selectedRequest='a_very_long_username_indeed' focused width={16} height={8} requests={long} />).lastFrame())
      assertFits(f, 16)
      assert.ok(f.includes('…'), f)
    })
  })

  describe('ProfilePane', function () {
    const props = { me: ME, width: 34, height: 16 }

    it('shows the display name, status, about, when it was updated and presence', () => {
      const p = profileOf('bob', { name: 'Bob Builder', status: 'at work', about: 'builds things', updatedAt: new Date().setHours(8, 15, 0, 0) })
      const f = text(show(<ProfilePane {...props} user='bob' profile={p} online lastSeen={null} />).lastFrame())
      for (const t of ['bob', '● online', 'Name', 'Bob Builder', 'Status', 'at work', 'About', 'builds things', 'updated 08:15', '/profile to hide']) assert.ok(f.includes(t), `${t}:\n${f}`)
      assert.ok(!f.includes('(you)'), f)
      assertFits(f, 34, 18)
    })

    it('says what is not set, and when the person was last seen', () => {
      const seen = new Date(2024, 0, 2, 3, 4).getTime()
      const f = text(show(<ProfilePane {...props} user='carol' profile={profileOf('carol')} online={false} lastSeen={seen} />).lastFrame())
      for (const t of ['○ last seen 2024-01-02 03:04', 'no name set', 'no status', 'nothing yet', 'never updated']) assert.ok(f.includes(t), `${t}:\n${f}`)
      const unknown = text(show(<ProfilePane {...props} user='carol' profile={profileOf('carol')} online={null} lastSeen={null} />).lastFrame())
      assert.ok(unknown.includes('presence unknown'), unknown)
    })

    it('marks this account’s own profile and says how to change it; loading before it came', () => {
      const f = text(show(<ProfilePane {...props} user={ME} profile={undefined} online lastSeen={null} />).lastFrame())
      assert.ok(f.includes(`${ME} (you)`), f)
      assert.ok(f.includes('loading the profile…'), f)
      assert.ok(f.includes('/profile set'), f)
    })

    it('wraps a long about inside the pane', () => {
      const about = Array.from({ length: 30 }, (_, i) => `word${i}`).join(' ')
      const f = text(show(<ProfilePane {...props} user='bob' profile={profileOf('bob', { about })} online lastSeen={null} />).lastFrame())
      assertFits(f, 34, 18)
      assert.ok(f.includes('word0') && f.includes('word20'), f)
    })
  })

  describe('ContactsOverlay', function () {
    it('lists contacts with presence and profile name, and how to add one', () => {
      const contacts: Contact[] = [
        { user: 'bob', online: true, lastSeen: null, name: 'Bob Builder', status: 'at work', addedAt: T0 },
        { user: 'carol', online: false, lastSeen: null, name: '', status: '', addedAt: T0 }
      ]
      const f = text(show(<ContactsOverlay contacts={contacts} width={70} height={12} />).lastFrame())
      assert.ok(f.includes('Contacts (1 of 2 online)'), f)
      assert.ok(f.includes('● bob Bob Builder — at work'), f)
      assert.ok(f.includes('○ carol · offline'), f)
      assert.ok(f.includes('/contacts add|remove <user>'), f)
      assertFits(f, 70, 12)
    })

    it('says how to start when there are none, and cuts a long list to its height', () => {
      const empty = text(show(<ContactsOverlay contacts={[]} width={70} />).lastFrame())
      assert.ok(empty.includes('No contacts yet: /contacts add <user>'), empty)
      const many = Array.from({ length: 40 }, (_, i): Contact => ({ user: `user${String(i).padStart(2, '0')}`, online: false, lastSeen: null, name: '', status: '', addedAt: T0 }))
      const f = text(show(<ContactsOverlay contacts={many} width={70} height={12} />).lastFrame())
      assertFits(f, 70, 12)
      assert.match(f, /… and \d+ more/)
    })
  })

  describe('MembersOverlay', function () {
    it('lists a room’s members online first, with the owner marked', () => {
      const members: RoomMember[] = [{ user: 'carol', online: false, owner: false }, { user: ME, online: true, owner: true }, { user: 'bob', online: true, owner: false }]
      const f = text(show(<MembersOverlay room='den' members={members} width={60} height={12} />).lastFrame())
      assert.ok(f.includes('#den: 3 members (2 online)'), f)
      assert.ok(f.includes(`● ${ME} (owner)`), f)
      assert.ok(f.indexOf('○ carol') > f.indexOf('● bob'), f)
      assertFits(f, 60, 12)
    })
  })

  describe('HelpOverlay with a height', function () {
    it('fits the height, and scrolls to the rest', () => {
      const top = text(show(<HelpOverlay width={80} height={16} />).lastFrame())
      assertFits(top, 80, 16)
      assert.ok(top.includes('Keys') && top.includes('↓ PgDn for more'), top)
      assert.ok(!top.includes('/logout'), top)
      const bottom = text(show(<HelpOverlay width={80} height={16} scroll={1_000} />).lastFrame())
      assertFits(bottom, 80, 16)
      assert.ok(bottom.includes('/logout') && bottom.includes('↑ PgUp back') && !bottom.includes('for more'), bottom)
    })
  })

  describe('LoginForm', function () {
    interface Form { screen: Screen, submitted: LoginValues[], cancelled: () => number }

    function form (initial: Partial<LoginValues>, onSubmit: (v: LoginValues) => Promise<void> = async () => {}): Form {
      const submitted: LoginValues[] = []
      let cancels = 0
      const screen = show(<LoginForm initial={initial} onSubmit={async v => { submitted.push(v); await onSubmit(v) }} onCancel={() => { cancels++ }} />)
      return { screen, submitted, cancelled: () => cancels }
    }

    /** An attempt that is still working (so the form stays on screen, saying so). */
    const hang = async (): Promise<void> => await new Promise<void>(() => {})

    /** The text after a field's label. */
    function fieldLine (frame: string, label: string): string {
      const line = lines(frame).find(l => l.includes(label))
      assert.ok(line != null, label)
      return line.slice(line.indexOf(label) + label.length).replace(/│\s*$/, '').trim()
    }

    it('starts at the server when nothing is known', async () => {
      const { screen } = form({})
      const f = await type(screen, 'host:4001', 'host:4001')
      assert.equal(fieldLine(f, 'Server'), 'host:4001')
      assert.equal(fieldLine(f, 'Username'), '')
    })

    it('starts at the first missing field', async () => {
      const user = form({ server: 'host:4001' })
      const f = await type(user.screen, 'bob', 'bob')
      assert.equal(fieldLine(f, 'Username'), 'bob')
      assert.equal(fieldLine(f, 'Server'), 'host:4001')

      const pass = form({ server: 'host:4001', user: 'bob' })
      const g = await type(pass.screen, 'abc', '•••')
      assert.equal(fieldLine(g, 'Password'), '•••')
      assert.equal(fieldLine(g, 'Username'), 'bob')
    })

    it('says which field is missing instead of submitting', async () => {
      const { screen, submitted } = form({ server: 'host:4001', user: 'bob' })
      const f = await type(screen, KEY.enter, 'password is missing')
      assert.equal(submitted.length, 0)
      assert.ok(!f.includes('working'), f)
    })

    it('goes to the first missing field, and names it', async () => {
      const { screen, submitted } = form({ server: 'host:4001' })
      // Enter on the empty username moves on to the password…
      await type(screen, KEY.enter, '› Password')
      await type(screen, 'pw', '••')
      // …and Enter there finds the username missing, and goes back to it
      await type(screen, KEY.enter, 'username is missing', '› Username')
      assert.equal(submitted.length, 0)
      const f = await type(screen, 'bob', 'bob')
      assert.equal(fieldLine(f, 'Username'), 'bob')
      assert.equal(fieldLine(f, 'Password'), '••')
    })

    it('masks the password: typed characters never appear', async () => {
      const { screen, submitted } = form({ server: 'host:4001', user: 'bob' }, hang)
      await type(screen, 'hunter2', '•••••••')
      await type(screen, KEY.enter, 'working')
      await until(() => submitted.length === 1, 'the submit')
      assert.equal(submitted[0]!.password, 'hunter2')
      for (const frame of screen.frames) assert.ok(!frame.includes('hunter2'), frame)
    })

    it('shows a rejection on one line and clears the password', async () => {
      const { screen, submitted } = form({ server: 'host:4001', user: 'bob' }, async () => { throw new Error('wrong username or password\n    at somewhere (file.js:1:1)') })
      await type(screen, 'secret', '••••••')
      const f = await type(screen, KEY.enter, 'wrong username or password')
      assert.deepEqual(submitted, [{ server: 'host:4001', user: 'bob', password: 'secret', register: false }])
      assert.ok(!f.includes('somewhere'), f)
      assert.equal(lines(f).filter(l => l.includes('wrong username')).length, 1)
      assert.equal(fieldLine(f, 'Password'), '')
      // and the password can be typed again, from the start
      const g = await type(screen, 'again', '•••••')
      assert.equal(fieldLine(g, 'Password'), '•••••')
    })

    it('switches to creating an account with Ctrl-R', async () => {
      const { screen, submitted } = form({ server: 'host:4001', user: 'bob' }, hang)
      assert.ok(text(screen.lastFrame()).includes('log in'))
      await type(screen, KEY.ctrlR, 'create an account', 'Enter to register')
      await type(screen, 'pw', '••')
      await type(screen, KEY.enter, 'working')
      await until(() => submitted.length === 1, 'the submit')
      assert.equal(submitted[0]!.register, true)
    })

    it('Ctrl-R twice is logging in again', async () => {
      const { screen } = form({ server: 'host:4001', user: 'bob' })
      await type(screen, KEY.ctrlR, 'create an account')
      await type(screen, KEY.ctrlR, 'Enter to log in')
      assert.ok(!text(screen.lastFrame()).includes('create an account'))
    })

    it('Esc gives up', async () => {
      const form1 = form({})
      await press(form1.screen, KEY.esc)
      await until(() => form1.cancelled() === 1, 'onCancel')
    })
  })

  describe('App', function () {
    let port: FakePort
    let screen: SizedScreen

    function start (columns = 100, rows = 30): SizedScreen {
      screen = renderSized(<App port={port} />, columns, rows)
      screens.push(screen)
      return screen
    }

    /** The composer's line: what is typed, after the `target ›` prompt. */
    function composer (frame: string): string {
      const line = lines(frame).find(l => l.includes(' › '))
      assert.ok(line != null, frame)
      return line.slice(line.indexOf(' › ') + 3).replace(/│\s*$/, '').trim()
    }

    function lastLine (frame: string): string {
      return lines(frame).filter(l => l.trim() !== '').at(-1) ?? ''
    }

    beforeEach(() => {
      port = new FakePort()
    })

    it('shows the conversations and opens the most recent', async () => {
      start()
      const f = await frameWith(screen, 'hi alice, how are you?', 'fine, thanks')
      assert.match(f, /● bob/)
      assert.match(f, /○ carol\s+2/)
      assert.match(f, /# global/)
      assert.match(f, /bob ● online/)
      assert.ok(f.includes('bob › '), f)
      assert.ok(f.includes(`${clock(T0 + 2_000)} ✓✓ read`), f)
      assert.ok(f.includes('● connected'), f)
      assert.ok(f.includes(`as ${ME}`), f)
      assert.deepEqual(port.pageCalls, [{ target: 'bob' }])
      assert.ok(columnOf(f, 'fine, thanks') > columnOf(f, 'hi alice'), f)
    })

    it('sends what is typed on Enter and clears the composer', async () => {
      start()
      await frameWith(screen, 'fine, thanks')
      const typed = await type(screen, 'hello bob', 'hello bob')
      assert.equal(composer(typed), 'hello bob')
      await press(screen, KEY.enter)
      await until(() => port.sent.length === 1, 'send')
      assert.deepEqual(port.sent, [{ to: 'bob', text: 'hello bob' }])
      const f = await frameWithout(screen, 'hello bob')
      assert.ok(f.includes('type a message'), f)
    })

    it('sends Polish, Cyrillic and emoji as typed', async () => {
      start()
      await frameWith(screen, 'fine, thanks')
      await type(screen, 'zażółć привет 👋', 'zażółć привет 👋')
      await press(screen, KEY.enter)
      await until(() => port.sent.length === 1, 'send')
      assert.deepEqual(port.sent, [{ to: 'bob', text: 'zażółć привет 👋' }])
    })

    it('does not send an empty line', async () => {
      start()
      await frameWith(screen, 'fine, thanks')
      await type(screen, '   ', 'bob ›')
      await press(screen, KEY.enter)
      await type(screen, 'x', 'x')
      assert.deepEqual(port.sent, [])
    })

    it('/help shows the help and Esc closes it', async () => {
      start()
      await frameWith(screen, 'fine, thanks')
      await type(screen, '/help', '/help')
      const help = await type(screen, KEY.enter, 'Keys', 'Esc to close')
      assert.ok(!help.includes('fine, thanks'), help)
      // it is taller than the screen: ↓ and PageDown scroll it until every command was shown
      let seen = help
      for (let i = 0; i < 40 && !SLASH_HELP.every(([usage]) => seen.includes(usage)); i++) {
        await press(screen, i % 2 === 0 ? KEY.down : KEY.pageDown)
        seen += text(screen.lastFrame())
      }
      for (const [usage] of SLASH_HELP) assert.ok(seen.includes(usage), usage)
      for (const [keys] of HELP_KEYS) assert.ok(seen.includes(keys), keys)
      assert.ok(text(screen.lastFrame()).includes('↑ PgUp back'), text(screen.lastFrame()))
      assertFits(text(screen.lastFrame()), 100, 30)
      assert.equal(composer(help), 'type a message, /help for commands')
      const after = await type(screen, KEY.esc, 'fine, thanks')
      assert.ok(!after.includes('Esc to close'), after)
      // Esc closed the overlay and left the focus in the composer
      const typed = await type(screen, 'still here', 'still here')
      assert.equal(composer(typed), 'still here')
    })

    it('/users shows everyone with presence', async () => {
      start()
      await frameWith(screen, 'fine, thanks')
      await type(screen, '/users', '/users')
      const f = await type(screen, KEY.enter, 'Users (2 online)')
      assert.ok(f.includes(`● ${ME} (you)`), f)
      assert.ok(f.includes('● bob'), f)
      assert.ok(f.includes('○ carol'), f)
      await type(screen, KEY.esc, 'fine, thanks')
    })

    it('an unknown command shows a one-line error in the status line', async () => {
      start()
      await frameWith(screen, 'fine, thanks')
      await type(screen, '/foo', '/foo')
      const f = await type(screen, KEY.enter, 'unknown command /foo')
      assert.ok(lastLine(f).includes('unknown command /foo; /help lists them'), lastLine(f))
      assert.ok(lastLine(f).includes('connected'), lastLine(f))
      assert.equal(lines(f).filter(l => l.includes('unknown command')).length, 1)
      assert.deepEqual(port.sent, [])
    })

    it('/msg opens a new chat and sends its text', async () => {
      start()
      await frameWith(screen, 'fine, thanks')
      await type(screen, '/msg dave hi dave', '/msg dave hi dave')
      const f = await type(screen, KEY.enter, 'dave › ')
      await until(() => port.sent.length === 1, 'send')
      assert.deepEqual(port.sent, [{ to: 'dave', text: 'hi dave' }])
      assert.match(f, /○ dave/)
      assert.ok(f.includes('No messages yet'), f)
    })

    it('a message in another conversation bumps it, counts it and says so', async () => {
      start()
      await frameWith(screen, 'fine, thanks')
      port.emit({ type: 'message', message: message('c3', 'carol', 'news from carol', { sentAt: T0 + 5_000 }) })
      const f = await frameWith(screen, 'new message from carol')
      const order = lines(f).map(l => /([●○#]) (bob|carol|global)/.exec(l)?.[2]).filter(x => x != null)
      assert.deepEqual(order, ['carol', 'bob', 'global'])
      assert.match(f, /carol\s+3/)
      assert.ok(lastLine(f).includes('new message from carol'), lastLine(f))
      // the open chat is still bob's
      assert.ok(f.includes('fine, thanks'), f)
      assert.ok(!f.includes('news from carol'), f)
      assert.deepEqual(port.readCalls, [])
    })

    it('a message in the open conversation is shown and marked read', async () => {
      start()
      await frameWith(screen, 'fine, thanks')
      port.emit({ type: 'message', message: message('b3', 'bob', 'are you still there?', { sentAt: T0 + 5_000 }) })
      const f = await frameWith(screen, 'are you still there?')
      await until(() => port.readCalls.includes('bob'), 'markRead(bob)')
      assert.ok(!f.includes('new message from'), f)
    })

    it('a receipt updates the mark of my message', async () => {
      port.pages.bob = [message('b2', ME, 'fine, thanks', { peer: 'bob', sentAt: T0 + 2_000, status: 'sent' })]
      start()
      await frameWith(screen, `${clock(T0 + 2_000)} ✓`)
      port.emit({ type: 'status', id: 'b2', conv: 'dm:alice:bob', status: 'read' })
      await frameWith(screen, `${clock(T0 + 2_000)} ✓✓ read`)
    })

    it('shows the connection state as it changes', async () => {
      start()
      await frameWith(screen, '● connected')
      port.emit({ type: 'connection', state: 'reconnecting' })
      const f = await frameWith(screen, '◌ reconnecting')
      assert.ok(lastLine(f).includes('reconnecting'), lastLine(f))
      port.emit({ type: 'connection', state: 'offline' })
      await frameWith(screen, '○ offline')
      port.emit({ type: 'connection', state: 'connected' })
      await frameWith(screen, '● connected')
    })

    it('shows presence as it changes', async () => {
      start()
      await frameWith(screen, '○ carol')
      port.emit({ type: 'presence', user: 'carol', online: true, lastSeen: null, at: T0 })
      await frameWith(screen, '● carol')
    })

    it('an error event shows in the status line', async () => {
      start()
      await frameWith(screen, 'fine, thanks')
      port.emit({ type: 'error', error: { name: 'OfflineError', message: 'the server is unreachable\nsecond line' } })
      const f = await frameWith(screen, 'the server is unreachable')
      assert.ok(!f.includes('second line'), f)
    })

    it('Tab and Ctrl-N go to the next conversation, Ctrl-P back', async () => {
      start()
      await frameWith(screen, 'fine, thanks')
      let f = await type(screen, KEY.tab, 'carol › ', 'are you there?')
      assert.match(f, /carol ○ offline/)
      await until(() => port.readCalls.includes('carol'), 'opening carol marks it read')
      f = await type(screen, KEY.ctrlN, '#global › ', 'welcome to the mesh')
      assert.ok(f.includes(`dave ${clock(T0)}`), f)
      await type(screen, KEY.ctrlN, 'bob › ', 'fine, thanks')
      await type(screen, KEY.ctrlP, '#global › ')
      await type(screen, '\u001B[Z', 'carol › ')
      assert.deepEqual(port.pageCalls.map(p => p.target), ['bob', 'carol', '#global'])
    })

    it('Esc moves to the list, then ↓ and Enter open another conversation', async () => {
      start()
      await frameWith(screen, 'fine, thanks')
      // the cursor cell (an inverse space before the placeholder) leaves the composer
      await type(screen, KEY.esc, 'bob › type a message')
      await type(screen, KEY.down, 'carol › type a message', 'are you there?')
      await type(screen, KEY.down, '#global › type a message')
      await type(screen, KEY.up, 'carol › type a message')
      // Enter opens it and puts the cursor back in the composer
      await type(screen, KEY.enter, 'carol ›  type a message')
      const f = await type(screen, 'x', 'carol › x')
      assert.equal(composer(f), 'x')
      assert.ok(f.includes('are you there?'), f)
      assert.deepEqual(port.sent, [])
    })

    it('typing in the list goes to the composer, in order', async () => {
      start()
      await frameWith(screen, 'fine, thanks')
      await type(screen, KEY.esc, 'bob › type a message')
      await type(screen, KEY.down, 'carol › type a message')
      await type(screen, 'h', 'carol › h')
      const f = await frameWhere(screen, g => composer(g) === 'h', 'h in the composer')
      await press(screen, 'i')
      await frameWhere(screen, g => composer(g).length === 2, 'two characters')
      assert.equal(composer(text(screen.lastFrame())), 'hi', f)
      await type(screen, '!', 'hi!')
    })

    it('PageUp scrolls back and loads older messages', async () => {
      port.pages.bob = Array.from({ length: 80 }, (_, i) => message(`b${String(i).padStart(3, '0')}`, i % 2 === 0 ? 'bob' : ME, `message number ${i}`, { peer: 'bob', sentAt: T0 + i * 1_000 }))
      start()
      await frameWith(screen, 'message number 79', '↑ PgUp for older')
      assert.deepEqual(port.pageCalls, [{ target: 'bob' }])
      for (let i = 0; i < 6; i++) await press(screen, KEY.pageUp)
      await until(() => port.pageCalls.length === 2, 'an older page')
      assert.deepEqual(port.pageCalls[1], { target: 'bob', before: 'b030' })
      await frameWith(screen, 'newer ↓')
      for (let i = 0; i < 40; i++) await press(screen, KEY.pageUp)
      await frameWhere(screen, f => /message number 0\s*│/.test(f), 'the oldest message')
      for (let i = 0; i < 60; i++) await press(screen, KEY.pageDown)
      const f = await frameWith(screen, 'message number 79')
      assert.ok(!f.includes('newer ↓'), f)
    })

    it('a send that never finishes does not block typing', async () => {
      port.sendResult = async () => await new Promise<never>(() => {})
      start()
      await frameWith(screen, 'fine, thanks')
      await type(screen, 'first', 'first')
      await press(screen, KEY.enter)
      await until(() => port.sent.length === 1, 'first send')
      const f = await type(screen, 'second', 'second')
      assert.equal(composer(f), 'second')
      await press(screen, KEY.enter)
      await until(() => port.sent.length === 2, 'second send')
      assert.deepEqual(port.sent.map(s => s.text), ['first', 'second'])
      await type(screen, KEY.tab, 'carol › ')
    })

    it('a failed send shows its error', async () => {
      port.sendResult = async () => { throw new Error('bob has no account key yet') }
      start()
      await frameWith(screen, 'fine, thanks')
      await type(screen, 'hello', 'hello')
      const f = await type(screen, KEY.enter, 'bob has no account key yet')
      assert.ok(lastLine(f).includes('bob has no account key yet'), lastLine(f))
    })

    it('opens #global when there is no history at all', async () => {
      port.list = []
      port.pages = {}
      start()
      const f = await frameWith(screen, '#global › ', 'No messages yet')
      assert.match(f, /# global/)
    })

    it('/quit and Ctrl-C end it, and it stops listening', async () => {
      start()
      await frameWith(screen, 'fine, thanks')
      assert.equal(port.listening, 1)
      await type(screen, '/quit', '/quit')
      await press(screen, KEY.enter)
      await screen.exited
      assert.equal(port.listening, 0)

      port = new FakePort()
      start()
      await frameWith(screen, 'fine, thanks')
      await press(screen, KEY.ctrlC)
      await screen.exited
    })

    for (const [columns, rows] of [[80, 24], [120, 40]] as const) {
      it(`fits a ${columns}×${rows} terminal on every screen`, async () => {
        port.pages.bob = [
          ...port.pages.bob!,
          message('b3', 'bob', 'a rather long message that has to wrap over several lines in the pane, zażółć gęślą jaźń, привет 👋 — and a little more text to be sure it wraps', { sentAt: T0 + 3_000 }),
          message('b4', ME, 'x'.repeat(300), { peer: 'bob', sentAt: T0 + 4_000, status: 'delivered' })
        ]
        port.list.push(entry('someone_with_a_really_long_name', { online: true, unread: 120 }))
        start(columns, rows)
        const check = (f: string): void => { assertFits(f, columns, rows) }
        check(await frameWith(screen, 'fine, thanks', 'wrap'))
        check(await type(screen, 'a draft that is long enough to be cut or wrapped in the composer at the bottom of the screen '.repeat(2), 'a draft'))
        await press(screen, KEY.enter)
        await until(() => port.sent.length === 1, 'send')
        check(await type(screen, '/help', '/help'))
        check(await type(screen, KEY.enter, 'Commands'))
        check(await type(screen, KEY.esc, 'fine, thanks'))
        check(await type(screen, '/users', '/users'))
        check(await type(screen, KEY.enter, 'Users ('))
        check(await type(screen, KEY.esc, 'fine, thanks'))
        port.emit({ type: 'message', message: message('z1', 'someone_with_a_really_long_name', 'hey', { sentAt: T0 + 9_000 }) })
        check(await frameWith(screen, 'new message from someone_with'))
        port.emit({ type: 'connection', state: 'reconnecting' })
        check(await frameWith(screen, 'reconnecting'))
        // a long error stays on the status line, cut to fit
        await type(screen, '/msg Not_A_Valid_Name', '/msg Not_A_Valid_Name')
        const error = await type(screen, KEY.enter, 'invalid username')
        check(error)
        const status = lines(error).at(-1)!
        assert.ok(status.includes('reconnecting as alice') && status.includes('invalid username'), status)
        check(await type(screen, KEY.tab, 'carol › '))
        for (const f of screen.frames) check(text(f))
      })
    }

    describe('requests, contacts, profiles, rooms (issue 8)', function () {
      let people: PeoplePort

      beforeEach(() => {
        people = new PeoplePort()
        port = people
      })

      /** Types a slash command and presses Enter. */
      async function command (line: string): Promise<void> {
        await type(screen, line, line)
        await press(screen, KEY.enter)
      }

      it('lists requests above the conversations: incoming with first line and time, outgoing waiting', async () => {
        people.pending = [
          { user: 'dave', direction: 'incoming', text: 'hi alice, dave here\nsecond line', at: T0 + 60_000 },
          { user: 'erin', direction: 'outgoing', at: T0 }
        ]
        start()
        const f = await frameWith(screen, 'Requests', '» dave', clock(T0 + 60_000), 'hi alice, dave here', '… erin', 'waiting', 'fine, thanks')
        assert.ok(!f.includes('second line'), f)
        assert.ok(f.includes('a✓ d✗'), f)
        assert.ok(f.indexOf('» dave') < f.indexOf('● bob'), f)
      })

      it('a request that arrives shows at once; Esc, ↑ onto it and a accepts it', async () => {
        start()
        await frameWith(screen, 'fine, thanks')
        port.emit({ type: 'chat', chat: directChat('dave', 'pending', 'dave', { text: 'hello from dave' }) })
        let f = await frameWith(screen, '» dave', 'hello from dave')
        assert.ok(lastLine(f).includes('dave asks to chat: hello from dave'), lastLine(f))
        await type(screen, KEY.esc, 'bob › type a message')
        // on the request: dave's chat is open, and the composer says how to answer
        f = await type(screen, KEY.up, 'dave › ')
        assert.ok(composer(f).startsWith('dave asks to chat: “hello from dave” — Esc, then a to accept'), composer(f))
        await press(screen, 'a')
        await until(() => people.callsOf('accept').length === 1, 'accept')
        assert.deepEqual(people.callsOf('accept'), [['dave']])
        f = await frameWithout(screen, 'Requests')
        // the cursor stays on dave, now a chat like any other, and the a was not typed
        assert.match(f, /○ dave/)
        assert.equal(composer(f), 'type a message, /help for commands')
        assert.ok(lastLine(f).includes('you and dave can chat now'), lastLine(f))
        f = await type(screen, 'x', 'dave › x')
        assert.equal(composer(f), 'x')
        assert.deepEqual(people.callsOf('decline'), [])
      })

      it('d declines the request under the cursor; the chat then says so', async () => {
        people.pending = [{ user: 'dave', direction: 'incoming', at: T0 }]
        start()
        await frameWith(screen, '» dave', 'fine, thanks')
        await type(screen, KEY.esc, 'bob › type a message')
        await type(screen, KEY.up, 'dave › dave asks to chat')
        await press(screen, 'd')
        await until(() => people.callsOf('decline').length === 1, 'decline')
        const f = await frameWithout(screen, 'Requests')
        assert.equal(composer(f), 'you declined dave — /request dave to chat after all')
        assert.ok(lastLine(f).includes('declined dave\'s chat request'), lastLine(f))
        assert.deepEqual(people.callsOf('accept'), [])
      })

      it('a and d elsewhere in the list start a message, as before', async () => {
        people.pending = [{ user: 'dave', direction: 'incoming', at: T0 }]
        start()
        await frameWith(screen, '» dave', 'fine, thanks')
        await type(screen, KEY.esc, 'bob › type a message')
        const f = await type(screen, 'a', 'bob › a')
        assert.equal(composer(f), 'a')
        assert.deepEqual(people.calls.filter(c => c[0] === 'accept' || c[0] === 'decline'), [])
      })

      it('/accept and /decline answer the open request, the only one, or the one named', async () => {
        people.pending = [{ user: 'dave', direction: 'incoming', at: T0 + 1 }, { user: 'erin', direction: 'incoming', at: T0 }]
        start()
        await frameWith(screen, '» dave', '» erin', 'fine, thanks')
        // two wait and none is open: which one?
        await command('/accept')
        let f = await frameWith(screen, 'no chat request to accept here: /accept <user>')
        assert.ok(lastLine(f).includes('no chat request to accept'), lastLine(f))
        await command('/decline erin')
        await until(() => people.callsOf('decline').length === 1, 'decline erin')
        assert.deepEqual(people.callsOf('decline'), [['erin']])
        await frameWithout(screen, '» erin')
        // now dave's is the only one
        await command('/accept')
        await until(() => people.callsOf('accept').length === 1, 'accept dave')
        assert.deepEqual(people.callsOf('accept'), [['dave']])
        f = await frameWithout(screen, 'Requests')
        assert.ok(f.includes('bob › '), f)
      })

      it('a chat that is not accepted says why in the composer; /request asks again, and it opens when accepted', async () => {
        people.chats.carol = directChat('carol', 'closed', 'carol')
        start()
        await frameWith(screen, 'fine, thanks')
        let f = await type(screen, KEY.tab, 'carol › ', 'are you there?')
        f = await frameWhere(screen, g => composer(g).startsWith('closed by carol'), 'the composer saying why')
        assert.equal(composer(f), 'closed by carol — /request carol to ask again')
        await command('/request carol let us  talk again')
        await until(() => people.callsOf('request').length === 1, 'request')
        assert.deepEqual(people.callsOf('request'), [['carol', 'let us  talk again']])
        f = await frameWith(screen, '… carol', 'waiting', 'asked carol to chat')
        assert.equal(composer(f), 'waiting for carol to accept your chat request')
        port.emit({ type: 'chat', chat: directChat('carol', 'accepted', 'carol') })
        f = await frameWith(screen, 'carol accepted your chat request')
        assert.ok(!f.includes('Requests'), f)
        assert.equal(composer(f), 'type a message, /help for commands')
      })

      it('a chat never asked for says how to ask', async () => {
        start()
        await frameWith(screen, 'fine, thanks')
        await command('/msg zed')
        const f = await frameWhere(screen, g => composer(g).startsWith('no chat'), 'the composer saying why')
        assert.equal(composer(f), 'no chat with zed yet — /request zed [text] to ask')
      })

      it('/close closes the open chat, or the one named; in a room it says how to leave', async () => {
        start()
        await frameWith(screen, 'fine, thanks')
        await command('/close')
        await until(() => people.callsOf('closeChat').length === 1, 'close')
        assert.deepEqual(people.callsOf('closeChat'), [['bob']])
        let f = await frameWith(screen, 'closed the chat with bob')
        assert.equal(composer(f), 'you closed this chat — /request bob to open it again')
        await type(screen, KEY.tab, 'carol › ')
        await type(screen, KEY.tab, '#global › ')
        await command('/close')
        f = await frameWith(screen, '/close closes a direct chat')
        assert.ok(lastLine(f).includes('/close closes a direct chat'), lastLine(f))
        await command('/close carol')
        await until(() => people.callsOf('closeChat').length === 2, 'close carol')
        assert.deepEqual(people.callsOf('closeChat')[1], ['carol'])
      })

      it('/contacts lists contacts with presence and name, live; /contacts add and remove', async () => {
        people.contactList = [
          { user: 'bob', online: true, lastSeen: null, name: 'Bob Builder', status: 'at work', addedAt: T0 },
          { user: 'carol', online: false, lastSeen: null, name: '', status: '', addedAt: T0 }
        ]
        start()
        await frameWith(screen, 'fine, thanks')
        await command('/contacts')
        let f = await frameWith(screen, 'Contacts (1 of 2 online)', '● bob Bob Builder — at work', '○ carol')
        assert.ok(!f.includes('fine, thanks'), f)
        port.emit({ type: 'presence', user: 'carol', online: true, lastSeen: null, at: T0 })
        await frameWith(screen, 'Contacts (2 of 2 online)', '● carol')
        port.emit({ type: 'profile', profile: profileOf('carol', { name: 'Carol C', status: 'hi' }) })
        await frameWith(screen, '● carol Carol C — hi')
        await type(screen, KEY.esc, 'fine, thanks')
        await command('/contacts add dave')
        await until(() => people.callsOf('addContact').length === 1, 'add')
        assert.deepEqual(people.callsOf('addContact'), [['dave']])
        await frameWith(screen, 'dave is in your contacts now')
        await command('/contacts')
        f = await frameWith(screen, 'Contacts (', 'dave')
        await type(screen, KEY.esc, 'fine, thanks')
        await command('/contacts remove dave')
        await until(() => people.callsOf('removeContact').length === 1, 'remove')
        await frameWith(screen, 'dave is no longer in your contacts')
        // a contact removed on another device leaves the list too
        port.emit({ type: 'contact', user: 'carol', added: false })
        await command('/contacts')
        f = await frameWith(screen, 'Contacts (')
        assert.ok(!/[●○] dave/.test(f), f)
      })

      it('/profile shows the pane beside the chat on a wide terminal, follows the selection, and updates live', async () => {
        people.profiles.bob = profileOf('bob', { name: 'Bob Builder', status: 'at work', about: 'builds things', updatedAt: T0 })
        start(120, 30)
        await frameWith(screen, 'fine, thanks')
        await command('/profile')
        let f = await frameWith(screen, 'Bob Builder', 'at work', 'builds things', 'updated', '● online')
        // beside the chat, not over it
        assert.ok(f.includes('fine, thanks'), f)
        assert.ok(columnOf(f, 'Bob Builder') > columnOf(f, 'hi alice'), f)
        assertFits(f, 120, 30)
        port.emit({ type: 'profile', profile: profileOf('bob', { name: 'Bob Builder', status: 'gone fishing', about: 'builds things', updatedAt: T0 + 1 }) })
        await frameWith(screen, 'gone fishing')
        f = await type(screen, KEY.tab, 'carol › ', 'no name set')
        assert.ok(people.callsOf('profile').some(c => c[0] === 'carol'), JSON.stringify(people.calls))
        await command('/profile')
        f = await frameWithout(screen, 'no name set')
        assert.ok(f.includes('are you there?'), f)
      })

      it('/profile on a narrow terminal takes the chat’s place; Esc closes it', async () => {
        people.profiles.bob = profileOf('bob', { name: 'Bob Builder' })
        start(80, 24)
        await frameWith(screen, 'fine, thanks')
        await command('/profile')
        const f = await frameWith(screen, 'Bob Builder', 'Esc to close')
        assert.ok(!f.includes('fine, thanks'), f)
        assertFits(f, 80, 24)
        await type(screen, KEY.esc, 'fine, thanks')
        assert.ok(!text(screen.lastFrame()).includes('Bob Builder'))
        // the composer has the keys again
        const typed = await type(screen, 'still here', 'still here')
        assert.equal(composer(typed), 'still here')
      })

      it('/profile set changes this account’s profile; /profile <user> shows anyone’s', async () => {
        start(120, 30)
        await frameWith(screen, 'fine, thanks')
        await command('/profile set status out for  lunch')
        await until(() => people.callsOf('setProfile').length === 1, 'setProfile')
        assert.deepEqual(people.callsOf('setProfile'), [[{ status: 'out for  lunch' }]])
        await frameWith(screen, 'your status is updated')
        await command(`/profile ${ME}`)
        await frameWith(screen, `${ME} (you)`, 'out for  lunch')
        await command('/profile carol')
        const f = await frameWith(screen, 'no name set')
        assert.ok(!f.includes(`${ME} (you)`), f)
        // the open chat is still bob's
        assert.ok(f.includes('bob › '), f)
      })

      it('joined rooms are listed; /join opens one, /leave goes back to #global, and a room left elsewhere goes', async () => {
        people.roomList = [roomInfo('global'), roomInfo('lounge'), roomInfo('plaza', { joined: false })]
        start()
        let f = await frameWith(screen, '# lounge', 'fine, thanks')
        assert.ok(!f.includes('plaza'), f)
        await command('/join #den')
        await until(() => people.callsOf('joinRoom').length === 1, 'join')
        assert.deepEqual(people.callsOf('joinRoom'), [['den']])
        f = await frameWith(screen, '#den › ', '# den', 'joined #den')
        await command('/leave')
        await until(() => people.callsOf('leaveRoom').length === 1, 'leave')
        assert.deepEqual(people.callsOf('leaveRoom'), [['den']])
        f = await frameWith(screen, '#global › ', 'left #den')
        assert.ok(!f.includes('# den'), f)
        port.emit({ type: 'room', room: roomInfo('lounge', { joined: false }) })
        await frameWithout(screen, '# lounge')
        // /leave in a direct chat needs a room
        await type(screen, KEY.tab, ' › ')
        await command('/leave')
        await frameWith(screen, '/leave leaves a room')
      })

      it('/room create, /invite to the open room and /room members', async () => {
        people.memberList = [{ user: ME, online: true, owner: true }, { user: 'bob', online: false, owner: false }]
        start()
        await frameWith(screen, 'fine, thanks')
        await command('/invite carol')
        await frameWith(screen, '/invite needs a room')
        await command('/room create den --private')
        await until(() => people.callsOf('createRoom').length === 1, 'create')
        assert.deepEqual(people.callsOf('createRoom'), [['den', { private: true }]])
        await frameWith(screen, '#den › ', '# den', 'created the private room #den')
        await command('/invite bob')
        await until(() => people.callsOf('invite').length === 1, 'invite')
        assert.deepEqual(people.callsOf('invite'), [['den', 'bob']])
        await frameWith(screen, 'invited bob to #den')
        await command('/room members')
        const f = await frameWith(screen, '#den: 2 members (1 online)', `● ${ME} (owner)`, '○ bob')
        assert.deepEqual(people.callsOf('members'), [['den']])
        assertFits(f, 100, 30)
        await type(screen, KEY.esc, '#den › ')
        await command('/invite carol #lounge')
        await until(() => people.callsOf('invite').length === 2, 'invite to a named room')
        assert.deepEqual(people.callsOf('invite')[1], ['lounge', 'carol'])
        await command('/room remove bob')
        await until(() => people.callsOf('removeMember').length === 1, 'remove from the open room')
        assert.deepEqual(people.callsOf('removeMember'), [['den', 'bob']])
        await frameWith(screen, 'removed bob from #den')
      })

      it('an error from the client core is one line on the status line', async () => {
        people.pending = [{ user: 'dave', direction: 'incoming', at: T0 }]
        people.failing.accept = new Error('dave withdrew the request\n    at somewhere (file.js:1:1)')
        people.failing.joinRoom = Object.assign(new Error('no room #nowhere'), { name: 'UnknownRoomError' })
        start()
        await frameWith(screen, 'fine, thanks')
        await command('/accept dave')
        let f = await frameWith(screen, 'dave withdrew the request')
        assert.ok(lastLine(f).includes('dave withdrew the request'), lastLine(f))
        assert.ok(!f.includes('somewhere'), f)
        // nothing changed
        assert.ok(f.includes('» dave'), f)
        await command('/join nowhere')
        f = await frameWith(screen, 'no room #nowhere')
        assert.ok(!f.includes('# nowhere'), f)
      })

      it('a client without these methods says so', async () => {
        port = new FakePort()
        start()
        await frameWith(screen, 'fine, thanks')
        await command('/contacts')
        await frameWith(screen, 'this client cannot show contacts')
        await command('/request bob')
        await frameWith(screen, 'this client cannot ask to chat')
        await command('/join den')
        await frameWith(screen, 'this client cannot use rooms')
      })

      for (const [columns, rows] of [[80, 24], [120, 40]] as const) {
        it(`fits a ${columns}×${rows} terminal with requests, contacts, members and the profile`, async () => {
          people.pending = Array.from({ length: 8 }, (_, i): ChatRequest => ({ user: `someone_${i}_with_a_long_name`, direction: i % 3 === 2 ? 'outgoing' : 'incoming', text: 'a long first line of a request that is cut to fit 👋 привет', at: T0 + i }))
          people.contactList = Array.from({ length: 40 }, (_, i): Contact => ({ user: `contact${i}`, online: i % 2 === 0, lastSeen: T0, name: 'A Name That Is Rather Long Indeed', status: 'a status that goes on and on and on and on', addedAt: T0 }))
          people.memberList = Array.from({ length: 40 }, (_, i) => ({ user: `member${i}`, online: i % 2 === 0, owner: i === 0 }))
          people.profiles.bob = profileOf('bob', { name: 'Bob', status: 'x'.repeat(60), about: 'word '.repeat(100), updatedAt: T0 })
          start(columns, rows)
          const check = (f: string): void => { assertFits(f, columns, rows) }
          check(await frameWith(screen, 'Requests', 'fine, thanks'))
          check(await type(screen, KEY.esc, 'bob › '))
          check(await type(screen, KEY.up, 'someone_'))
          check(await type(screen, 'x', ' › x'))
          await press(screen, '\u007f')
          check(await type(screen, '/contacts', '/contacts'))
          check(await type(screen, KEY.enter, 'Contacts ('))
          check(await type(screen, KEY.esc, ' › '))
          await command('/join den')
          check(await frameWith(screen, '#den › '))
          await command('/room members')
          check(await frameWith(screen, '#den: 40 members'))
          check(await type(screen, KEY.esc, '#den › '))
          await command('/profile bob')
          check(await frameWith(screen, 'Bob'))
          for (const f of screen.frames) check(text(f))
        })
      }
    })
  })
})
