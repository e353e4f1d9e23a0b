/**
 * The one hook between the client core and the screen: it turns client events into reducer
 * actions and user intents into client calls. Network calls never block rendering or typing:
 * each runs in the background and reports back as an action.
 */
import { useCallback, useEffect, useReducer, useRef } from 'react'
import { initialState, profileTarget, reduce, sortConversations, stepRow, targetOfMessage } from './state.js'
import type { ChatPort, RoomInfo, UserInfo } from './port.js'
import type { ChatAction, ChatState } from './state.js'

/** Messages fetched per page when a conversation opens or scrolls back. */
export const PAGE_SIZE = 50

export interface ChatIntents {
  /** Opens a conversation; `request`: from its request row in the list. */
  select: (target: string, request?: boolean) => void
  move: (delta: number) => void
  send: (text: string) => void
  loadOlder: () => void
  /** Reloads the newest page of the open conversation (after scrolling far back). */
  loadLatest: () => void
  scroll: (delta: number) => void
  markRead: () => void
  showUsers: () => void
  /** Shows `/contacts`, loaded afresh. */
  showContacts: () => void
  /** Takes a room's news (from a command's answer); a room left that was open closes. */
  room: (room: RoomInfo) => void
  /** One-line error in the status line. */
  fail: (err: unknown) => void
  dispatch: (action: ChatAction) => void
}

function userRow (u: UserInfo): { user: string, online: boolean, lastSeen: number | null } {
  return { user: u.user, online: u.online, lastSeen: u.lastSeen }
}

