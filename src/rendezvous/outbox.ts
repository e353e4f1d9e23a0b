/**
 * What the node sends down device sessions, batched (issue 10, rendezvous capacity). Presence is
 * the node's O(n) part: every session start or end is an event to every session, and writing each
 * one on its own costs a yamux frame, a noise encryption and a socket write per session (22% of
 * the node's CPU in a reconnect storm of 200 devices). Here a session's frames wait in a queue that
 * one shared timer flushes, all of them in one write; an event is encoded once for every session
 * it goes to; and a user's presence event replaces that user's earlier one still waiting in the
 * queue (the newer one carries the whole state, see `coalesce`).
 *
 * The timer fires every `flushMs`, or less often when so many sessions are open that a flush to
 * each of them every `flushMs` would exceed `writesPerSecond` (`interval()`): a write costs the
 * node ~150 µs on a 2-core machine whatever it carries, so with 1,000 sessions and a flush every
 * 25 ms presence alone would want 6 cores. Presence then reaches the other devices up to
 * `sessions / writesPerSecond` seconds late (0.5 s at 1,000 sessions by default), in the same
 * number of writes however many devices come and go meanwhile.
 */
import { encodeFrame } from '../protocol/index.js'
import type { PresenceEvent } from '../protocol/index.js'

export interface OutboxWriter {
  /** Writes the frames, in order, as one write; rejects when the stream is gone. */
  write: (frames: Uint8Array[]) => Promise<void>
  /** False once the stream can take no more writes (closed, reset): nothing is written then. */
  writable: () => boolean
}

type PresenceUpdate = Extract<PresenceEvent, { type: 'presence' }>

type Entry = { kind: 'frame', bytes: Uint8Array } | { kind: 'event', ev: PresenceEvent }

/**
 * The event that says what `earlier` then `later` (both presence events of one user) say, as a
 * device applies them (client.ts applyPresence): the later state, and the earlier `lastSeen` when
 * the later one has none. Only the online → offline → online blip in between is lost.
 */
export function coalesce (earlier: PresenceUpdate, later: PresenceUpdate): PresenceUpdate {
  return later.lastSeen == null && earlier.lastSeen != null ? { ...later, lastSeen: earlier.lastSeen } : later
}

/** One session's queue. Held (nothing written) until `release()`: the welcome goes first. */
export class Outbox {
  private queue: Entry[] = []
  /** The presence event of each user still in the queue, to be replaced by a newer one. */
  private presence = new Map<string, { kind: 'event', ev: PresenceUpdate }>()
  private inFlight = 0
  private writing = false
  private held = true
  private closed = false

  constructor (private readonly owner: Outboxes, private readonly writer: OutboxWriter, private readonly maxBacklog: number) {}

  /** Frames queued or being written. */
  get backlog (): number {
    return this.queue.length + this.inFlight
  }

  /** Queues an event; false when the session is too far behind (the caller closes it). */
  pushEvent (ev: PresenceEvent): boolean {
    if (this.closed) return true
    if (ev.type === 'presence') {
      // a user's newer presence replaces the one still waiting (in its place: it carries the whole state)
      const waiting = this.presence.get(ev.user)
      if (waiting != null) {
        waiting.ev = this.owner.coalesce(waiting.ev, ev)
        return true
      }
      const entry = { kind: 'event' as const, ev }
      if (!this.enqueue(entry, false)) return false
      this.presence.set(ev.user, entry)
      return true
    }
    return this.enqueue({ kind: 'event', ev }, false)
  }

  /** Queues any other frame; `urgent` ones (answers, mail notices) go out on the next turn. */
  pushFrame (frame: unknown, urgent = true): boolean {
    if (this.closed) return true
    return this.enqueue({ kind: 'frame', bytes: encodeFrame(frame) }, urgent)
  }

  /** Lets queued frames go out (after the welcome is written). */
  release (): void {
    this.held = false
    if (this.queue.length > 0) this.owner.schedule(this, true)
  }

  /** Drops the queue; nothing more is written. */
  close (): void {
    if (!this.closed) this.owner.closed(this)
    this.closed = true
    this.queue = []
    this.presence.clear()
  }

  /** Writes what is queued, in one write; called by Outboxes. */
  flush (): void {
    if (this.held || this.closed || this.writing || this.queue.length === 0) return
    if (!this.writer.writable()) {
      // the stream is gone; the session's reader ends it
      this.queue = []
      this.presence.clear()
      return
    }
    const batch = this.queue
    this.queue = []
    this.presence = new Map()
    const frames: Uint8Array[] = []
    let lastEvent = -1
    let dropped = false
    for (const e of batch) {
      if (e.kind === 'frame') {
        frames.push(e.bytes)
        continue
      }
      // an event too big for a frame is dropped here: it must never throw out of a timer and stop the node
      try {
        frames.push(this.owner.encodeEvent(e.ev))
        lastEvent = frames.length - 1
      } catch {
        dropped = true
      }
    }
    // every directory change up to now was queued here as an event (directory.ts): once the device
    // has read this batch's last one, it holds the directory at the version that one carries
    if (lastEvent >= 0 && !dropped) frames[lastEvent] = this.owner.withVersion(frames[lastEvent]!)
    this.writing = true
    this.inFlight = frames.length
    const done = (): void => {
      this.writing = false
      this.inFlight = 0
      if (this.queue.length > 0) this.owner.schedule(this, true)
    }
    this.writer.write(frames).then(done, done)
  }

