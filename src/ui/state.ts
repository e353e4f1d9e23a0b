/**
 * The chat screen's state as a pure reducer (STYLE.md): client events and user intents are
 * actions; components only render the state and dispatch.
 */
import { chatNotice, requestsAfter, sortRequests, standingOf } from './people.js'
import type { ChatMessage, ChatRequest, ConnectionState, Contact, ConversationEntry, DirectChat, FileEntry, Profile, RoomInfo, RoomMember } from './port.js'
import type { PendingSend } from './files.js'
import type { Focus } from './keys.js'
import type { ListRowRef } from './people.js'

export type Overlay = 'help' | 'users' | 'contacts' | 'members' | 'files' | null

export interface Notice {
  text: string
  kind: 'info' | 'error'
}

export interface UserRow {
  user: string
  online: boolean
  /** When the account was last online, when known. */
  lastSeen?: number | null
}

/** The profile pane (issue 8): shown or not, and whose (null: the person of the open chat). */
export interface ProfilePane {
  open: boolean
  user: string | null
}

export interface ChatState {
  me: string
  connection: ConnectionState
  /** Sorted: newest activity first, then people online before those offline. */
  conversations: ConversationEntry[]
  /** Presence by username, kept live from events. */
  presence: Record<string, boolean>
  users: UserRow[]
  selected: string | null
  focus: Focus
  /** Loaded messages per target, oldest first. */
  messages: Record<string, ChatMessage[]>
  /** Whether older pages may exist, per target. */
  hasMore: Record<string, boolean>
  /**
   * The loaded window was cut at its newest end to make room for older pages: live messages
   * are not added to it, and scrolling back down reloads the newest page.
   */
  detached: Record<string, boolean>
  /** How many messages up from the newest the view is scrolled, per target. */
  scroll: Record<string, number>
  notice: Notice | null
  overlay: Overlay
  /** Pending chat requests: incoming first, then outgoing, newest first in each. */
  requests: ChatRequest[]
  /** The list cursor is on the request row of `selected`, not on a conversation. */
  onRequest: boolean
  /** Where each direct chat the screen has heard of stands, by user. */
  chats: Record<string, DirectChat>
  /** This account's contacts, as last loaded (`/contacts`), kept live from events. */
  contacts: Contact[]
  /** Profiles loaded so far, by user, kept live from events. */
  profiles: Record<string, Profile>
  profile: ProfilePane
  /** Rooms the screen has heard of, by name without `#`. */
  rooms: Record<string, RoomInfo>
  /** The member list `/room members` shows. */
  members: { room: string, list: RoomMember[] } | null
  /** File offers and their transfers here, by offer message id, kept live from events (issue 9). */
  files: Record<string, FileEntry>
  /** `/send`s still being hashed, by local key: shown as cards until their offer is a message. */
  sends: Record<string, PendingSend>
}

export type ChatAction =
  | { type: 'connection', state: ConnectionState }
  | { type: 'conversations', list: ConversationEntry[] }
  | { type: 'users', list: UserRow[] }
  | { type: 'presence', user: string, online: boolean, lastSeen?: number | null }
  | { type: 'registered', user: string }
  | { type: 'message', message: ChatMessage }
  | { type: 'status', id: string, status: NonNullable<ChatMessage['status']> }
  | { type: 'unread', target: string, unread: number }
  /** Opens a conversation; `request`: from its request row (the row stays highlighted). */
  | { type: 'select', target: string, request?: boolean }
  | { type: 'move', delta: number }
  | { type: 'page', target: string, messages: ChatMessage[], older: boolean, hasMore: boolean }
  | { type: 'scroll', target: string, delta: number }
  | { type: 'notice', notice: Notice | null }
  | { type: 'overlay', overlay: Overlay }
  | { type: 'focus', focus: Focus }
  | { type: 'requests', list: ChatRequest[] }
  /** A direct chat's standing; `news`: it came as an event, so what someone else did is told. */
  | { type: 'chat', chat: DirectChat, news?: boolean }
  | { type: 'contacts', list: Contact[] }
  | { type: 'contact-removed', user: string }
  | { type: 'profile', profile: Profile }
  | { type: 'profile-pane', pane: ProfilePane }
  | { type: 'rooms', list: RoomInfo[] }
  | { type: 'room', room: RoomInfo }
  | { type: 'members', room: string, list: RoomMember[] }
  /** A file offer's transfer moved or changed state. */
  | { type: 'file', file: FileEntry }
  /** Every file offer, as the client listed them. */
  | { type: 'files', list: FileEntry[] }
  /** A `/send` started or hashed further (`send` replaces what was known of it). */
  | { type: 'send-progress', send: PendingSend }
  /** A `/send` was offered or failed: its card gives way to the offer's message, or goes. */
  | { type: 'send-end', key: string }

