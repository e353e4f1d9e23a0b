/**
 * Pure helpers for chat requests, direct-chat standing, contacts and rooms on the chat screen
 * (issue 8). The reducer in state.ts calls them; components use the text ones.
 */
import type { ChatRequest, ChatStateName, DirectChat } from './port.js'

/** Where a direct chat stands, as far as the screen knows (a pending request counts). */
export interface Standing {
  state: ChatStateName
  /** Who made the last change (the requester while pending). */
  by: string | null
  /** The request's text, while pending. */
  text?: string
}

/** Incoming before outgoing (they wait for an answer from here), newest first in each. */
export function sortRequests (list: ChatRequest[]): ChatRequest[] {
  return [...list].sort((a, b) => (Number(b.direction === 'incoming') - Number(a.direction === 'incoming')) || (b.at - a.at) || a.user.localeCompare(b.user))
}

/** The pending requests after a chat changed: its request is added, replaced or dropped. */
export function requestsAfter (me: string, requests: ChatRequest[], chat: DirectChat): ChatRequest[] {
  const rest = requests.filter(r => r.user !== chat.user)
  if (chat.state !== 'pending') return rest
  const request: ChatRequest = {
    user: chat.user,
    direction: chat.by === me ? 'outgoing' : 'incoming',
    ...(chat.text == null ? {} : { text: chat.text }),
    at: chat.at ?? 0
  }
  return sortRequests([...rest, request])
}

/** The standing of the chat with `user`: a pending request wins over an older known state. */
export function standingOf (me: string, requests: ChatRequest[], chats: Record<string, DirectChat>, user: string): Standing | null {
  const request = requests.find(r => r.user === user)
  if (request != null) return { state: 'pending', by: request.direction === 'incoming' ? user : me, ...(request.text == null ? {} : { text: request.text }) }
  const chat = chats[user]
  if (chat == null) return null
  return { state: chat.state, by: chat.by, ...(chat.text == null ? {} : { text: chat.text }) }
}

/** The first line of a request's text, for one-line places. */
export function firstLine (text: string | undefined): string {
  return (text ?? '').split('\n')[0]?.trim() ?? ''
}

/**
 * Why the direct chat with `user` cannot be written to, and what to do, for the composer; null
 * while it is accepted or its standing is unknown (then a send finds out and says so).
 */
export function chatNote (me: string, user: string, standing: Standing | null): string | null {
  if (standing == null) return null
  const mine = standing.by === me
  switch (standing.state) {
    case 'accepted': return null
    case 'none': return `no chat with ${user} yet — /request ${user} [text] to ask`
    case 'pending': {
      if (mine) return `waiting for ${user} to accept your chat request`
      const line = firstLine(standing.text)
      return `${user} asks to chat${line === '' ? '' : `: “${line}”`} — Esc, then a to accept or d to decline (or /accept, /decline)`
    }
    case 'declined': return mine ? `you declined ${user} — /request ${user} to chat after all` : `${user} declined — /request ${user} to ask again`
    case 'closed': return mine ? `you closed this chat — /request ${user} to open it again` : `closed by ${user} — /request ${user} to ask again`
  }
}

/** A line for the status bar when someone else changed a chat with this account; null otherwise. */
export function chatNotice (me: string, before: Standing | null, chat: DirectChat): string | null {
  if (chat.by == null || chat.by === me) return null
  if (before != null && before.state === chat.state && before.by === chat.by) return null
  switch (chat.state) {
    case 'pending': {
      const line = firstLine(chat.text)
      return `${chat.user} asks to chat${line === '' ? '' : `: ${line}`}`
    }
    case 'accepted': return `${chat.user} accepted your chat request`
    case 'declined': return `${chat.user} declined your chat request`
    case 'closed': return `${chat.user} closed the chat`
    case 'none': return null
  }
}

/** A row of the conversation list: a request (on top) or a conversation. */
export interface ListRowRef {
  target: string
  request: boolean
}
