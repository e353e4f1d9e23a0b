/**
 * The client's side of the sealed archive at the rendezvous node: leaving sealed copies for
 * accounts, fetching this account's own since its cursor (opening, checking and merging each
 * item), and a room's recent history. Only the account's devices can open what is in it.
 */
import {
  ARCHIVE_PROTOCOL, archiveResponse, envelope as envelopeSchema, decodeFrame, encodeFrame, dmConversation, roomConversation,
  UnknownUserError, TimeoutError, MAX_ENVELOPE_BYTES, MAX_ARCHIVE_FRAME_BYTES, MAX_ARCHIVE_PUT_ITEMS
} from '../protocol/index.js'
import { verifyEnvelopes, seal, openMany } from '../crypto/index.js'
import { RequestChannels } from '../net/index.js'
import { dialError } from './server-address.js'
import { ARCHIVE_LINGER_MS } from './constants.js'
import type { Envelope, ArchiveResponse, ArchivedItem, FileEnvelope, RoomSealedEnvelope, TextEnvelope } from '../protocol/index.js'
import type { ClientStore } from '../store/index.js'
import type { MeshNode } from '../net/index.js'
import type { AbortOptions, PeerId, PublicKey } from '@libp2p/interface'
import type { AccountKeyFile, SavedLogin } from './home.js'
import type { History } from './history.js'

/** Items asked for per archive fetch, and rounds at most per catch-up (bounded). */
export const ARCHIVE_PAGE = 500
export const MAX_ARCHIVE_ROUNDS = 10_000
export const ROOM_PAGE = 500
export const MAX_ROOM_ROUNDS = 100

export interface ArchiveDeps {
  node: () => MeshNode
  serverPeer: () => PeerId
  serverKey: () => PublicKey
  login: () => SavedLogin
  accountKey: () => AccountKeyFile
  store: () => ClientStore
  history: () => History
  /** The public sealing key of another account. */
  accountKeyOf: (user: string, options: AbortOptions) => Promise<string | null>
  /** Marks a message id as seen (room messages fetched here are not shown again live). */
  remember: (id: string) => void
  /** Which of these envelope ids does this device have already (seen lately, or stored)? */
  known: (ids: string[]) => Promise<Set<string>>
  /** Opens a private room's sealed message with the room key (undefined: this account cannot). */
  openRoom: (room: string, env: RoomSealedEnvelope) => Promise<TextEnvelope | FileEnvelope | undefined>
  stopped: () => boolean
}

/**
 * May this envelope reach `me` privately (a direct stream or this account's archive)? Only in a
 * direct chat of `me` (to me, or by me from another device) or in `me`'s own records. Room
 * messages never do: they come through the room's topic, whose validators check the sender's
 * rate and a private room's member list, or from the node's room history.
 */
export function isForMe (env: Envelope, me: string): boolean {
  if (!env.conv.startsWith('dm:') && !env.conv.startsWith('self:')) return false
  // an account's own records (contacts) are written by its devices only
  if (env.conv.startsWith('self:')) return env.author === me && env.conv === `self:${me}`
  const [, a, b] = env.conv.split(':')
  if (a !== me && b !== me) return false
  return env.author === me || env.conv === dmConversation(env.author, me)
}

type PutItem = { to: string, sealed: string, id: string }
interface QueuedPut {
  /** When it must leave (Date.now() ms): now, or a little later for a copy that may wait for others (ARCHIVE_LINGER_MS). */
  due: number
  items: PutItem[]
  bytes: number
  resolve: () => void
  reject: (err: unknown) => void
}
/** Archive puts in flight at once before the waiting ones are sent together (fewer in flight, larger batches: one certificate check, one write and one mail notice at the node for several messages). */
const PUTS_IN_FLIGHT = 2
const PUT_TIMEOUT_MS = 10_000

