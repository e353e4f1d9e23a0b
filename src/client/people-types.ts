/** The shapes the client core gives about chats, requests, contacts, profiles and rooms. */
import type { ProfileInfo, RoomInfo, RoomMember } from '../protocol/index.js'

/**
 * Where a direct chat stands: `none` (never asked), `pending` (asked by `by`, not answered),
 * `accepted` (both may write), `declined` (by `by`), `closed` (by `by`; nobody writes until a new
 * request is accepted).
 */
export type ChatStateName = 'none' | 'pending' | 'accepted' | 'declined' | 'closed'

export interface ChatState {
  /** The other person. */
  user: string
  conv: string
  state: ChatStateName
  /** Who made the last change (the requester while pending); null for `none`. */
  by: string | null
  /** When the last change was made (its sent-at); null for `none`. */
  at: number | null
  /** The text of the request, while pending. */
  text?: string
}

export interface ChatRequest {
  user: string
  /** `incoming`: they asked this account; `outgoing`: this account asked them. */
  direction: 'incoming' | 'outgoing'
  text?: string
  at: number
}

export interface Contact {
  user: string
  /** Null when unknown (the rendezvous node is unreachable). */
  online: boolean | null
  lastSeen: number | null
  /** The display name of their profile ('' when they set none). */
  name: string
  status: string
  addedAt: number
}

export type Profile = ProfileInfo
export type { ProfileInfo, RoomInfo, RoomMember }

/** Profile fields to change; the ones left out keep their value. */
export interface ProfileChange {
  name?: string
  status?: string
  about?: string
}
