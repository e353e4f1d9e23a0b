/**
 * History on one device: every message and receipt lands here (from a peer, the room, or the
 * sealed archive), is stored once by id, and turns into events. Unread counts, read marks and
 * message status live in the store, so every consumer (TUI, CLI, bots) sees the same.
 */
import { dmConversation, roomConversation, parseTarget, offerText, InvalidInputError, MeshchatError } from '../protocol/index.js'
import type { ClientStore, ConversationRecord, Gap, MessageCursor, MessageStatus, OutboxItem, StoredMessage } from '../store/index.js'
import type { Envelope, FileEnvelope, ReceiptBody, TextEnvelope } from '../protocol/index.js'
import type { ChatMessage, ClientEvent } from './events.js'

/** Delivered receipts are sent for messages younger than this (a new device backfilling years of history stays quiet). */
export const DELIVERED_RECEIPT_MAX_AGE_MS = 3 * 24 * 60 * 60 * 1000
/** Delivered receipts wait this long to be sent together. */
export const RECEIPT_BATCH_MS = 50

export interface HistoryDeps {
  sendReceipt: (conv: string, body: ReceiptBody, to: string | null) => Promise<void>
  emit: (ev: ClientEvent) => void
  /** Does the chat's state admit this direct message of someone else? (Not admitted ones are held back.) */
  admit?: (env: TextEnvelope | FileEnvelope, arrivedAt?: number) => Promise<boolean>
  /** The error a refused message's sender gets. */
  refusal?: (env: TextEnvelope | FileEnvelope) => Promise<Error>
  /** Envelopes that are neither messages nor receipts (chat requests, contact changes). */
  other?: (env: Envelope) => Promise<void>
}

export interface ConversationSummary {
  conv: string
  /** What to type to reach it: `bob` or `#global`. */
  target: string
  kind: 'dm' | 'room'
  lastActivity: number
  lastAuthor: string
  lastText: string
  unread: number
  count: number
}

export interface HistoryPage {
  conv: string
  target: string
  /** Oldest first. */
  messages: ChatMessage[]
  /** Messages known to exist (by their senders' sequence numbers) but not here yet. */
  gaps: Gap[]
}

/** `bob` or `#global` → the conversation id, from `me`'s side. */
export function conversationOf (me: string, target: string): string {
  const t = parseTarget(target)
  return t.kind === 'room' ? roomConversation(t.room) : dmConversation(me, t.user)
}

/** The conversation id → what a person types for it, from `me`'s side. */
export function targetOf (me: string, conv: string): string {
  if (conv.startsWith('room:')) return `#${conv.slice(5)}`
  const [, a, b] = conv.split(':')
  return a === me ? (b ?? '') : (a ?? '')
}

export class History {
  private readonly pendingDelivered = new Map<string, { to: string, ids: string[] }>()
  private timer?: NodeJS.Timeout

  constructor (private readonly store: ClientStore, private readonly me: string, private readonly deps: HistoryDeps) {}

  /**
   * Stores a text message or applies a receipt (or hands other envelopes on); idempotent by id.
   * A direct message the chat's state does not admit is refused with the reason (and held back).
   * `arrivedAt`: when it reached the rendezvous node, for an archived copy (default: now).
   */
  /** `outbox`: a message this device sends (new here), written to the outbox in the same batch as to history. */
  async receive (env: Envelope, status?: MessageStatus, arrivedAt?: number, outbox?: OutboxItem): Promise<void> {
    const added = await this.keep(env, status, arrivedAt, outbox)
    if (added != null) await this.announce(added)
  }

  /**
   * As receive, for a direct message whose sender waits for this device's ack: stored before it
   * resolves, but its events (and its delivered receipt) go out on the next turn of the event
   * loop, so that the ack, written as this resolves, does not wait for what listeners do with
   * them. That was ~0.2 ms of every DM's round trip in a `listen --json` process (its JSON lines).
   */
  async receiveForAck (env: Envelope): Promise<void> {
    const added = await this.keep(env)
    if (added == null) return
    setImmediate(() => {
      this.announce(added).catch((err: unknown) => {
        this.deps.emit({ type: 'error', error: { name: (err as Error).name, message: `message ${env.id} was stored, but could not be announced: ${(err as Error).message}` } })
      })
    })
  }