  private enqueue (entry: Entry, urgent: boolean): boolean {
    if (this.backlog >= this.maxBacklog) return false
    this.queue.push(entry)
    this.owner.schedule(this, urgent)
    return true
  }
}

/** Every session's outbox, flushed by one shared timer rather than a write per frame. */
export class Outboxes {
  /** Outboxes opened and not yet closed: the sessions a timed flush may write to. */
  private sessions = 0
  private readonly due = new Set<Outbox>()
  private readonly urgent = new Set<Outbox>()
  private timer?: NodeJS.Timeout
  private immediate?: NodeJS.Immediate
  /** Callers of `flushed()` waiting for the next timed flush. */
  private waiters: Array<() => void> = []
  /** The encoded frame of each event, shared by every session it goes to. */
  private encoded = new WeakMap<PresenceEvent, Uint8Array>()
  private merged = new WeakMap<PresenceUpdate, { later: PresenceUpdate, result: PresenceUpdate }>()
  /** The last frame `withVersion` made, for the next session with the same last event. */
  private versioned?: { frame: Uint8Array, v: number, out: Uint8Array }

  /**
   * @param flushMs how long an event may wait to be batched with others
   * @param writesPerSecond the timed flushes' writes a second, over all sessions, that make the
   *   timer slower than `flushMs` (see the top of this file)
   * @param version the directory's version now, which the last event of each batch carries (none: no version)
   */
  constructor (private readonly flushMs: number, private readonly writesPerSecond = Infinity, private readonly version?: () => number) {}

  open (writer: OutboxWriter, maxBacklog: number): Outbox {
    this.sessions++
    return new Outbox(this, writer, maxBacklog)
  }

  /** Milliseconds between timed flushes with the sessions open now. */
  interval (): number {
    return Math.max(this.flushMs, this.sessions * 1000 / this.writesPerSecond)
  }

  /** `coalesce`, once for all the sessions that had the same event waiting (so one encoding serves them). */
  coalesce (earlier: PresenceUpdate, later: PresenceUpdate): PresenceUpdate {
    const last = this.merged.get(earlier)
    if (last?.later === later) return last.result
    const result = coalesce(earlier, later)
    this.merged.set(earlier, { later, result })
    return result
  }

  /** The `{ t: 'event', ev }` frame, encoded once per event. */
  encodeEvent (ev: PresenceEvent): Uint8Array {
    let bytes = this.encoded.get(ev)
    if (bytes == null) {
      bytes = encodeFrame({ t: 'event', ev })
      this.encoded.set(ev, bytes)
    }
    return bytes
  }

  /**
   * An encoded event frame with the directory's version now added as its `v`; the same bytes for
   * every session whose batch ends with that event at that version (most of them, in one flush).
   */
  withVersion (frame: Uint8Array): Uint8Array {
    if (this.version == null) return frame
    const v = this.version()
    if (this.versioned?.frame === frame && this.versioned.v === v) return this.versioned.out
    const tail = Buffer.from(`,"v":${v}}`)
    // the frame is `{"t":"event","ev":{...}}`: the version goes in before its last brace
    const out = new Uint8Array(frame.length - 1 + tail.length)
    out.set(frame.subarray(0, frame.length - 1))
    out.set(tail, frame.length - 1)
    this.versioned = { frame, v, out }
    return out
  }

  schedule (box: Outbox, urgent: boolean): void {
    if (urgent) {
      this.urgent.add(box)
      this.immediate ??= setImmediate(() => {
        this.immediate = undefined
        const boxes = [...this.urgent]
        this.urgent.clear()
        for (const b of boxes) {
          this.due.delete(b)
          b.flush()
        }
      })
      return
    }
    this.due.add(box)
    this.timer ??= setTimeout(() => { this.flushAll() }, this.interval())
  }

  /** The outbox is closed for good: nothing more to write, and one session fewer. */
  closed (box: Outbox): void {
    this.due.delete(box)
    this.urgent.delete(box)
    this.sessions--
  }

  /**
   * Resolves once the events queued so far have been handed to their streams (at the next timed
   * flush; at once when none wait), or after `flushMs` when the next flush is later than that. A
   * welcome waits for this, so that when a device is welcomed every other session has already
   * been sent the event that it came online, as when each event was written at once; with more
   * sessions than `writesPerSecond` allows at `flushMs`, the others hear of it at the next flush.
   */
  async flushed (): Promise<void> {
    if (this.timer == null) return
    await new Promise<void>(resolve => {
      const timeout = setTimeout(resolve, this.flushMs)
      this.waiters.push(() => { clearTimeout(timeout); resolve() })
    })
  }

  /** Writes every queued frame now. */
  flushAll (): void {
    clearTimeout(this.timer)
    this.timer = undefined
    const boxes = [...this.due]
    this.due.clear()
    for (const b of boxes) b.flush()
    const waiters = this.waiters
    this.waiters = []
    for (const w of waiters) w()
  }

  stop (): void {
    clearTimeout(this.timer)
    this.timer = undefined
    if (this.immediate != null) clearImmediate(this.immediate)
    this.immediate = undefined
    this.due.clear()
    this.urgent.clear()
    for (const w of this.waiters.splice(0)) w()
    this.encoded = new WeakMap()
    this.merged = new WeakMap()
    this.versioned = undefined
  }
}
