/**
 * One device's own history: every message it has seen, per conversation, with what the
 * conversation list needs (last message, unread count, read position), the delivery status of
 * this account's direct messages, and the sequence numbers that reveal missing messages.
 */
import { InvalidInputError, messageId, printable, timestamp, fileOffer } from '../protocol/index.js'
import { openDb, readKeys } from './db.js'
import { PeopleStore } from './people-store.js'
import { FileStore } from './file-store.js'
import { RecordCache } from './record-cache.js'
import type { FileOffer } from '../protocol/index.js'
import type { Db, KeyReader } from './db.js'
import type { BatchOperation } from 'level'

export const CLIENT_SCHEMA_VERSION = 1

/** Ordered: a status only ever rises. */
export type MessageStatus = 'sending' | 'sent' | 'delivered' | 'read'

const STATUSES: readonly MessageStatus[] = ['sending', 'sent', 'delivered', 'read']

export interface StoredMessage {
  /** 32 hex chars, unique. */
  id: string
  /** `dm:<a>:<b>` or `room:<name>`. */
  conv: string
  /** The author's username. */
  author: string
  /** The author's device peer id. */
  device: string
  /** ms */
  sentAt: number
  text: string
  /** ms, when this device stored it. */
  receivedAt: number
  /** The author device's sequence number in this conversation (1, 2, 3 …), for gap detection. */
  n?: number
  /** Only on messages authored by this account (`me`) in dm conversations. */
  status?: MessageStatus
  /** A file offer (issue 9); `text` is then its one-line description. */
  file?: FileOffer
}

/** A position in a conversation: messages are ordered by (sentAt, id). */
/** A signed envelope waiting to be sent (opaque to the store), with who it is for. */
export interface OutboxItem {
  id: string
  queuedAt: number
  to: string
  envelope: unknown
}

export interface MessageCursor {
  sentAt: number
  id: string
}

export interface ConversationRecord {
  conv: string
  /** sentAt of the newest message. */
  lastActivity: number
  lastId: string
  lastAuthor: string
  /** The first 200 characters of the newest message. */
  lastText: string
  /** Incoming (author !== me) messages after `readUpTo`. */
  unread: number
  readUpTo: MessageCursor | null
  /** Messages stored in the conversation. */
  count: number
}

/** Missing sequence numbers of one author device (at most {@link MAX_GAPS_LISTED} listed). */
export interface Gap {
  device: string
  author: string
  missing: number[]
}

export const DEFAULT_PAGE_LIMIT = 10
export const MAX_PAGE_LIMIT = 1000
export const MAX_GAPS_LISTED = 100
export const LAST_TEXT_CHARS = 200
/** Reads by id (`getMany`) and status writes go in slices of this many. */
const CHUNK = 500

/** Largest sentAt/n a key can hold: numbers are zero-padded to this many digits. */
const PAD = 15
const MAX_PADDED = 10 ** PAD - 1

/**
 * Per conversation and author device: the highest number seen, how many distinct numbers were
 * seen, and `upTo`, a number up to which every one was seen. A number at or below `upTo` has no
 * `seq` key of its own (most devices' numbers arrive in order, so most messages write none):
 * only those above it, written while there were holes, do. Records written before `upTo`
 * existed have a key for every number (upTo 0).
 */
interface SeqMaxRecord {
  max: number
  author: string
  count: number
  upTo?: number
}

type Op = BatchOperation<Db, string, unknown>

/**
 * LevelDB's write buffer for a device's history: a backfill writes three keys for each of 100,000
 * messages, and with LevelDB's 4 MiB buffer its background compaction took 1.5 s of CPU of a 100k
 * backfill on 2 cores, 0.4 s with 16 MiB. The buffer fills only as far as writes come.
 */
const CLIENT_WRITE_BUFFER_BYTES = 16 * 1024 * 1024

/** Conversations whose holes (gaps()) are kept in memory. */
const HOLES_KEPT = 1024

/** This device's own direct messages kept for status changes (the receipts that come back). */
const OWN_MESSAGE_CACHE_ENTRIES = 2_000


/**
 * LevelDB layout (every key part is free of `!`, so `<prefix>!` … `<prefix>"` bounds a prefix):
 * - `msg!<conv>!<sentAt 15>!<id>` → StoredMessage (pages are key ranges)
 * - `ids!<id>` → the message's `msg` key
 * - `conv!<conv>` → ConversationRecord
 * - `seq!<conv>!<device>!<n 15>` → '' (one per seen sequence number)
 * - `seqmax!<conv>!<device>` → { max, author, count }
 * - `outseq!<conv>` → the last sequence number this device gave out
 * - `statusmark!<conv>!<status>` → MessageCursor: every message of `me` up to it has at least that
 *   status, so `raiseStatusUpTo` only scans what came after
 * - `cursor!<name>` → number
 */
