/** The client core's events: one discriminated union that the TUI, `listen` and bots consume. */
import type { MessageStatus } from '../store/index.js'
import type { ChatState, Profile, RoomInfo } from './people-types.js'
import type { FileOffer } from '../protocol/index.js'
import type { FileEntry } from './files.js'

export interface ChatMessage {
  id: string
  /** `dm:<a>:<b>` or `room:<name>` */
  conv: string
  /** Set for room messages. */
  room?: string
  /** For direct messages: the other person (the recipient when `from` is this account). */
  peer?: string
  from: string
  fromDevice: string
  sentAt: number
  receivedAt: number
  text: string
  /** For messages this account sent in a direct chat: sending → sent → delivered → read. */
  status?: MessageStatus
  /** The author device's sequence number in the conversation. */
  n?: number
  /** A file offer (issue 9): fetch it with getFile(id); `text` describes it. */
  file?: FileOffer
}

export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'offline'

export type ClientEvent =
  | { type: 'connection', state: ConnectionState, reason?: string }
  | { type: 'presence', user: string, online: boolean, lastSeen: number | null, at: number }
  | { type: 'registered', user: string, at: number }
  | { type: 'message', message: ChatMessage }
  | { type: 'status', id: string, conv: string, status: MessageStatus }
  /** This device got (or lost) a relay slot on its rendezvous node: peers reach it through the relay. */
  | { type: 'relay', reserved: boolean, reason?: string }
  | { type: 'unread', conv: string, target: string, unread: number }
  | { type: 'error', error: { name: string, message: string } }
  /** A direct chat changed state: a request came or went out, was accepted, declined or closed. */
  | { type: 'chat', chat: ChatState }
  /** Someone was added to or removed from this account's contacts (on any of its devices). */
  | { type: 'contact', user: string, added: boolean }
  | { type: 'profile', profile: Profile }
  /** A room this account is in changed, or the account joined (`joined`) or left it. */
  | { type: 'room', room: RoomInfo }
  /** The operator disabled (or enabled again) an account: its messages are no longer accepted. */
  | { type: 'disabled', user: string, disabled: boolean }
  /** A file offer's transfer moved (throttled) or changed state (issue 9). */
  | { type: 'file', file: FileEntry }

export type ClientEventListener = (ev: ClientEvent) => void

/** Fan-out of client events to listeners, and `for await` iteration with a bounded buffer. */
export class EventHub {
  private readonly listeners = new Set<ClientEventListener>()

  on (listener: ClientEventListener): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  emit (ev: ClientEvent): void {
    for (const l of this.listeners) {
      try { l(ev) } catch { /* a consumer's bug must not break delivery to the others */ }
    }
  }

  /** Iterates events until `signal` aborts; past `maxBuffered` unread events the oldest are dropped. */
  async * stream (signal?: AbortSignal, maxBuffered = 10_000): AsyncGenerator<ClientEvent> {
    const buffer: ClientEvent[] = []
    let wake: (() => void) | undefined
    const off = this.on(ev => {
      if (buffer.length >= maxBuffered) buffer.shift()
      buffer.push(ev)
      wake?.()
    })
    const onAbort = (): void => wake?.()
    signal?.addEventListener('abort', onAbort)
    try {
      while (signal?.aborted !== true) {
        const ev = buffer.shift()
        if (ev != null) {
          yield ev
          continue
        }
        await new Promise<void>(resolve => { wake = resolve })
        wake = undefined
      }
    } finally {
      off()
      signal?.removeEventListener('abort', onAbort)
    }
  }
}