  /** receive without the events: the messages newly stored, or undefined for a receipt or another kind (applied or handed on). */
  private async keep (env: Envelope, status?: MessageStatus, arrivedAt?: number, outbox?: OutboxItem): Promise<StoredMessage[] | undefined> {
    if (env.kind === 'receipt') {
      await this.applyReceipt(env.conv, env.author, env.body)
      return undefined
    }
    if (env.kind !== 'text' && env.kind !== 'file') {
      await this.deps.other?.(env)
      return undefined
    }
    if (!await this.admits(env, arrivedAt)) {
      throw await this.deps.refusal?.(env) ?? new InvalidInputError('message refused')
    }
    // a message this device is sending was just made here: nothing to look for first
    return await this.store.addMessages([this.toStored(env, status)], outbox == null ? {} : { outbox: [outbox], fresh: true })
  }

  /**
   * Many envelopes at once, in their order (a new device backfilling its archive): runs of
   * messages are stored in one batch each; receipts, chat requests and contact changes are
   * applied one by one between them, so a message lands after the acceptance that admits it. A
   * message the chat does not admit is held back (as `receive` does) and a receipt or control
   * refused with a named error is skipped; anything else (a failing store) fails the call.
   */
  async receiveMany (items: Array<{ env: Envelope, arrivedAt?: number }>): Promise<void> {
    let run: StoredMessage[] = []
    const flush = async (): Promise<void> => {
      if (run.length === 0) return
      const batch = run
      run = []
      await this.announce(await this.store.addMessages(batch))
    }
    for (const { env, arrivedAt } of items) {
      if (env.kind !== 'text' && env.kind !== 'file') {
        await flush()
        // a receipt or control refused as invalid does not stop the others; a failing store does
        await this.receive(env, undefined, arrivedAt).catch((err: unknown) => { if (!(err instanceof MeshchatError)) throw err })
      } else if (await this.admits(env, arrivedAt)) {
        run.push(this.toStored(env))
      }
    }
    await flush()
  }

  /** A direct message of someone else must be admitted by the chat's state (the others always are). */
  private async admits (env: TextEnvelope | FileEnvelope, arrivedAt?: number): Promise<boolean> {
    const mine = env.author === this.me
    if (mine || !env.conv.startsWith('dm:') || this.deps.admit == null) return true
    return await this.deps.admit(env, arrivedAt)
  }

  private toStored (env: TextEnvelope | FileEnvelope, status?: MessageStatus): StoredMessage {
    const mine = env.author === this.me
    const dm = env.conv.startsWith('dm:')
    return {
      id: env.id,
      conv: env.conv,
      author: env.author,
      device: env.device,
      sentAt: env.sentAt,
      // a file offer is a message too: its text describes it (issue 9)
      text: env.kind === 'file' ? offerText(env.body) : env.body.text,
      ...(env.kind === 'file' ? { file: env.body } : {}),
      receivedAt: Date.now(),
      ...(env.n == null ? {} : { n: env.n }),
      ...(mine && dm ? { status: status ?? 'sent' } : {})
    }
  }

  /** Tells listeners about newly stored messages: each message, then each conversation's unread count once. */
  private async announce (added: StoredMessage[]): Promise<void> {
    const convs = new Set<string>()
    for (const m of added) {
      this.deps.emit({ type: 'message', message: this.toChat(m) })
      if (m.author === this.me) continue
      convs.add(m.conv)
      if (m.conv.startsWith('dm:') && Date.now() - m.sentAt < DELIVERED_RECEIPT_MAX_AGE_MS) this.queueDelivered(m.conv, m.author, m.id)
    }
    for (const conv of convs) {
      const record = await this.store.conversation(conv)
      if (record != null) this.deps.emit({ type: 'unread', conv, target: targetOf(this.me, conv), unread: record.unread })
    }
  }

  /** Raises the status of outgoing messages and tells listeners. */
  async raise (ids: string[], status: MessageStatus): Promise<void> {
    for (const m of await this.store.raiseStatus(ids, status)) {
      this.deps.emit({ type: 'status', id: m.id, conv: m.conv, status: m.status ?? status })
    }
  }

  async conversations (): Promise<ConversationSummary[]> {
    const records = await this.store.conversations()
    return records.map(r => this.summary(r))
  }

  async page (target: string, options: { limit?: number, before?: string } = {}): Promise<HistoryPage> {
    const conv = conversationOf(this.me, target)
    // together: on a store just opened both read from disk
    const [messages, gaps] = await Promise.all([this.store.page(conv, options), this.store.gaps(conv)])
    return { conv, target: targetOf(this.me, conv), messages: messages.map(m => this.toChat(m)), gaps }
  }