export class ClientStore {
  private readonly messages
  private readonly ids
  private readonly convs
  private readonly seqs
  private readonly seqMax
  private readonly outSeq
  private readonly statusMarks
  private readonly cursors
  private readonly outbox
  /** Chat requests, held messages, contacts and profiles (people-store.ts), in the same database. */
  readonly people: PeopleStore
  /** File offers, shares and transfers (file-store.ts), in the same database. */
  readonly files: FileStore
  /** Serialises writes that read first inside this process. */
  private chain: Promise<unknown> = Promise.resolve()
  /** Small records read on every message, kept in memory (RecordCache): by sublevel. */
  private readonly convCache
  private readonly seqMaxCache
  private readonly markCache
  private readonly outSeqCache
  private readonly caches
  /** Transactions queued so far (serial). */
  private tickets = 0
  /** addMessages calls written together (group commit). */
  private readonly adds = this.grouped<{ msgs: StoredMessage[], outbox: OutboxItem[], fresh: boolean }, StoredMessage[]>(async calls => {
    const extra = calls.flatMap(c => c.outbox.map(item => ({ type: 'put' as const, sublevel: this.outbox, key: outboxKey(item), value: item })))
    const fresh = new Set(calls.flatMap(c => c.fresh ? c.msgs : []))
    const added = new Set(await this.addAll(calls.flatMap(c => c.msgs), extra, fresh))
    // each caller gets only its own new ones
    return calls.map(c => c.msgs.filter(m => added.delete(m)))
  })
  /** raiseStatus calls applied in order and written together. */
  private readonly raises = this.grouped<{ ids: string[], status: MessageStatus }, StoredMessage[]>(async calls => await this.raiseAll(calls))
  /**
   * Numbers given out by takeSeq, written together, on a chain of their own: only takeSeq reads or
   * writes these records, so a number never waits behind a queue of history writes (a sender
   * under load numbers the next messages while the last ones are stored). Written from the next
   * turn on: a sender signs and streams its message first.
   */
  private readonly numbering = this.grouped<{ conv: string, n: number }, void>(async calls => await this.numberAll(calls), { ownChain: true, nextTurn: true })
  /** The last sequence number given out per conversation by this process (ahead of the disk while its write is out). */
  private readonly givenSeq = new Map<string, number>()
  /** The last transaction of the groups with a chain of their own (numbering); close waits for it. */
  private sideChain: Promise<unknown> = Promise.resolve()
  /** Outbox writes of this turn of the event loop, and the batch they go out in. */
  private outboxWrites?: { ops: Op[], done: Promise<void> }
  /** This device's newest direct messages (the ones receipts come back for), by id. */
  private readonly ownMessages = new Map<string, StoredMessage>()
  /**
   * Per conversation, once gaps() has read it: the `seqmax` keys (author devices) whose numbers
   * have holes, kept in step by commit. gaps() comes with every page, and most conversations
   * have no holes: it then reads nothing (it was an iterator over the conversation's devices,
   * two LevelDB round trips through libuv's pool, about half of a first page's time here).
   */
  private readonly holes = new Map<string, Set<string>>()
  /** `seqmax` writes committed so far: a read of a conversation's holes that one raced is not kept. */
  private seqMaxWrites = 0

  private constructor (private readonly db: Db, private readonly me: string) {
    this.messages = db.sublevel<string, StoredMessage>('msg', { valueEncoding: 'json' })
    this.ids = db.sublevel<string, string>('ids', { valueEncoding: 'json' })
    this.convs = db.sublevel<string, ConversationRecord>('conv', { valueEncoding: 'json' })
    this.seqs = db.sublevel<string, string>('seq', { valueEncoding: 'json' })
    this.seqMax = db.sublevel<string, SeqMaxRecord>('seqmax', { valueEncoding: 'json' })
    this.outSeq = db.sublevel<string, number>('outseq', { valueEncoding: 'json' })
    this.statusMarks = db.sublevel<string, MessageCursor>('statusmark', { valueEncoding: 'json' })
    this.cursors = db.sublevel<string, number>('cursor', { valueEncoding: 'json' })
    this.outbox = db.sublevel<string, OutboxItem>('outbox', { valueEncoding: 'json' })
    this.convCache = new RecordCache<ConversationRecord>(this.convs)
    this.seqMaxCache = new RecordCache<SeqMaxRecord>(this.seqMax)
    this.markCache = new RecordCache<MessageCursor>(this.statusMarks)
    this.outSeqCache = new RecordCache<number>(this.outSeq)
    this.caches = new Map<unknown, RecordCache<unknown>>([
      [this.convs, this.convCache], [this.seqMax, this.seqMaxCache], [this.statusMarks, this.markCache], [this.outSeq, this.outSeqCache]
    ] as Array<[unknown, RecordCache<unknown>]>)
    this.people = new PeopleStore(db, async fn => await this.serial(fn))
    this.files = new FileStore(db)
  }

