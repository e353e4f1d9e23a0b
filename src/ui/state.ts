/**
 * The chat screen's state as a pure reducer (STYLE.md): client events and user intents are
 * actions; components only render the state and dispatch.
 */
import type { ChatMessage, ConnectionState, ConversationEntry } from './port.js'
import type { Focus } from './keys.js'

export type Overlay = 'help' | 'users' | null

export interface Notice {
  text: string
  kind: 'info' | 'error'
}

export interface UserRow {
  user: string
  online: boolean
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
}

export type ChatAction =
  | { type: 'connection', state: ConnectionState }
  | { type: 'conversations', list: ConversationEntry[] }
  | { type: 'users', list: UserRow[] }
  | { type: 'presence', user: string, online: boolean }
  | { type: 'registered', user: string }
  | { type: 'message', message: ChatMessage }
  | { type: 'status', id: string, status: NonNullable<ChatMessage['status']> }
  | { type: 'unread', target: string, unread: number }
  | { type: 'select', target: string }
  | { type: 'move', delta: number }
  | { type: 'page', target: string, messages: ChatMessage[], older: boolean, hasMore: boolean }
  | { type: 'scroll', target: string, delta: number }
  | { type: 'notice', notice: Notice | null }
  | { type: 'overlay', overlay: Overlay }
  | { type: 'focus', focus: Focus }

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
    overlay: null
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
      const merged = [...list]
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
      const users = state.users.some(u => u.user === action.user)
        ? state.users.map(u => u.user === action.user ? { ...u, online: action.online } : u)
        : [...state.users, { user: action.user, online: action.online }].sort((a, b) => a.user.localeCompare(b.user))
      return {
        ...state,
        presence: { ...state.presence, [action.user]: action.online },
        users,
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
      const conversations = state.conversations.some(c => c.target === action.target) ? state.conversations : withEntry(state, action.target, e => e)
      return { ...state, selected: action.target, conversations, overlay: null }
    }
    case 'move': {
      if (state.conversations.length === 0) return state
      const i = state.conversations.findIndex(c => c.target === state.selected)
      const n = state.conversations.length
      const next = state.conversations[((i < 0 ? 0 : i + action.delta) % n + n) % n]!
      return { ...state, selected: next.target }
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
  }
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
