/**
 * Where a direct chat stands, computed from its request, accept, decline and close envelopes.
 * Pure: every device folds the same envelopes in the same order (sent-at, then id) and so
 * reaches the same state, whatever order they arrived in.
 */
import { MAX_CLOCK_SKEW_MS } from '../protocol/index.js'
import type { ChatState } from './people-types.js'

export interface ChatControl {
  id: string
  kind: 'request' | 'accept' | 'decline' | 'close'
  author: string
  sentAt: number
  text?: string
}

export function compareControls (a: Pick<ChatControl, 'sentAt' | 'id'>, b: Pick<ChatControl, 'sentAt' | 'id'>): number {
  if (a.sentAt !== b.sentAt) return a.sentAt - b.sentAt
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0
}

/**
 * Folds `controls` (any order) into the chat's state as `me` sees it with `peer`, counting only
 * those sent at or before `until` when given.
 *
 * - request: opens a pending chat; a request while the other side's is pending accepts it
 *   (both asked); a request in an accepted chat changes nothing
 * - accept / decline: only of a request pending from the other side
 * - close: of an accepted chat, or of a pending request (either side withdraws it)
 */
export function foldChat (conv: string, me: string, peer: string, controls: readonly ChatControl[], until?: number): ChatState {
  let state: ChatState = { user: peer, conv, state: 'none', by: null, at: null }
  const sorted = [...controls].sort(compareControls)
  for (const c of sorted) {
    if (until != null && c.sentAt > until) break
    if (c.author !== me && c.author !== peer) continue
    const base = { user: peer, conv, by: c.author, at: c.sentAt }
    switch (c.kind) {
      case 'request':
        if (state.state === 'accepted') break
        if (state.state === 'pending' && state.by !== c.author) {
          state = { ...base, state: 'accepted' }
        } else {
          state = { ...base, state: 'pending', ...(c.text == null ? {} : { text: c.text }) }
        }
        break
      case 'accept':
        if (state.state === 'pending' && state.by !== c.author) state = { ...base, state: 'accepted' }
        break
      case 'decline':
        if (state.state === 'pending' && state.by !== c.author) state = { ...base, state: 'declined' }
        break
      case 'close':
        if (state.state === 'accepted' || state.state === 'pending') state = { ...base, state: 'closed' }
        break
    }
  }
  return state
}

/**
 * foldChat without `until`, remembered per controls list: a backfill checks 100,000 messages of
 * one chat against the same list (the store hands out one cached, never-changed list per chat
 * until a control is added; a new list is a new key).
 */
const folded = new WeakMap<readonly ChatControl[], Map<string, ChatState>>()
function currentState (conv: string, me: string, peer: string, controls: readonly ChatControl[]): ChatState {
  let byChat = folded.get(controls)
  if (byChat == null) folded.set(controls, byChat = new Map())
  const key = `${conv}\n${me}\n${peer}`
  let state = byChat.get(key)
  if (state == null) byChat.set(key, state = foldChat(conv, me, peer, controls))
  return state
}

/**
 * May a message from `peer`, sent at `sentAt`, be shown?
 * - The chat is accepted now and the message was sent in this open period (its sender may have
 *   seen the acceptance before this device did; clocks may differ by MAX_CLOCK_SKEW_MS). A
 *   stranger's messages from before the acceptance stay out.
 * - Or the chat was accepted when it was sent and it arrived (`arrivedAt`: at this device, or at
 *   the rendezvous node for an archived copy) soon after: it was in flight when the chat closed.
 *   The sender picks `sentAt`, so without the arrival bound a closed chat could be written into
 *   by backdating.
 */
export function admits (conv: string, me: string, peer: string, controls: readonly ChatControl[], sentAt: number, arrivedAt?: number): boolean {
  const now = currentState(conv, me, peer, controls)
  if (now.state === 'accepted' && now.at != null && sentAt >= now.at - MAX_CLOCK_SKEW_MS) return true
  if (arrivedAt == null || arrivedAt - sentAt > MAX_CLOCK_SKEW_MS) return false
  return foldChat(conv, me, peer, controls, sentAt).state === 'accepted'
}

/** The line a person reads when they may not write in the chat, and what to do about it. */
export function whyNotWritable (state: ChatState, me: string): string {
  const peer = state.user
  switch (state.state) {
    case 'none': return `you have no chat with ${peer} yet; ask first: meshchat request ${peer}`
    case 'pending': return state.by === me
      ? `${peer} has not accepted your chat request yet`
      : `${peer} asked to chat with you; accept first: meshchat accept ${peer}`
    case 'declined': return state.by === me
      ? `you declined ${peer}'s chat request; ask them yourself: meshchat request ${peer}`
      : `${peer} declined your chat request; ask again: meshchat request ${peer}`
    case 'closed': return state.by === me
      ? `you closed the chat with ${peer}; open it again: meshchat request ${peer}`
      : `${peer} closed the chat; ask to open it again: meshchat request ${peer}`
    case 'accepted': return `the chat with ${peer} is open`
  }
}