  /** Opens (creating) the history in `dir`; `me` is this account's username. */
  static async open (dir: string, me: string): Promise<ClientStore> {
    return new ClientStore(await openDb(dir, 'client', CLIENT_SCHEMA_VERSION, { lockWaitMs: 10_000, writeBufferBytes: CLIENT_WRITE_BUFFER_BYTES }), me)
  }

  /** Writes a batch, then brings the in-memory records in step with it. */
  private async commit (ops: Op[]): Promise<void> {
    await this.db.batch(ops)
    for (const op of ops) {
      const sublevel = (op as { sublevel?: unknown }).sublevel
      const value = op.type === 'put' ? op.value : undefined
      this.caches.get(sublevel)?.written(op.key, value)
      if (sublevel === this.seqMax) this.seqMaxWritten(op.key, value as SeqMaxRecord | undefined)
      if (sublevel === this.messages) {
        const m = value as StoredMessage | undefined
        if (m != null && this.hasStatus(m)) this.keepOwn(m)
      }
    }
  }

  private seqMaxWritten (key: string, rec: SeqMaxRecord | undefined): void {
    this.seqMaxWrites++
    const holed = this.holes.get(key.slice(0, key.indexOf('!')))
    if (holed == null) return
    if (rec != null && rec.count < rec.max) holed.add(key)
    else holed.delete(key)
  }

  private keepOwn (m: StoredMessage): void {
    this.ownMessages.delete(m.id)
    this.ownMessages.set(m.id, m)
    if (this.ownMessages.size > OWN_MESSAGE_CACHE_ENTRIES) this.ownMessages.delete(this.ownMessages.keys().next().value!)
  }

  private serial<T> (fn: () => Promise<T>): Promise<T> {
    this.tickets++
    const next = this.chain.then(fn, fn)
    this.chain = next.catch(() => {})
    return next
  }

  /**
   * Group commit: calls that come while one is waiting for its turn join it and run as one
   * serial() transaction (`run` answers each call, in order); a failure fails them all. A call
   * joins only a group that nothing else was queued behind (a markRead after an add, say, must
   * still see the add written first). `ownChain`: the groups run one after the other on a chain
   * of their own instead of serial() (for records no other transaction touches), and a call
   * joins any group still waiting. `nextTurn`: a group starts on the next turn of the event loop
   * at the earliest, so that the synchronous part of its LevelDB write (~0.1–0.15 ms here) does
   * not run between a caller's await and what the caller does next.
   */
  private grouped<C, R> (run: (calls: C[]) => Promise<R[]>, options: { ownChain?: boolean, nextTurn?: boolean } = {}): (call: C) => Promise<R> {
    let open: { calls: Array<{ call: C, resolve: (r: R) => void, reject: (err: unknown) => void }>, ticket: number } | undefined
    const queue = options.ownChain === true
      ? (fn: () => Promise<void>) => { this.sideChain = this.sideChain.then(fn) }
      : (fn: () => Promise<void>) => { void this.serial(fn) }
    return async call => await new Promise<R>((resolve, reject) => {
      if (open != null && (options.ownChain === true || open.ticket === this.tickets)) {
        open.calls.push({ call, resolve, reject })
        return
      }
      const group = { calls: [{ call, resolve, reject }], ticket: 0 }
      open = group
      queue(async () => {
        if (options.nextTurn === true) await new Promise<void>(resolve => { setImmediate(resolve) })
        if (open === group) open = undefined
        try {
          const results = await run(group.calls.map(c => c.call))
          group.calls.forEach((c, i) => { c.resolve(results[i]!) })
        } catch (err) {
          for (const c of group.calls) c.reject(err)
        }
      })
      group.ticket = this.tickets
    })
  }

