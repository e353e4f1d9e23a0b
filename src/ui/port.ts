/**
 * What the chat screen needs of the client core. MeshClient provides it; tests hand the
 * components a fake. The UI imports only these types from the client (DESIGN.md: ui → client).
 */
import type { ChatMessage, ClientEvent, ConnectionState, ConversationEntry, HistoryPage, SendResult } from '../client/index.js'
import type { UserInfo } from '../protocol/index.js'

export interface ChatPort {
  readonly user: string
  readonly connectionState: ConnectionState
  on: (listener: (ev: ClientEvent) => void) => () => void
  conversations: () => Promise<ConversationEntry[]>
  users: () => Promise<UserInfo[]>
  send: (to: string, text: string) => Promise<SendResult>
  /** Round trip to the node (no user) or to each online device of a user, direct or relayed. */
  ping?: (user?: string) => Promise<Array<{ target: string, rttMs: number, path: 'direct' | 'relayed' }>>
  history: {
    page: (target: string, options?: { limit?: number, before?: string }) => Promise<HistoryPage>
    markRead: (target: string, id?: string) => Promise<unknown>
  }
}

export type { ChatMessage, ClientEvent, ConnectionState, ConversationEntry, HistoryPage, UserInfo }