export class ArchiveSync {
  private readonly puts: QueuedPut[] = []
  private putsInFlight = 0
  private lingering?: NodeJS.Timeout
  /** Resolved when nothing is queued or in flight (drain()). */
  private readonly idleWaiters: Array<() => void> = []
  private channels?: RequestChannels<typeof archiveResponse>
  private syncing?: Promise<void>
  private again = false

  constructor (private readonly deps: ArchiveDeps) {}

  /**
   * Leaves sealed copies of `env` in the archives of `accounts`. `linger`: nobody waits on this
   * copy (a device of the recipient has the message), so it may wait up to ARCHIVE_LINGER_MS to
   * leave with the next ones.
   */
  async put (env: Envelope, accounts: string[], options: AbortOptions & { linger?: boolean }): Promise<void> {
    const plain = encodeFrame(env, MAX_ENVELOPE_BYTES)
    const me = this.deps.login().user
    const items = []
    for (const user of accounts) {
      const key = user === me ? this.deps.accountKey().publicKey : await this.deps.accountKeyOf(user, options)
      if (key == null) throw new UnknownUserError(`${user} has no account key`)
      items.push({ to: user, sealed: seal(key, plain, this.deps.accountKey().publicKey), id: env.id })
    }
    await this.enqueue(items, options, options.linger === true ? Date.now() + ARCHIVE_LINGER_MS : 0)
  }

  /**
   * Sends the copies that wait for company now and waits (at most `ms`) until every queued copy
   * has been answered: what is still unsent after it stays in the caller's outbox.
   */
  async drain (ms: number): Promise<void> {
    for (const e of this.puts) e.due = 0
    this.pump()
    if (this.puts.length === 0 && this.putsInFlight === 0) return
    let timer: NodeJS.Timeout | undefined
    await Promise.race([
      new Promise<void>(resolve => { this.idleWaiters.push(resolve) }),
      new Promise<void>(resolve => { timer = setTimeout(resolve, ms) })
    ])
    clearTimeout(timer)
  }