  /**
   * Idempotent by id: messages already stored (or repeated in `msgs`) are skipped. Returns the
   * ones that were new, as stored, in the order given. Everything goes in one batch, with
   * `outbox` (a message being sent: it waits there until the node has its copy) in the same one.
   * `fresh`: the messages were just made on this device (a new id, a new sequence number from
   * nextSeq), so they are not looked for in the store first.
   */
  async addMessages (msgs: StoredMessage[], options: { outbox?: OutboxItem[], fresh?: boolean } = {}): Promise<StoredMessage[]> {
    // many messages arriving at once cost one transaction, not one each
    return await this.adds({ msgs: msgs.map(m => this.normalise(m)), outbox: options.outbox ?? [], fresh: options.fresh === true })
  }

  /** The transaction of addMessages: idempotent by id, one batch, the new ones in the order given. */
  private async addAll (clean: StoredMessage[], extra: Op[] = [], fresh = new Set<StoredMessage>()): Promise<StoredMessage[]> {
    const known = await this.present(this.ids, clean.filter(m => !fresh.has(m)).map(m => m.id))
    const added: StoredMessage[] = []
    for (const m of clean) {
      if (known.has(m.id)) continue
      known.add(m.id)
      added.push(m)
    }
    if (added.length === 0) {
      if (extra.length > 0) await this.commit(extra)
      return []
    }

    const ops: Op[] = [...extra]
    const records = new Map<string, ConversationRecord | undefined>()
    const seqMaxes = new Map<string, SeqMaxRecord | undefined>()
    const seenSeqs = new Set<string>()
    const marks = new Map<string, MessageCursor | undefined>()
    const changedMarks = new Set<string>()

    // what the batch builds on: conversation records, sequence records and status marks
    // (the small records usually come from memory; the reads that go to disk go at once)
    const tracked = added.filter(m => m.n != null)
    const mine = added.filter(m => this.hasStatus(m))
    const maxesLoaded = this.loadInto(this.seqMaxCache, seqMaxes, [...new Set(tracked.map(m => `${m.conv}!${m.device}`))])
    await Promise.all([
      this.loadInto(this.convCache, records, [...new Set(added.map(m => m.conv))]),
      maxesLoaded,
      this.loadInto(this.markCache, marks, [...new Set(mine.flatMap(m => STATUSES.map(s => `${m.conv}!${s}`)))]),
      (async () => {
        await maxesLoaded
        // only a number at or below the highest seen from its device can have been seen (the
        // highest is written with every number, in the same batch), one at or below `upTo` was,
        // and a fresh message's was just given out here: most messages, arriving in order, are
        // not looked up
        const seqKeys = new Set<string>()
        for (const m of tracked) {
          if (fresh.has(m)) continue
          const rec = seqMaxes.get(`${m.conv}!${m.device}`)
          if (rec == null || m.n! > rec.max) continue
          const key = `${m.conv}!${m.device}!${pad(m.n!)}`
          if (m.n! <= (rec.upTo ?? 0)) seenSeqs.add(key)
          else seqKeys.add(key)
        }
        for (const k of await this.present(this.seqs, [...seqKeys])) seenSeqs.add(k)
      })()
    ])

    for (const m of added) {
      const key = msgKey(m.conv, m.sentAt, m.id)
      ops.push({ type: 'put', sublevel: this.messages, key, value: m })
      ops.push({ type: 'put', sublevel: this.ids, key: m.id, value: key })
      if (m.file != null) ops.push(...this.files.indexOps({ id: m.id, conv: m.conv, author: m.author, device: m.device, sentAt: m.sentAt, offer: m.file }))

      const record = records.get(m.conv) ?? {
        conv: m.conv, lastActivity: m.sentAt, lastId: m.id, lastAuthor: m.author, lastText: '', unread: 0, readUpTo: null, count: 0
      }
      const at = { sentAt: m.sentAt, id: m.id }
      if (record.count === 0 || compareCursors(at, { sentAt: record.lastActivity, id: record.lastId }) >= 0) {
        record.lastActivity = m.sentAt
        record.lastId = m.id
        record.lastAuthor = m.author
        record.lastText = firstChars(m.text, LAST_TEXT_CHARS)
      }
      record.count += 1
      if (m.author !== this.me && (record.readUpTo == null || compareCursors(at, record.readUpTo) > 0)) {
        record.unread += 1
      }
      records.set(m.conv, record)

      if (m.n != null) {
        const seqKey = `${m.conv}!${m.device}!${pad(m.n)}`
        if (!seenSeqs.has(seqKey)) {
          seenSeqs.add(seqKey)
          const maxKey = `${m.conv}!${m.device}`
          const old = seqMaxes.get(maxKey)
          const max = Math.max(old?.max ?? 0, m.n)
          const count = (old?.count ?? 0) + 1
          // every number from 1 to max seen: no key needed for this one (nor any below it)
          if (count === max) {
            seqMaxes.set(maxKey, { max, author: m.author, count, upTo: max })
          } else {
            ops.push({ type: 'put', sublevel: this.seqs, key: seqKey, value: '' })
            seqMaxes.set(maxKey, { max, author: m.author, count, ...(old?.upTo == null ? {} : { upTo: old.upTo }) })
          }
        }
      }

      // an own message that arrives behind a status mark (from another device of ours, say) and
      // has not reached that status pulls the mark back, so the next raiseStatusUpTo covers it
      if (this.hasStatus(m)) {
        for (const s of STATUSES) {
          if (rank(m.status) >= rank(s)) continue
          const markKey = `${m.conv}!${s}`
          const mark = marks.get(markKey)
          if (mark != null && compareCursors(at, mark) <= 0) {
            marks.set(markKey, { sentAt: m.sentAt, id: '' })
            changedMarks.add(markKey)
          }
        }
      }
    }

    for (const [conv, record] of records) {
      if (record != null) ops.push({ type: 'put', sublevel: this.convs, key: conv, value: record })
    }
    for (const [key, value] of seqMaxes) {
      if (value != null) ops.push({ type: 'put', sublevel: this.seqMax, key, value })
    }
    for (const key of changedMarks) {
      ops.push({ type: 'put', sublevel: this.statusMarks, key, value: marks.get(key) })
    }
    await this.commit(ops)
    return added
  }