  /** Unread counts: of one conversation, or of every conversation with any. */
  async unread (target?: string): Promise<Array<{ target: string, conv: string, unread: number }>> {
    if (target != null) {
      const conv = conversationOf(this.me, target)
      const record = await this.store.conversation(conv)
      return [{ target: targetOf(this.me, conv), conv, unread: record?.unread ?? 0 }]
    }
    return (await this.store.conversations()).filter(r => r.unread > 0).map(r => ({ target: targetOf(this.me, r.conv), conv: r.conv, unread: r.unread }))
  }

  /**
   * Marks a conversation read up to a message (`id`) or up to now. This account's other devices
   * and, in a direct chat, the other person's devices get a read receipt.
   */
  async markRead (target: string, id?: string): Promise<{ target: string, conv: string, unread: number, changed: boolean }> {
    const conv = conversationOf(this.me, target)
    if (await this.store.conversation(conv) == null) {
      throw new InvalidInputError(`no conversation with ${target} yet`)
    }
    let upTo: MessageCursor | undefined
    if (id != null) {
      const m = await this.store.getMessage(id)
      if (m == null || m.conv !== conv) throw new InvalidInputError(`no message ${id} in the conversation with ${target}`)
      upTo = { sentAt: m.sentAt, id: m.id }
    } else {
      const newest = (await this.store.page(conv, { limit: 1 }))[0]
      if (newest != null) upTo = { sentAt: newest.sentAt, id: newest.id }
    }
    const { changed, record } = await this.store.markRead(conv, upTo)
    if (changed) {
      this.deps.emit({ type: 'unread', conv, target: targetOf(this.me, conv), unread: record.unread })
      if (record.readUpTo != null) {
        const peer = conv.startsWith('dm:') ? targetOf(this.me, conv) : null
        await this.deps.sendReceipt(conv, { status: 'read', upTo: record.readUpTo }, peer === this.me ? null : peer)
      }
    }
    return { target: targetOf(this.me, conv), conv, unread: record.unread, changed }
  }

  /** Sends the delivered receipts that are waiting. */
  async flush (): Promise<void> {
    clearTimeout(this.timer)
    this.timer = undefined
    const batches = [...this.pendingDelivered.entries()]
    this.pendingDelivered.clear()
    await Promise.allSettled(batches.flatMap(([conv, { to, ids }]) => {
      const chunks = []
      for (let i = 0; i < ids.length; i += 256) chunks.push(ids.slice(i, i + 256))
      return chunks.map(async chunk => { await this.deps.sendReceipt(conv, { status: 'delivered', ids: chunk }, to) })
    }))
  }

  private queueDelivered (conv: string, to: string, id: string): void {
    const batch = this.pendingDelivered.get(conv) ?? { to, ids: [] }
    batch.ids.push(id)
    this.pendingDelivered.set(conv, batch)
    this.timer ??= setTimeout(() => { void this.flush() }, RECEIPT_BATCH_MS)
  }

  private async applyReceipt (conv: string, author: string, body: ReceiptBody): Promise<void> {
    if (body.status === 'delivered') {
      if (author !== this.me) await this.raise(body.ids, 'delivered')
      return
    }
    if (author !== this.me) {
      // the other side read our messages up to there
      for (const m of await this.store.raiseStatusUpTo(conv, body.upTo, 'read')) {
        this.deps.emit({ type: 'status', id: m.id, conv: m.conv, status: 'read' })
      }
      return
    }
    // another device of ours read the conversation: the same read mark here
    if (await this.store.conversation(conv) == null) return
    const { changed, record } = await this.store.markRead(conv, body.upTo)
    if (changed) this.deps.emit({ type: 'unread', conv, target: targetOf(this.me, conv), unread: record.unread })
  }

  private summary (r: ConversationRecord): ConversationSummary {
    return {
      conv: r.conv,
      target: targetOf(this.me, r.conv),
      kind: r.conv.startsWith('room:') ? 'room' : 'dm',
      lastActivity: r.lastActivity,
      lastAuthor: r.lastAuthor,
      lastText: r.lastText,
      unread: r.unread,
      count: r.count
    }
  }

  private toChat (m: StoredMessage): ChatMessage {
    const room = m.conv.startsWith('room:') ? m.conv.slice(5) : undefined
    return {
      id: m.id,
      conv: m.conv,
      ...(room == null ? { peer: targetOf(this.me, m.conv) } : { room }),
      from: m.author,
      fromDevice: m.device,
      sentAt: m.sentAt,
      receivedAt: m.receivedAt,
      text: m.text,
      ...(m.status == null ? {} : { status: m.status }),
      ...(m.n == null ? {} : { n: m.n }),
      ...(m.file == null ? {} : { file: m.file })
    }
  }
}