export function useChat (port: ChatPort): [ChatState, ChatIntents] {
  const [state, dispatch] = useReducer(reduce, undefined, () => initialState(port.user, port.connectionState))
  const stateRef = useRef(state)
  stateRef.current = state
  const fail = useCallback((err: unknown) => {
    dispatch({ type: 'notice', notice: { text: (err as Error).message.split('\n')[0] ?? 'error', kind: 'error' } })
  }, [])

  const loadPage = useCallback((target: string, before?: string) => {
    port.history.page(target, { limit: PAGE_SIZE, ...(before == null ? {} : { before }) })
      .then(page => { dispatch({ type: 'page', target, messages: page.messages, older: before != null, hasMore: page.messages.length === PAGE_SIZE }) })
      .catch(fail)
  }, [port, fail])

  const markRead = useCallback(() => {
    const target = stateRef.current.selected
    if (target == null) return
    const entry = stateRef.current.conversations.find(c => c.target === target)
    if (entry == null || entry.count === 0 || entry.unread === 0) return
    port.history.markRead(target).catch(() => {})
  }, [port])

  const select = useCallback((target: string, request?: boolean) => {
    dispatch({ type: 'select', target, ...(request === true ? { request } : {}) })
    if (stateRef.current.messages[target] == null) loadPage(target)
    // whether the chat is open to messages, so the composer can say why not
    if (!target.startsWith('#') && stateRef.current.chats[target] == null && port.chatState != null) {
      port.chatState(target).then(chat => { dispatch({ type: 'chat', chat }) }).catch(() => {})
    }
    // opening a conversation marks what it shows as read
    const entry = stateRef.current.conversations.find(c => c.target === target)
    if (entry != null && entry.unread > 0) port.history.markRead(target).catch(() => {})
  }, [port, loadPage])

  const room = useCallback((info: RoomInfo) => {
    dispatch({ type: 'room', room: info })
    // the open room was left (here or on another device): #global takes its place
    if (!info.joined && info.room !== 'global' && stateRef.current.selected === `#${info.room}`) select('#global')
  }, [select])

  useEffect(() => {
    const off = port.on(ev => {
      switch (ev.type) {
        case 'connection': dispatch({ type: 'connection', state: ev.state }); break
        case 'presence': dispatch({ type: 'presence', user: ev.user, online: ev.online, lastSeen: ev.lastSeen }); break
        case 'registered': dispatch({ type: 'registered', user: ev.user }); break
        case 'status': dispatch({ type: 'status', id: ev.id, status: ev.status }); break
        case 'unread': dispatch({ type: 'unread', target: ev.target, unread: ev.unread }); break
        case 'message': {
          dispatch({ type: 'message', message: ev.message })
          const target = targetOfMessage(stateRef.current.me, ev.message)
          if (target === stateRef.current.selected && ev.message.from !== stateRef.current.me) {
            port.history.markRead(target).catch(() => {})
          }
          break
        }
        case 'error': fail(new Error(ev.error.message)); break
        case 'chat': dispatch({ type: 'chat', chat: ev.chat, news: true }); break
        case 'profile': dispatch({ type: 'profile', profile: ev.profile }); break
        case 'room': room(ev.room); break
        case 'contact':
          if (!ev.added) dispatch({ type: 'contact-removed', user: ev.user })
          // an added contact comes with presence and profile name: load the list afresh
          else port.contacts?.().then(list => { dispatch({ type: 'contacts', list }) }).catch(() => {})
          break
        case 'file': dispatch({ type: 'file', file: ev.file }); break
        case 'disabled':
          dispatch({ type: 'notice', notice: { text: ev.disabled ? `${ev.user}'s account was disabled` : `${ev.user}'s account was enabled again`, kind: 'info' } })
          break
      }
    })
    dispatch({ type: 'connection', state: port.connectionState })
    port.conversations()
      .then(list => {
        dispatch({ type: 'conversations', list })
        // open the most recent conversation, unless the person already picked one
        if (stateRef.current.selected == null) select(sortConversations(list)[0]?.target ?? '#global')
      })
      .catch(err => { fail(err); if (stateRef.current.selected == null) select('#global') })
    port.users().then(list => { dispatch({ type: 'users', list: list.map(userRow) }) }).catch(() => {})
    port.requests?.().then(list => { dispatch({ type: 'requests', list }) }).catch(fail)
    // like the users, rooms need the rendezvous node: without it the list starts with #global
    port.rooms?.().then(list => { dispatch({ type: 'rooms', list }) }).catch(() => {})
    // file offers already seen, so their cards show what became of them (issue 9)
    port.files?.().then(list => { dispatch({ type: 'files', list }) }).catch(() => {})
    return off
  }, [port, fail, select, room])

  // the profile pane loads whom it shows afresh (events keep it live while it is open)
  const profileUser = state.profile.open ? profileTarget(state) : null
  useEffect(() => {
    if (profileUser == null || port.profile == null) return
    port.profile(profileUser === stateRef.current.me ? undefined : profileUser)
      .then(profile => { dispatch({ type: 'profile', profile }) })
      .catch(fail)
  }, [port, fail, profileUser])

  const intents: ChatIntents = {
    select,
    dispatch,
    markRead,
    fail,
    room,
    move: delta => {
      const next = stepRow(stateRef.current, delta)
      if (next != null) select(next.target, next.request)
    },
    send: text => {
      const target = stateRef.current.selected
      if (target == null) { fail(new Error('open a conversation first (Tab, or /msg <user>)')); return }
      port.send(target, text).catch(fail)
    },
    loadOlder: () => {
      const s = stateRef.current
      const target = s.selected
      if (target == null) return
      const loaded = s.messages[target] ?? []
      if (s.hasMore[target] === true && loaded[0] != null) loadPage(target, loaded[0].id)
    },
    loadLatest: () => {
      const target = stateRef.current.selected
      if (target != null) loadPage(target)
    },
    scroll: delta => {
      const target = stateRef.current.selected
      if (target != null) dispatch({ type: 'scroll', target, delta })
    },
    showUsers: () => {
      port.users()
        .then(list => {
          dispatch({ type: 'users', list: list.map(userRow) })
          dispatch({ type: 'overlay', overlay: 'users' })
        })
        .catch(fail)
    },
    showContacts: () => {
      if (port.contacts == null) { fail(new Error('this client cannot show contacts')); return }
      port.contacts()
        .then(list => {
          dispatch({ type: 'contacts', list })
          dispatch({ type: 'overlay', overlay: 'contacts' })
        })
        .catch(fail)
    }
  }
  return [state, intents]
}