  /**
   * Puts go out as they come while few are in flight; past that, the ones waiting leave together
   * in one request (up to MAX_ARCHIVE_PUT_ITEMS copies): under load the node checks one
   * certificate and writes one batch for several messages.
   */
  private async enqueue (items: PutItem[], options: AbortOptions, due: number): Promise<void> {
    const signal = options.signal
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        const i = this.puts.indexOf(entry)
        if (i >= 0) { this.puts.splice(i, 1); reject(new TimeoutError('the copy for the node did not go out in time')); this.pump() }
      }
      const done = (): void => { signal?.removeEventListener('abort', onAbort) }
      const entry: QueuedPut = {
        due,
        items,
        bytes: items.reduce((n, i) => n + i.sealed.length + 200, 0),
        resolve: () => { done(); resolve() },
        reject: err => { done(); reject(err) }
      }
      this.puts.push(entry)
      signal?.addEventListener('abort', onAbort, { once: true })
      this.pump()
    })
  }

  private pump (): void {
    while (this.putsInFlight < PUTS_IN_FLIGHT && this.puts.length > 0 && !this.mayWait()) {
      // what was waiting leaves with this batch (or the next)
      clearTimeout(this.lingering)
      this.lingering = undefined
      const batch: QueuedPut[] = []
      let count = 0
      let bytes = 1024
      while (this.puts.length > 0) {
        const next = this.puts[0]!
        if (batch.length > 0 && (count + next.items.length > MAX_ARCHIVE_PUT_ITEMS || bytes + next.bytes > MAX_ARCHIVE_FRAME_BYTES)) break
        batch.push(this.puts.shift()!)
        count += next.items.length
        bytes += next.bytes
      }
      this.putsInFlight++
      void this.send(batch).finally(() => { this.putsInFlight--; this.pump() })
    }
    if (this.puts.length > 0 && this.lingering == null && this.mayWait()) {
      // the oldest waiting copy is due first (copies wait in the order they came)
      this.lingering = setTimeout(() => { this.lingering = undefined; this.pump() }, Math.max(0, this.puts[0]!.due - Date.now()))
    }
    if (this.puts.length === 0 && this.putsInFlight === 0) for (const wake of this.idleWaiters.splice(0)) wake()
  }

  /** May the queued copies wait for more? Only while every one of them may, and they do not fill a put yet. */
  private mayWait (): boolean {
    const now = Date.now()
    let items = 0
    for (const e of this.puts) {
      if (e.due <= now) return false
      items += e.items.length
    }
    return items < MAX_ARCHIVE_PUT_ITEMS
  }

  private async send (batch: QueuedPut[]): Promise<void> {
    const cert = this.deps.login().cert
    try {
      await this.request({ op: 'put', cert, items: batch.flatMap(e => e.items) }, { signal: AbortSignal.timeout(PUT_TIMEOUT_MS) })
      for (const e of batch) e.resolve()
    } catch (err) {
      if (batch.length === 1) {
        batch[0]!.reject(err)
        return
      }
      // one message's refusal (a disabled recipient, say) must not fail the others: each alone
      await Promise.all(batch.map(async e => {
        try {
          await this.request({ op: 'put', cert, items: e.items }, { signal: AbortSignal.timeout(PUT_TIMEOUT_MS) })
          e.resolve()
        } catch (one) {
          e.reject(one)
        }
      }))
    }
  }

  /**
   * Fetches this account's archive since the cursor. One fetch runs at a time; a call while one
   * runs makes it go round once more (new mail may have come in meanwhile).
   */
  async fetchMine (options: AbortOptions = {}): Promise<void> {
    if (this.syncing != null) {
      this.again = true
      await this.syncing
      return
    }
    this.syncing = this.fetchLoop(options)
    try {
      await this.syncing
    } finally {
      this.syncing = undefined
    }
  }

  /** Resolves once no fetch is running (for a clean stop), and closes the stream to the node. */
  async settled (): Promise<void> {
    await this.syncing?.catch(() => {})
    this.channels?.close()
  }

  /** Fetches a room's history kept by the rendezvous node since the newest message here. */
  async fetchRoom (room: string, options: AbortOptions = {}): Promise<void> {
    const conv = roomConversation(room)
    const store = this.deps.store()
    const newest = (await store.page(conv, { limit: 1 }))[0]
    // the cursor moves past what this device skips too (a sealed message it cannot open), so no page is asked twice
    let after = newest == null ? null : { sentAt: newest.sentAt, id: newest.id }
    for (let round = 0; round < MAX_ROOM_ROUNDS; round++) {
      const res = await this.request({ op: 'room', cert: this.deps.login().cert, room, after, limit: ROOM_PAGE }, options)
      if (!('envelopes' in res)) return
      const page: Array<TextEnvelope | FileEnvelope | RoomSealedEnvelope> = []
      for (const raw of res.envelopes) {
        const parsed = envelopeSchema.safeParse(raw)
        if (parsed.success) after = { sentAt: parsed.data.sentAt, id: parsed.data.id }
        if (!parsed.success || (parsed.data.kind !== 'text' && parsed.data.kind !== 'file' && parsed.data.kind !== 'sealed-room') || parsed.data.conv !== conv) continue
        page.push(parsed.data)
      }
      // checked together: a run of one device's chained messages costs one signature (verifyEnvelopes)
      const { ok } = await verifyEnvelopes(this.deps.serverKey(), page, { at: env => env.sentAt, offload: true })
      for (const [i, sealedOrPlain] of page.entries()) {
        if (!ok[i]) continue
        // the node keeps a private room's messages sealed: opened here with the room key, kept opened
        const env = sealedOrPlain.kind === 'sealed-room' ? await this.deps.openRoom(room, sealedOrPlain) : sealedOrPlain
        if (env == null) continue
        this.deps.remember(env.id)
        await this.deps.history().receive(env)
      }
      if (!res.more || res.envelopes.length === 0) return
    }
  }

  private async fetchLoop (options: AbortOptions): Promise<void> {
    const store = this.deps.store()
    do {
      this.again = false
      let next: Promise<ArchiveResponse> | undefined = this.fetchPage(await store.getCursor('archive'), options)
      // A pipeline: while page n is stored, pages n+1 and n+2 are opened and their signatures
      // checked (in worker threads) and the node reads the page after. Pages are stored in order,
      // and the cursor moves past a page only once it is stored; a page that fails to store
      // stops the loop there.
      let storing: Promise<void> = Promise.resolve()
      let earlier: Promise<void> = Promise.resolve()
      try {
        for (let round = 0; round < MAX_ARCHIVE_ROUNDS && next != null; round++) {
          const res = await next
          next = undefined
          if (!('items' in res)) break
          if (res.more) next = this.fetchPage(res.last, options)
          const checked = this.checkItems(res.items)
          checked.catch(() => {})
          const before = storing
          storing = (async () => {
            await before
            await this.deps.history().receiveMany(await checked)
            await store.setCursor('archive', res.last)
          })()
          storing.catch(() => {})
          // at most three pages in hand: one being stored, two being checked
          await earlier
          earlier = before
        }
      } finally {
        await storing
      }
    } while (this.again && !this.deps.stopped())
  }

  private fetchPage (after: number, options: AbortOptions): Promise<ArchiveResponse> {
    const page = this.request({ op: 'fetch', cert: this.deps.login().cert, after, limit: ARCHIVE_PAGE }, options)
    // awaited by the loop unless it stops first: then its failure is of no interest
    page.catch(() => {})
    return page
  }

  /** Opens and checks one page of archived items, for history to take together. */
  private async checkItems (items: ArchivedItem[]): Promise<Array<{ env: Envelope, arrivedAt: number }>> {
    // a copy of something this device has (it came straight from a peer, or it sent it) stays sealed
    const known = await this.deps.known(items.flatMap(item => item.id == null ? [] : [item.id]))
    const me = this.deps.login().user
    const pair = this.deps.accountKey()
    const serverKey = this.deps.serverKey()
    // opened in a worker thread, then read here, one after the other; the page's signatures are
    // checked at once, on every core, and a run of one device's chained messages needs only its
    // last one's (verifyEnvelopes). An item this account cannot open or verify is skipped, never
    // fatal; the rest keep their order.
    const todo = items.filter(item => item.id == null || !known.has(item.id))
    const plains = await openMany(pair, todo.map(item => item.sealed))
    const opened: Array<{ env: Envelope, arrivedAt: number }> = []
    for (const [i, item] of todo.entries()) {
      const plain = plains[i]
      if (plain == null) continue
      let env: Envelope
      try {
        env = decodeFrame(plain, envelopeSchema, MAX_ENVELOPE_BYTES)
      } catch {
        continue
      }
      if (env.author !== item.from || !isForMe(env, me)) continue
      opened.push({ env, arrivedAt: item.at })
    }
    // it was checked when sent: its certificate must have been valid then
    const { ok } = await verifyEnvelopes(serverKey, opened.map(o => o.env), { at: env => env.sentAt, offload: true })
    return opened.filter((_, i) => ok[i])
  }

  private async request (req: unknown, options: AbortOptions): Promise<ArchiveResponse> {
    try {
      // one long-lived stream to the node carries every put and fetch (net/channel.ts)
      this.channels ??= new RequestChannels(this.deps.node(), ARCHIVE_PROTOCOL, archiveResponse, { maxFrameBytes: MAX_ARCHIVE_FRAME_BYTES })
      return await this.channels.request(this.deps.serverPeer(), req, { signal: options.signal ?? AbortSignal.timeout(10_000) })
    } catch (err) {
      throw dialError(err, this.deps.login().server)
    }
  }
}