/** Loaded messages kept per conversation; older ones are dropped and re-read when scrolled to. */
export const MAX_LOADED = 2_000

export function initialState (me: string, connection: ConnectionState): ChatState {
  return {
    me,
    connection,
    conversations: [placeholder('#global', 'room', null)],
    presence: {},
    users: [],
    selected: null,
    focus: 'composer',
    messages: {},
    hasMore: {},
    detached: {},
    scroll: {},
    notice: null,
    overlay: null,
    requests: [],
    onRequest: false,
    chats: {},
    contacts: [],
    profiles: {},
    profile: { open: false, user: null },
    rooms: {},
    members: null,
    files: {},
    sends: {}
  }
}

function placeholder (target: string, kind: 'dm' | 'room', online: boolean | null): ConversationEntry {
  return { conv: '', target, kind, lastActivity: 0, lastAuthor: '', lastText: '', unread: 0, count: 0, online }
}

export function sortConversations (list: ConversationEntry[]): ConversationEntry[] {
  return [...list].sort((a, b) => (b.lastActivity - a.lastActivity) || (Number(b.online === true) - Number(a.online === true)) || a.target.localeCompare(b.target))
}

/** The target (`bob`, `#global`) of a message, from `me`'s side. */
export function targetOfMessage (me: string, m: ChatMessage): string {
  if (m.room != null) return `#${m.room}`
  return m.peer ?? (m.from === me ? '' : m.from)
}

function withEntry (state: ChatState, target: string, change: (e: ConversationEntry) => ConversationEntry): ConversationEntry[] {
  const found = state.conversations.find(c => c.target === target)
  const base = found ?? placeholder(target, target.startsWith('#') ? 'room' : 'dm', target.startsWith('#') ? null : (state.presence[target] ?? null))
  const rest = state.conversations.filter(c => c.target !== target)
  return sortConversations([...rest, change(base)])
}