  /** Which of these message ids are stored here (one read per CHUNK ids). */
  async knownIds (ids: string[]): Promise<Set<string>> {
    return await this.present(this.ids, ids)
  }

  /** Which of `keys` are in `sublevel` (one read per CHUNK keys). */
  private async present (sublevel: KeyReader<string>, keys: string[]): Promise<Set<string>> {
    const found = new Set<string>()
    for (let i = 0; i < keys.length; i += CHUNK) {
      const slice = keys.slice(i, i + CHUNK)
      const values = await readKeys(sublevel, slice)
      slice.forEach((k, j) => { if (values[j] != null) found.add(k) })
    }
    return found
  }

  async getMessage (id: string): Promise<StoredMessage | undefined> {
    const [key] = await readKeys<string>(this.ids, [id])
    return key == null ? undefined : (await readKeys<StoredMessage>(this.messages, [key]))[0]
  }

  /**
   * Raises the status of these outgoing messages (never lowers); returns the messages whose
   * status changed. Unknown ids, and messages that carry no status (not ours, or not in a dm),
   * are ignored.
   */
  async raiseStatus (ids: string[], status: MessageStatus): Promise<StoredMessage[]> {
    checkStatus(status)
    return await this.raises({ ids: [...new Set(ids)], status })
  }

  /** The transaction of raiseStatus: each call in order (a later one sees an earlier one's raise), one batch. */
  private async raiseAll (calls: Array<{ ids: string[], status: MessageStatus }>): Promise<StoredMessage[][]> {
    /** Messages raised so far in this transaction, by id. */
    const raisedNow = new Map<string, StoredMessage>()
    const results: StoredMessage[][] = []
    for (const { ids, status } of calls) {
      const changed: StoredMessage[] = []
      // raised in this transaction, or this device's recent messages, are in memory; others are read
      const inMemory = (id: string): StoredMessage | undefined => raisedNow.get(id) ?? this.ownMessages.get(id)
      const cached = ids.flatMap(id => { const m = inMemory(id); return m == null ? [] : [m] })
      const rest = ids.filter(id => inMemory(id) == null)
      for (let i = 0; i < Math.max(cached.length, rest.length); i += CHUNK) {
        const keys = (await readKeys<string>(this.ids, rest.slice(i, i + CHUNK))).filter((k): k is string => k != null)
        const found = [...cached.slice(i, i + CHUNK), ...await readKeys<StoredMessage>(this.messages, keys)]
        for (const m of found) {
          if (m == null || !this.hasStatus(m) || rank(m.status) >= rank(status)) continue
          const raised = { ...m, status }
          raisedNow.set(m.id, raised)
          changed.push(raised)
        }
      }
      results.push(changed)
    }
    if (raisedNow.size > 0) {
      await this.commit([...raisedNow.values()].map(m => ({ type: 'put' as const, sublevel: this.messages, key: msgKey(m.conv, m.sentAt, m.id), value: m })))
    }
    return results
  }

