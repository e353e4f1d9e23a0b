/**
 * What the chat screen needs of the client core. MeshClient provides it; tests hand the
 * components a fake. The UI imports only these types from the client (DESIGN.md: ui → client).
 */
import type { ChatMessage, ChatRequest, ChatState as DirectChat, ChatStateName, ClientEvent, ConnectionState, Contact, ConversationEntry, FileEntry, FileProgress, FileState, GetFileOptions, GetFileResult, HistoryPage, Profile, ProfileChange, RoomInfo, RoomMember, SendFileOptions, SendFileResult, SendResult } from '../client/index.js'
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

  // Chat requests, contacts, profiles and rooms (issue 8). Optional so that a fake may leave out
  // what its test does not use; the screen says so when a command needs one that is missing.

  /** Asks `user` to chat; the request may carry a first line. */
  request?: (user: string, text?: string) => Promise<DirectChat>
  accept?: (user: string) => Promise<DirectChat>
  decline?: (user: string) => Promise<DirectChat>
  closeChat?: (user: string) => Promise<DirectChat>
  /** Where the direct chat with `user` stands (a message can be sent only while `accepted`). */
  chatState?: (user: string) => Promise<DirectChat>
  /** Pending requests, incoming and outgoing, newest first. */
  requests?: () => Promise<ChatRequest[]>
  contacts?: () => Promise<Contact[]>
  addContact?: (user: string) => Promise<void>
  removeContact?: (user: string) => Promise<void>
  /** A person's profile; this account's own without `user`. */
  profile?: (user?: string) => Promise<Profile>
  setProfile?: (change: ProfileChange) => Promise<Profile>
  /** Rooms this account is in, and public rooms it may join; `#global` is always there. */
  rooms?: () => Promise<RoomInfo[]>
  createRoom?: (name: string, options?: { private?: boolean }) => Promise<RoomInfo>
  joinRoom?: (name: string) => Promise<RoomInfo>
  leaveRoom?: (name: string) => Promise<RoomInfo>
  invite?: (room: string, user: string) => Promise<RoomInfo>
  /** The owner of a private room takes `user` off it. */
  removeMember?: (room: string, user: string) => Promise<RoomInfo>
  members?: (room: string) => Promise<RoomMember[]>

  // Files (issue 9). Optional like the above.

  /** Offers the file at `path` to `bob` or `#room`; resolves once it is hashed, shared and offered. */
  sendFile?: (to: string, path: string, options?: SendFileOptions) => Promise<SendFileResult>
  /** Every file offer in every conversation, newest first, with what became of it here. */
  files?: () => Promise<FileEntry[]>
  /** Fetches an offered file (message id, a unique prefix of one, or sha256); resolves once verified. */
  getFile?: (ref: string, options?: GetFileOptions) => Promise<GetFileResult>
}

export type { ChatMessage, ChatRequest, ChatStateName, ClientEvent, ConnectionState, Contact, ConversationEntry, DirectChat, FileEntry, FileProgress, FileState, GetFileResult, HistoryPage, Profile, ProfileChange, RoomInfo, RoomMember, SendFileResult, UserInfo }