export function reduce (state: ChatState, action: ChatAction): ChatState {
  switch (action.type) {
    case 'connection':
      return { ...state, connection: action.state }
    case 'conversations': {
      const list = action.list.map(c => c.kind === 'dm' && state.presence[c.target] != null ? { ...c, online: state.presence[c.target]! } : c)
      // a room this account left keeps its history, but leaves the list
      const merged = list.filter(c => !leftRoom(state, c.target))
      // keep entries opened here that have no message yet (#global, /msg)
      for (const c of state.conversations) if (!merged.some(m => m.target === c.target)) merged.push(c)
      return { ...state, conversations: sortConversations(merged) }
    }
    case 'users': {
      const presence = { ...state.presence }
      for (const u of action.list) presence[u.user] = u.online
      return { ...state, users: action.list, presence, conversations: sortConversations(state.conversations.map(c => c.kind === 'dm' && presence[c.target] != null ? { ...c, online: presence[c.target]! } : c)) }
    }
    case 'presence': {
      const seen = action.lastSeen === undefined ? {} : { lastSeen: action.lastSeen }
      const users = state.users.some(u => u.user === action.user)
        ? state.users.map(u => u.user === action.user ? { ...u, online: action.online, ...seen } : u)
        : [...state.users, { user: action.user, online: action.online, ...seen }].sort((a, b) => a.user.localeCompare(b.user))
      return {
        ...state,
        presence: { ...state.presence, [action.user]: action.online },
        users,
        contacts: state.contacts.map(c => c.user === action.user ? { ...c, online: action.online, ...seen } : c),
        conversations: sortConversations(state.conversations.map(c => c.kind === 'dm' && c.target === action.user ? { ...c, online: action.online } : c))
      }
    }
    case 'registered':
      if (state.users.some(u => u.user === action.user)) return state
      return { ...state, users: [...state.users, { user: action.user, online: false }].sort((a, b) => a.user.localeCompare(b.user)) }
    case 'message': {
      const m = action.message
      const target = targetOfMessage(state.me, m)
      if (target === '') return state
      const mine = m.from === state.me
      const open = state.selected === target
      const loaded = state.messages[target]
      const messages = loaded == null || state.detached[target] === true || loaded.some(x => x.id === m.id)
        ? state.messages
        : { ...state.messages, [target]: insertSorted(loaded, m).slice(-MAX_LOADED) }
      const conversations = withEntry(state, target, e => ({
        ...e,
        conv: m.conv,
        lastActivity: Math.max(e.lastActivity, m.sentAt),
        lastAuthor: m.from,
        lastText: m.text.slice(0, 200),
        count: e.count + 1,
        unread: e.unread + (mine || open ? 0 : 1)
      }))
      const notice = mine || open ? state.notice : { text: `new message from ${m.room == null ? m.from : `${m.from} in #${m.room}`}`, kind: 'info' as const }
      return { ...state, messages, conversations, notice }
    }
    case 'status': {
      const rank = ['sending', 'sent', 'delivered', 'read']
      const messages: Record<string, ChatMessage[]> = {}
      for (const [t, list] of Object.entries(state.messages)) {
        messages[t] = list.map(m => m.id === action.id && rank.indexOf(action.status) > rank.indexOf(m.status ?? 'sending') ? { ...m, status: action.status } : m)
      }
      return { ...state, messages }
    }
    case 'unread':
      return { ...state, conversations: state.conversations.map(c => c.target === action.target ? { ...c, unread: action.unread } : c) }
    case 'select': {
      if (action.request === true && state.requests.some(r => r.user === action.target)) {
        // a request row: the chat with them opens without a conversation row of its own
        return { ...state, selected: action.target, onRequest: true, overlay: null }
      }
      const conversations = state.conversations.some(c => c.target === action.target) ? state.conversations : withEntry(state, action.target, e => e)
      return { ...state, selected: action.target, onRequest: false, conversations, overlay: null }
    }
    case 'move': {
      const next = stepRow(state, action.delta)
      if (next == null) return state
      return { ...state, selected: next.target, onRequest: next.request }
    }
    case 'page': {
      const existing = state.messages[action.target] ?? []
      const ids = new Set(existing.map(m => m.id))
      const fresh = action.messages.filter(m => !ids.has(m.id))
      if (action.older) {
        // scrolling back: keep the older end, cut the newest if over the cap (reloaded on the way down)
        const list = [...fresh, ...existing]
        const cut = Math.max(0, list.length - MAX_LOADED)
        return {
          ...state,
          messages: { ...state.messages, [action.target]: list.slice(0, list.length - cut) },
          hasMore: { ...state.hasMore, [action.target]: action.hasMore },
          detached: cut > 0 ? { ...state.detached, [action.target]: true } : state.detached,
          scroll: cut > 0 ? { ...state.scroll, [action.target]: Math.max(0, (state.scroll[action.target] ?? 0) - cut) } : state.scroll
        }
      }
      if (state.detached[action.target] === true) {
        // back at the newest page: it replaces the window
        return {
          ...state,
          messages: { ...state.messages, [action.target]: [...action.messages].sort(compare).slice(-MAX_LOADED) },
          hasMore: { ...state.hasMore, [action.target]: action.hasMore },
          detached: { ...state.detached, [action.target]: false },
          scroll: { ...state.scroll, [action.target]: 0 }
        }
      }
      return {
        ...state,
        messages: { ...state.messages, [action.target]: mergeSorted(existing, fresh).slice(-MAX_LOADED) },
        hasMore: { ...state.hasMore, [action.target]: action.hasMore }
      }
    }
    case 'scroll': {
      const loaded = state.messages[action.target]?.length ?? 0
      const now = state.scroll[action.target] ?? 0
      const next = Math.max(0, Math.min(Math.max(0, loaded - 1), now + action.delta))
      return { ...state, scroll: { ...state.scroll, [action.target]: next } }
    }
    case 'notice':
      return { ...state, notice: action.notice }
    case 'overlay':
      return { ...state, overlay: action.overlay }
    case 'focus':
      return { ...state, focus: action.focus }
    case 'requests':
      return settleCursor({ ...state, requests: sortRequests(action.list) })
    case 'chat': {
      const c = action.chat
      const before = standingOf(state.me, state.requests, state.chats, c.user)
      const text = action.news === true ? chatNotice(state.me, before, c) : null
      return settleCursor({
        ...state,
        chats: { ...state.chats, [c.user]: c },
        requests: requestsAfter(state.me, state.requests, c),
        notice: text == null ? state.notice : { text, kind: 'info' }
      })
    }
    case 'contacts':
      return { ...state, contacts: [...action.list].sort((a, b) => a.user.localeCompare(b.user)) }
    case 'contact-removed':
      return { ...state, contacts: state.contacts.filter(c => c.user !== action.user) }
    case 'profile': {
      const p = action.profile
      return {
        ...state,
        profiles: { ...state.profiles, [p.user]: p },
        contacts: state.contacts.map(c => c.user === p.user ? { ...c, name: p.name, status: p.status } : c)
      }
    }
    case 'profile-pane':
      return { ...state, profile: action.pane }
    case 'rooms':
      return action.list.reduce(withRoom, state)
    case 'room':
      return withRoom(state, action.room)
    case 'members':
      return { ...state, members: { room: action.room, list: action.list }, overlay: 'members' }
    case 'file':
      return { ...state, files: { ...state.files, [action.file.id]: action.file } }
    case 'files': {
      // an entry an event brought while the list was being read stays
      const files: Record<string, FileEntry> = { ...state.files }
      for (const f of action.list) files[f.id] = f
      return { ...state, files }
    }
    case 'send-progress':
      return { ...state, sends: { ...state.sends, [action.send.key]: action.send } }
    case 'send-end': {
      if (state.sends[action.key] == null) return state
      const { [action.key]: _gone, ...sends } = state.sends
      return { ...state, sends }
    }
  }
}

/** Every row of the conversation list, top to bottom: requests, then conversations. */
export function listRows (state: ChatState): ListRowRef[] {
  return [
    ...state.requests.map(r => ({ target: r.user, request: true })),
    ...state.conversations.map(c => ({ target: c.target, request: false }))
  ]
}

/** The row `delta` rows away from the cursor, wrapping around; the first row when none is selected. */
export function stepRow (state: ChatState, delta: number): ListRowRef | undefined {
  const rows = listRows(state)
  if (rows.length === 0) return undefined
  const i = rows.findIndex(r => r.target === state.selected && r.request === state.onRequest)
  const n = rows.length
  return rows[((i < 0 ? 0 : i + delta) % n + n) % n]
}

/** The person whose profile the pane shows: the one asked for, the open chat's, or this account. */
export function profileTarget (state: ChatState): string {
  if (state.profile.user != null) return state.profile.user
  return state.selected != null && !state.selected.startsWith('#') ? state.selected : state.me
}

/** An incoming request from the person of the open chat, if one waits. */
export function selectedRequest (state: ChatState): ChatRequest | undefined {
  return state.requests.find(r => r.user === state.selected && r.direction === 'incoming')
}

function leftRoom (state: ChatState, target: string): boolean {
  if (!target.startsWith('#') || target === '#global') return false
  return state.rooms[target.slice(1)]?.joined === false
}

/** A room's news: joined rooms are listed like #global, a room left leaves the list. */
function withRoom (state: ChatState, room: RoomInfo): ChatState {
  const next = { ...state, rooms: { ...state.rooms, [room.room]: room } }
  const target = `#${room.room}`
  if (leftRoom(next, target)) return { ...next, conversations: state.conversations.filter(c => c.target !== target) }
  if (room.joined && !state.conversations.some(c => c.target === target)) return { ...next, conversations: withEntry(state, target, e => e) }
  return next
}

/**
 * Once the request under the cursor is answered (here, on another device, or by them), the
 * cursor stays on that person: their chat gets a row of its own in the conversations.
 */
function settleCursor (state: ChatState): ChatState {
  if (!state.onRequest || state.selected == null || state.requests.some(r => r.user === state.selected)) return state
  const conversations = state.conversations.some(c => c.target === state.selected) ? state.conversations : withEntry(state, state.selected, e => e)
  return { ...state, onRequest: false, conversations }
}

function compare (a: ChatMessage, b: ChatMessage): number {
  return (a.sentAt - b.sentAt) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
}

function insertSorted (list: ChatMessage[], m: ChatMessage): ChatMessage[] {
  const out = [...list]
  let i = out.length
  while (i > 0 && compare(out[i - 1]!, m) > 0) i--
  out.splice(i, 0, m)
  return out
}

function mergeSorted (a: ChatMessage[], b: ChatMessage[]): ChatMessage[] {
  return [...a, ...b].sort(compare)
}