  /**
   * Raises every message of `conv` authored by `me` with (sentAt, id) <= `upTo` to at least
   * `status`; returns those changed. A mark per (conversation, status) remembers how far this
   * got, so each call scans only the messages after the furthest mark of this status or higher.
   */
  async raiseStatusUpTo (conv: string, upTo: MessageCursor, status: MessageStatus): Promise<StoredMessage[]> {
    checkConv(conv)
    checkCursor(upTo, 'upTo')
    checkStatus(status)
    return await this.serial(async () => {
      if (!conv.startsWith('dm:')) return []
      const higher = STATUSES.slice(rank(status))
      const marks = await this.markCache.getMany(higher.map(s => `${conv}!${s}`))
      let from: MessageCursor | undefined
      for (const mark of marks) {
        if (mark != null && (from == null || compareCursors(mark, from) > 0)) from = mark
      }
      if (from != null && compareCursors(upTo, from) <= 0) return []

      const changed: StoredMessage[] = []
      let ops: Op[] = []
      const range = {
        gt: from == null ? `${conv}!` : msgKey(conv, from.sentAt, from.id),
        lte: msgKey(conv, upTo.sentAt, upTo.id)
      }
      for await (const m of this.messages.values(range)) {
        if (!this.hasStatus(m) || rank(m.status) >= rank(status)) continue
        const raised = { ...m, status }
        ops.push({ type: 'put', sublevel: this.messages, key: msgKey(m.conv, m.sentAt, m.id), value: raised })
        changed.push(raised)
        if (ops.length >= CHUNK) {
          await this.commit(ops)
          ops = []
        }
      }
      // the mark moves with the last writes: after a crash the scan is simply done again
      ops.push({ type: 'put', sublevel: this.statusMarks, key: `${conv}!${status}`, value: { sentAt: upTo.sentAt, id: upTo.id } })
      await this.commit(ops)
      return changed
    })
  }

  /**
   * A page of a conversation, oldest first: the `limit` newest messages strictly before the
   * message `before` (all when absent). Reads only about `limit` rows, however long the
   * conversation is.
   */
  async page (conv: string, options: { limit?: number, before?: string } = {}): Promise<StoredMessage[]> {
    checkConv(conv)
    const limit = options.limit ?? DEFAULT_PAGE_LIMIT
    if (!Number.isInteger(limit) || limit < 1) {
      throw new InvalidInputError(`invalid page limit ${String(limit)}: a positive integer`)
    }
    let lt = `${conv}"`
    if (options.before != null) {
      const key = await this.ids.get(options.before)
      if (key == null || !key.startsWith(`${conv}!`)) {
        throw new InvalidInputError(`no message "${printable(options.before)}" in ${conv}`)
      }
      lt = key
    }
    const newestFirst = await this.messages.values({ gt: `${conv}!`, lt, reverse: true, limit: Math.min(limit, MAX_PAGE_LIMIT) }).all()
    return newestFirst.reverse()
  }

  /** Every conversation record (any order; the caller sorts). */
  async conversations (): Promise<ConversationRecord[]> {
    return await this.convs.values().all()
  }

  async conversation (conv: string): Promise<ConversationRecord | undefined> {
    return await this.convCache.get(conv)
  }

  /**
   * Moves `readUpTo` forward (never back) to `upTo`, or to the newest message when absent, and
   * recounts unread by scanning from there. A cursor past the newest message is taken as the
   * newest message, so a message that arrives later still counts.
   */
  async markRead (conv: string, upTo?: MessageCursor): Promise<{ changed: boolean, record: ConversationRecord }> {
    checkConv(conv)
    if (upTo != null) checkCursor(upTo, 'upTo')
    return await this.serial(async () => {
      const record = await this.convCache.get(conv)
      if (record == null) throw new InvalidInputError(`no conversation ${conv}`)
      const newest = { sentAt: record.lastActivity, id: record.lastId }
      let target = upTo == null ? newest : { sentAt: upTo.sentAt, id: upTo.id }
      if (compareCursors(target, newest) > 0) target = newest
      if (record.readUpTo != null && compareCursors(target, record.readUpTo) <= 0) {
        return { changed: false, record }
      }
      let unread = 0
      for await (const m of this.messages.values({ gt: msgKey(conv, target.sentAt, target.id), lt: `${conv}"` })) {
        if (m.author !== this.me) unread += 1
      }
      const updated: ConversationRecord = { ...record, readUpTo: target, unread }
      await this.commit([{ type: 'put', sublevel: this.convs, key: conv, value: updated }])
      return { changed: true, record: updated }
    })
  }

  /** This device's next sequence number in `conv`: 1, 2, 3 … across restarts; resolves once it is on disk. */
  async nextSeq (conv: string): Promise<number> {
    const { n, written } = await this.takeSeq(conv)
    await written
    return n
  }

