/**
 * The serving side of files on one device (issue 9): who may fetch a shared file (this account's
 * own devices, or someone in a chat or room it was offered in), how many transfers this device
 * serves at once (per device and in all), and what the offers' cards show of it: each transfer
 * under way with its progress, and who got all of a file. The bytes themselves go through
 * file-transfer.ts's serveFile; files.ts wires it to this.
 */
import { dmConversation, ServerBusyError, UnknownFileError } from '../protocol/index.js'
import { newMeter, rateOf, tick } from './file-meter.js'
import type { Meter } from './file-meter.js'
import type { ServeStart, ServeWatch } from './file-transfer.js'
import type { ClientEvent } from './events.js'
import type { ClientStore, OfferRecord, ShareRecord } from '../store/index.js'
import type { FileEntry, ServingState } from './files.js'

/** Transfers an entry lists in `serving`, at most. */
export const MAX_SERVING_SHOWN = 4
/** People an entry lists in `sentTo`, at most (the latest), and files this remembers them for. */
const MAX_SENT_TO = 16
const MAX_SENT_FILES = 256

/** A transfer this device serves now (see ServingState); `conv` admitted it (null: this account's own device). */
interface Serve {
  peer: string
  user: string
  conv: string | null
  meter: Meter
}

/** A moment's view of what this device sends of one file (see FileServing.now). */
export interface ServedNow {
  moving: Array<{ serve: Serve, bytes: number, total: number, rate: number }>
  sent: Array<{ user: string, conv: string | null }>
}

export interface FileServingDeps {
  me: () => string
  store: () => ClientStore
  /** May `user` post to `room`, as far as this device knows (rooms.ts admits). */
  roomAdmits: (room: string, user: string) => 'yes' | 'no' | 'unknown'
  emit: (ev: ClientEvent) => void
  /** An offer's card as it stands, with what was served at a given moment (files.ts entryOf). */
  cardOf: (o: OfferRecord, served: ServedNow) => Promise<FileEntry>
  /** Transfers served at once to one device, and in all. */
  limits: () => { perPeer: number, total: number }
  /** Counts a transfer refused because too many were served (for tests and the bench). */
  busy: () => void
}

export class FileServing {
  /** Transfers served now, per requesting device. */
  private readonly perPeer = new Map<string, number>()
  private total = 0
  /** Transfers served now, by sha256; and who got all of a file, by sha256 (this process only). */
  private readonly outgoing = new Map<string, Serve[]>()
  private readonly sent = new Map<string, Array<{ user: string, conv: string | null }>>()
  /** The events about a file served now, in order, by sha256. */
  private readonly telling = new Map<string, Promise<void>>()
  /** Shared files found changed on disk, told once each. */
  private readonly warned = new Set<string>()

  constructor (private readonly deps: FileServingDeps) {}

  /** Transfers served now, to every device. */
  get count (): number {
    return this.total
  }

  /** The share `user` may fetch: their own account's, or offered in a chat or room they are in. */
  async authorize (sha256: string, user: string): Promise<ShareRecord> {
    const share = await this.deps.store().files.share(sha256)
    if (share == null || this.admitting(share, user) === undefined) throw new UnknownFileError('this device has no such file for you')
    return share
  }

  /**
   * A slot to serve one transfer to `peer`, released by the function returned; refused with
   * ServerBusyError past the limits (the requester retries).
   */
  acquire (peer: string): () => void {
    const { perPeer, total } = this.deps.limits()
    const n = this.perPeer.get(peer) ?? 0
    if (n >= perPeer || this.total >= total) {
      this.deps.busy()
      throw new ServerBusyError(n >= perPeer ? `this device already sends ${n} files to yours; retry when one is done` : `this device already sends ${this.total} files; retry shortly`)
    }
    this.perPeer.set(peer, n + 1)
    this.total++
    let released = false
    return () => {
      if (released) return
      released = true
      this.total--
      const left = (this.perPeer.get(peer) ?? 1) - 1
      if (left <= 0) this.perPeer.delete(peer)
      else this.perPeer.set(peer, left)
    }
  }

