/**
 * The one hook between the client core and the screen: it turns client events into reducer
 * actions and user intents into client calls. Network calls never block rendering or typing:
 * each runs in the background and reports back as an action.
 */
import { useCallback, useEffect, useReducer, useRef } from 'react'
import { initialState, reduce, sortConversations, targetOfMessage } from './state.js'
import type { ChatPort } from './port.js'
import type { ChatAction, ChatState } from './state.js'

/** Messages fetched per page when a conversation opens or scrolls back. */
export const PAGE_SIZE = 50

export interface ChatIntents {
  select: (target: string) => void
  move: (delta: number) => void
  send: (text: string) => void
  loadOlder: () => void
  /** Reloads the newest page of the open conversation (after scrolling far back). */
  loadLatest: () => void
  scroll: (delta: number) => void
  markRead: () => void
  showUsers: () => void
  dispatch: (action: ChatAction) => void
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

  const select = useCallback((target: string) => {
    dispatch({ type: 'select', target })
    if (stateRef.current.messages[target] == null) loadPage(target)
    // opening a conversation marks what it shows as read
    const entry = stateRef.current.conversations.find(c => c.target === target)
    if (entry != null && entry.unread > 0) port.history.markRead(target).catch(() => {})
  }, [port, loadPage])

  useEffect(() => {
    const off = port.on(ev => {
      switch (ev.type) {
        case 'connection': dispatch({ type: 'connection', state: ev.state }); break
        case 'presence': dispatch({ type: 'presence', user: ev.user, online: ev.online }); break
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
    port.users().then(list => { dispatch({ type: 'users', list: list.map(u => ({ user: u.user, online: u.online })) }) }).catch(() => {})
    return off
  }, [port, fail, select])

  const intents: ChatIntents = {
    select,
    dispatch,
    markRead,
    move: delta => {
      const s = stateRef.current
      if (s.conversations.length === 0) return
      const i = s.conversations.findIndex(c => c.target === s.selected)
      const n = s.conversations.length
      const next = s.conversations[((i < 0 ? 0 : i + delta) % n + n) % n]!
      select(next.target)
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
          dispatch({ type: 'users', list: list.map(u => ({ user: u.user, online: u.online })) })
          dispatch({ type: 'overlay', overlay: 'users' })
        })
        .catch(fail)
    }
  }
  return [state, intents]
}