  /**
   * This device's next sequence number in `conv` at once, and the write that keeps it across a
   * restart: a sender signs and sends while the number is written, and waits for `written` before
   * it calls the message sent (awaiting the write first cost ~0.25 ms of a lone DM's ~3 ms here).
   * A number is given out once by this process, even when its write fails (a message may carry
   * it already). One given out just before a crash, before its write landed, may be given again
   * after the restart: a receiver keeps one record per number, so two messages with the same
   * number leave it no false gap.
   */
  async takeSeq (conv: string): Promise<{ n: number, written: Promise<void> }> {
    checkConv(conv)
    if (!this.givenSeq.has(conv)) {
      const stored = await this.outSeqCache.get(conv) ?? 0
      // another call may have loaded it while this one read
      if (!this.givenSeq.has(conv)) this.givenSeq.set(conv, stored)
    }
    const n = this.givenSeq.get(conv)! + 1
    this.givenSeq.set(conv, n)
    const written = this.numbering({ conv, n })
    // the caller may attach its handler after a failure: not an unhandled rejection meanwhile
    written.catch(() => {})
    return { n, written }
  }

  /** The transaction of takeSeq: the highest number given out per conversation, one batch. */
  private async numberAll (calls: Array<{ conv: string, n: number }>): Promise<void[]> {
    const last = new Map<string, number>()
    for (const { conv, n } of calls) last.set(conv, Math.max(last.get(conv) ?? 0, n))
    await this.commit([...last].map(([key, value]) => ({ type: 'put' as const, sublevel: this.outSeq, key, value })))
    return calls.map(() => undefined)
  }

  /** Sequence numbers not yet seen, per author device, in `conv` (from 1 to the highest seen). */
  async gaps (conv: string): Promise<Gap[]> {
    checkConv(conv)
    let holed = this.holes.get(conv)
    if (holed == null) {
      const writes = this.seqMaxWrites
      const found = new Set<string>()
      for await (const [key, rec] of this.seqMax.iterator({ gt: `${conv}!`, lt: `${conv}"` })) {
        if (rec.count < rec.max) found.add(key)
      }
      if (writes === this.seqMaxWrites) {
        this.holes.set(conv, found)
        if (this.holes.size > HOLES_KEPT) this.holes.delete(this.holes.keys().next().value!)
      }
      holed = found
    }
    const gaps: Gap[] = []
    for (const key of [...holed].sort()) {
      const rec = await this.seqMaxCache.get(key)
      if (rec == null || rec.count >= rec.max) continue
      const device = key.slice(conv.length + 1)
      const missing: number[] = []
      const upTo = rec.upTo ?? 0
      let expected = upTo + 1
      // walks the seen numbers above upTo in order and stops once enough holes are listed
      for await (const seen of this.seqs.keys({ gt: `${key}!${pad(upTo)}`, lt: `${key}"` })) {
        const n = Number(seen.slice(key.length + 1))
        while (expected < n && missing.length < MAX_GAPS_LISTED) missing.push(expected++)
        if (missing.length >= MAX_GAPS_LISTED) break
        expected = n + 1
      }
      while (expected <= rec.max && missing.length < MAX_GAPS_LISTED) missing.push(expected++)
      gaps.push({ device, author: rec.author, missing })
    }
    return gaps
  }

  /** A named integer cursor (e.g. the archive cursor); 0 when never set. */
  async getCursor (name: string): Promise<number> {
    return await this.cursors.get(name) ?? 0
  }

  async setCursor (name: string, value: number): Promise<void> {
    if (!Number.isSafeInteger(value)) throw new InvalidInputError(`invalid value for cursor "${printable(name)}": an integer`)
    await this.serial(async () => { await this.cursors.put(name, value) })
  }

  /** Keeps a signed envelope that has reached no one yet, to send again later. */
  async putOutbox (item: OutboxItem): Promise<void> {
    await this.writeOutbox({ type: 'put', sublevel: this.outbox, key: outboxKey(item), value: item })
  }

  async deleteOutbox (item: OutboxItem): Promise<void> {
    await this.writeOutbox({ type: 'del', sublevel: this.outbox, key: outboxKey(item) })
  }

  /**
   * Outbox puts and deletes (one of each per message sent) made in one turn of the event loop
   * are written in one batch, in the order made, at the next; each caller waits for that batch.
   */
  private async writeOutbox (op: Op): Promise<void> {
    let pending = this.outboxWrites
    if (pending == null) {
      const ops: Op[] = []
      const done = new Promise<void>((resolve, reject) => {
        setImmediate(() => {
          this.outboxWrites = undefined
          this.db.batch(ops).then(resolve, reject)
        })
      })
      pending = this.outboxWrites = { ops, done }
    }
    pending.ops.push(op)
    await pending.done
  }