  /**
   * A device began fetching a file from this one: its offers' cards show how far it got
   * (throttled like downloads), and once it ends whether all of it went ("sent to bob").
   */
  watch (t: ServeStart): ServeWatch {
    const meter = newMeter('uploading', t.total)
    meter.bytes = t.from
    const serve: Serve = { peer: t.peer, user: t.user, conv: null, meter }
    const list = this.outgoing.get(t.sha256) ?? []
    list.push(serve)
    this.outgoing.set(t.sha256, list)
    // which conversation admitted it decides which cards show it (read once; authorize checked it)
    const ready = this.deps.store().files.share(t.sha256).then(share => {
      serve.conv = share == null ? null : this.admitting(share, t.user) ?? null
    }).catch(() => {})
    const changed = (): void => {
      const now = this.now(t.sha256)
      void ready.then(() => { this.tell(t.sha256, serve.conv, now) })
    }
    changed()
    let ended = false
    return {
      sent: bytes => {
        if (ended || !tick(meter, bytes)) return
        changed()
      },
      end: whole => {
        if (ended) return
        ended = true
        const left = (this.outgoing.get(t.sha256) ?? []).filter(s => s !== serve)
        if (left.length === 0) this.outgoing.delete(t.sha256)
        else this.outgoing.set(t.sha256, left)
        if (whole) this.rememberSent(t.sha256, t.user, serve.conv)
        changed()
      }
    }
  }

  /** A shared file changed or went away on disk: it is not served, and the user is told once. */
  changed (sha256: string): void {
    if (this.warned.has(sha256)) return
    this.warned.add(sha256)
    void this.deps.store().files.share(sha256).then(share => {
      this.deps.emit({ type: 'error', error: { name: 'UnknownFileError', message: `${share?.path ?? sha256} changed or went away since it was offered: it is not served; offer it again` } })
    }).catch(() => {})
  }

  /** The transfers of `sha256` this device serves now, as they stand, and who got all of it. */
  now (sha256: string): ServedNow {
    return {
      moving: (this.outgoing.get(sha256) ?? []).map(s => ({ serve: s, bytes: s.meter.bytes, total: s.meter.total, rate: Math.round(rateOf(s.meter)) })),
      sent: [...(this.sent.get(sha256) ?? [])]
    }
  }

  /**
   * What this device sends of `o`'s file at the moment `served` was taken (at most
   * MAX_SERVING_SHOWN, with `upload`, the file going up to the node, after the device transfers), and
   * to whom it sent all of it: FileEntry.serving and sentTo, for the offer's conversation.
   */
  of (o: OfferRecord, served: ServedNow, upload?: ServingState): Pick<FileEntry, 'serving' | 'sentTo'> {
    const relevant = (conv: string | null): boolean => conv == null || conv === o.conv
    const serving: ServingState[] = served.moving.filter(m => relevant(m.serve.conv)).slice(0, MAX_SERVING_SHOWN)
      .map(m => ({ to: m.serve.user, via: 'device', bytes: m.bytes, total: m.total, rate: m.rate }))
    if (upload != null && serving.length < MAX_SERVING_SHOWN) serving.push(upload)
    const sentTo = [...new Set(served.sent.filter(s => relevant(s.conv)).map(s => s.user))]
    return { ...(serving.length === 0 ? {} : { serving }), ...(sentTo.length === 0 ? {} : { sentTo }) }
  }

  /** The conversation through which `user` may fetch `share` (null: this account's own), or undefined. */
  private admitting (share: ShareRecord, user: string): string | null | undefined {
    const me = this.deps.me()
    if (user === me) return null
    for (const conv of share.convs) {
      if (conv.startsWith('dm:') && conv === dmConversation(me, user)) return conv
      if (conv.startsWith('room:') && this.deps.roomAdmits(conv.slice(5), user) === 'yes') return conv
    }
    return undefined
  }

  private rememberSent (sha256: string, user: string, conv: string | null): void {
    const list = (this.sent.get(sha256) ?? []).filter(s => s.user !== user || s.conv !== conv)
    list.push({ user, conv })
    this.sent.delete(sha256)
    this.sent.set(sha256, list.slice(-MAX_SENT_TO))
    // the oldest files are forgotten first (a Map keeps insertion order)
    while (this.sent.size > MAX_SENT_FILES) this.sent.delete(this.sent.keys().next().value!)
  }

  /** A transfer of `sha256` through `conv` (null: to this account's own device, every offer) moved or ended. */
  private tell (sha256: string, conv: string | null, served: ServedNow): void {
    // one after the other, so a later moment is never told before an earlier one
    const next = (this.telling.get(sha256) ?? Promise.resolve()).then(async () => {
      for (const o of await this.deps.store().files.offersOf(sha256)) {
        if (conv == null || o.conv === conv) this.deps.emit({ type: 'file', file: await this.deps.cardOf(o, served) })
      }
    }).catch(() => {})
    this.telling.set(sha256, next)
    void next.then(() => { if (this.telling.get(sha256) === next) this.telling.delete(sha256) })
  }
}