  /** The oldest `limit` envelopes waiting to be sent. */
  async outboxItems (limit = 100): Promise<OutboxItem[]> {
    return await this.outbox.values({ limit: Math.min(limit, MAX_PAGE_LIMIT) }).all()
  }

  async close (): Promise<void> {
    await this.chain
    await this.sideChain
    await this.outboxWrites?.done.catch(() => {})
    await this.db.close()
  }

  /** Statuses belong to this account's messages in direct conversations. */
  private hasStatus (m: StoredMessage): boolean {
    return m.author === this.me && m.conv.startsWith('dm:')
  }

  /** A checked copy holding only the known fields, `status` only where statuses belong. */
  private normalise (m: StoredMessage): StoredMessage {
    if (!messageId.safeParse(m.id).success) throw new InvalidInputError(`invalid message id "${printable(String(m.id))}"`)
    checkConv(m.conv)
    if (typeof m.author !== 'string' || m.author === '') throw new InvalidInputError(`message ${m.id}: invalid author`)
    if (!isKeyPart(m.device)) throw new InvalidInputError(`message ${m.id}: invalid device`)
    if (!timestamp.safeParse(m.sentAt).success || m.sentAt > MAX_PADDED) throw new InvalidInputError(`message ${m.id}: invalid sentAt`)
    if (typeof m.receivedAt !== 'number' || !Number.isFinite(m.receivedAt)) throw new InvalidInputError(`message ${m.id}: invalid receivedAt`)
    if (typeof m.text !== 'string') throw new InvalidInputError(`message ${m.id}: invalid text`)
    if (m.n != null && (!Number.isSafeInteger(m.n) || m.n < 1 || m.n > MAX_PADDED)) throw new InvalidInputError(`message ${m.id}: invalid n`)
    if (m.status != null) checkStatus(m.status)
    const file = m.file == null ? undefined : fileOffer.safeParse(m.file)
    if (file?.success === false) throw new InvalidInputError(`message ${m.id}: invalid file offer`)
    const copy: StoredMessage = {
      id: m.id, conv: m.conv, author: m.author, device: m.device, sentAt: m.sentAt, text: m.text, receivedAt: m.receivedAt
    }
    if (m.n != null) copy.n = m.n
    if (m.status != null && this.hasStatus(m)) copy.status = m.status
    if (file?.success === true) copy.file = file.data
    return copy
  }

  /** Reads `keys` of `sublevel` into `into` (undefined for the missing ones), in slices. */
  private async loadInto<V> (cache: RecordCache<V>, into: Map<string, V | undefined>, keys: string[]): Promise<void> {
    const found = await cache.getMany(keys)
    keys.forEach((k, j) => into.set(k, found[j]))
  }
}

/** Orders cursors as their keys sort: by sentAt, then id. */
function compareCursors (a: MessageCursor, b: MessageCursor): number {
  if (a.sentAt !== b.sentAt) return a.sentAt < b.sentAt ? -1 : 1
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0
}

/** Zero-padded so that lexicographic key order is numeric order. */
function pad (n: number): string {
  return String(n).padStart(PAD, '0')
}

function outboxKey (item: OutboxItem): string {
  return `${String(item.queuedAt).padStart(PAD, '0')}!${item.id}`
}

function msgKey (conv: string, sentAt: number, id: string): string {
  return `${conv}!${pad(sentAt)}!${id}`
}

/** Rank of a status; an absent one ranks below 'sending'. */
function rank (status: MessageStatus | undefined): number {
  return status == null ? -1 : STATUSES.indexOf(status)
}

function isKeyPart (s: unknown): s is string {
  return typeof s === 'string' && s !== '' && !s.includes('!')
}

function checkConv (conv: string): void {
  if (!isKeyPart(conv)) throw new InvalidInputError(`invalid conversation "${printable(String(conv))}"`)
}

function checkStatus (status: MessageStatus): void {
  if (!STATUSES.includes(status)) throw new InvalidInputError(`invalid status "${printable(String(status))}"`)
}

function checkCursor (c: MessageCursor, what: string): void {
  if (c == null || !timestamp.safeParse(c.sentAt).success || c.sentAt > MAX_PADDED || !messageId.safeParse(c.id).success) {
    throw new InvalidInputError(`invalid ${what} cursor`)
  }
}

/** The first `max` characters, without cutting a surrogate pair in half. */
function firstChars (text: string, max: number): string {
  if (text.length <= max) return text
  const code = text.charCodeAt(max - 1)
  return text.slice(0, code >= 0xd800 && code <= 0xdbff ? max - 1 : max)
}
