/**
 * Files for people who are offline, the sender's side (issue 9, "to someone offline, the file
 * waits at the rendezvous node sealed to the recipient's account key, within a per-account
 * quota"): when no device of the recipient took the offer, this device leaves the file at the
 * node, each chunk sealed to the recipient's account key (file-archive.ts), in the background.
 * A record in the store says which uploads are not finished, so one cut by a restart goes on
 * from what the node holds (at most the parts that were in flight go again). A refusal by the
 * node (quota, size) is final: the offer still stands for a direct transfer.
 */
import { createHash } from 'node:crypto'
import { open, readFile, stat } from 'node:fs/promises'
import {
  CHUNK_HASH_BYTES, chunkLength, printable,
  MeshchatError, UnknownFileError, UnknownUserError, TimeoutError
} from '../protocol/index.js'
import { readFully } from './file-disk.js'
import { newMeter, tick, snapshot } from './file-meter.js'
import type { Meter } from './file-meter.js'
import type { NodeFileStore } from './file-node-source.js'
import type { FileProgress } from './files.js'
import type { FileOffer } from '../protocol/index.js'
import type { ClientStore, UploadRecord } from '../store/index.js'
import type { AbortOptions } from '@libp2p/interface'

/** Refusals that another try would meet again: the upload stops (failed) until offered anew. */
export const FINAL_UPLOAD_ERRORS = new Set([
  'QuotaExceededError', 'FileTooLargeError', 'UnknownUserError', 'AccountDisabledError', 'InvalidInputError', 'UnknownFileError', 'FileVerificationError'
])
/** Automatic retries of a paused upload while connected, before it waits for the next reconnect. */
export const MAX_UPLOAD_RETRIES = 8
/** Stored copies asked after (is it still at the node?) each time the node is reachable again. */
export const MAX_STATUS_CHECKS = 100
const RETRY_MIN_MS = 2_000
const RETRY_MAX_MS = 5 * 60_000

export interface UploadsDeps {
  store: () => ClientStore
  node: () => NodeFileStore | undefined
  /** The recipient's account public key (base64url X25519) from the directory. */
  accountKeyOf: (user: string, options: AbortOptions) => Promise<string | null>
  /** Where the chunk hashes of a file this device shares are kept. */
  manifestPath: (sha256: string) => string
  /** Aborts when the client stops. */
  signal: () => AbortSignal
  /** The upload moved (throttled) or changed state: tell the UI. */
  changed: (rec: UploadRecord) => void
  devicesOf: (user: string, options: AbortOptions) => Promise<Array<{ peer: string }>>
}

export interface UploadJob {
  rec: UploadRecord
  meter: Meter
  listeners: Set<(p: FileProgress) => void>
  /** Settles once the node reserved room for the whole file (or held it already), or refused. */
  reserved: Promise<void>
  done: Promise<UploadRecord>
  /** Stops this upload only (the recipient fetched the file from this device meanwhile). */
  cancel: AbortController
}

/** Sealed uploads of this device: started by `Files.send`, resumed by `resumeAll`. */
export class SealedUploads {
  private readonly live = new Map<string, UploadJob>()
  private readonly retries = new Map<string, { count: number, timer?: NodeJS.Timeout }>()
  /** Recipients of uploads not deleted yet, by sha256: who fetching it directly makes the copy moot. */
  private readonly pending = new Map<string, Set<string>>()
  private stopped = false

  /** `attempts`: chunk puts begun per sha256 (an upload that resumes sends only what the node lacks). */
  constructor (private readonly deps: UploadsDeps, readonly attempts = new Map<string, number>()) {}

  /** Marks the uploads a killed process left running as paused. */
  async start (): Promise<void> {
    this.stopped = false
    const store = this.deps.store().files
    this.pending.clear()
    for (const u of await store.allUploads()) {
      if (u.state === 'uploading') await store.putUpload({ ...u, state: 'paused', updatedAt: Date.now() })
      if (u.state !== 'failed') this.remember(u.to, u.sha256)
    }
  }

  private remember (to: string, sha256: string): void {
    const set = this.pending.get(sha256) ?? new Set<string>()
    set.add(to)
    this.pending.set(sha256, set)
  }

  /**
   * This device served the last chunk of `sha256` to `peer`: when that is a device of someone
   * the file was being left for, they have it (they verify it, and the sender is honest), so
   * the upload stops and the node's copy goes, freeing their quota.
   */
  served (sha256: string, index: number, peer: string): void {
    const recipients = this.pending.get(sha256)
    if (recipients == null || this.stopped) return
    void (async () => {
      for (const to of [...recipients]) {
        const rec = await this.deps.store().files.upload(to, sha256)
        if (rec == null || index !== rec.chunks - 1) continue
        const devices = await this.deps.devicesOf(to, { signal: AbortSignal.timeout(5_000) }).catch(() => [])
        if (devices.some(d => d.peer === peer)) await this.cancel(to, sha256)
      }
    })().catch(() => {})
  }

  /** Stops an upload, forgets it, and deletes what the node holds of it (best effort). */
  async cancel (to: string, sha256: string): Promise<void> {
    const k = key(to, sha256)
    const job = this.live.get(k)
    clearTimeout(this.retries.get(k)?.timer)
    this.retries.delete(k)
    if (job != null) {
      job.cancel.abort(new UnknownFileError('the recipient fetched the file directly'))
      await job.done.catch(() => {})
    }
    await this.deps.store().files.deleteUpload(to, sha256)
    this.pending.get(sha256)?.delete(to)
    if (this.pending.get(sha256)?.size === 0) this.pending.delete(sha256)
    await this.deps.node()?.delete({ sha256, to }, { signal: AbortSignal.timeout(5_000) }).catch(() => {})
  }

  /** Waits (bounded) for the running uploads, which the client's signal aborted; they stay paused. */
  async stop (): Promise<void> {
    this.stopped = true
    for (const r of this.retries.values()) clearTimeout(r.timer)
    this.retries.clear()
    const all = [...this.live.values()].map(async j => await j.done.catch(() => {}))
    await Promise.race([Promise.all(all), new Promise(resolve => setTimeout(resolve, 5_000).unref())])
  }

  /** The running upload of `sha256` to `to`, for the file list. */
  meterOf (to: string, sha256: string): Meter | undefined {
    return this.live.get(key(to, sha256))?.meter
  }

  /**
   * Leaves the file offered as `offer` in `conv` at the node for `to`: records it, then uploads
   * in the background. `reserved` settles once the node took (or refused) the whole file's room.
   */
  async begin (to: string, conv: string, offer: FileOffer, onProgress?: (p: FileProgress) => void): Promise<UploadJob> {
    const store = this.deps.store().files
    const old = await store.upload(to, offer.sha256)
    const now = Date.now()
    const rec: UploadRecord = {
      sha256: offer.sha256,
      to,
      conv,
      name: offer.name,
      size: offer.size,
      chunkSize: offer.chunkSize,
      chunks: offer.chunks,
      state: 'uploading',
      stored: old?.stored ?? 0,
      startedAt: old?.startedAt ?? now,
      updatedAt: now
    }
    return this.launch(rec, onProgress)
  }

  /**
   * The node is reachable (again): every paused upload goes on, with a fresh round of retries;
   * a stored copy the node no longer holds (fetched by the recipient, or past its retention) is
   * forgotten here too.
   */
  resumeAll (): void {
    const node = this.deps.node()
    if (this.stopped || node == null) return
    for (const r of this.retries.values()) clearTimeout(r.timer)
    this.retries.clear()
    void (async () => {
      const store = this.deps.store().files
      let checked = 0
      for (const u of await store.allUploads()) {
        if (this.stopped) return
        if (u.state === 'stored' && checked++ < MAX_STATUS_CHECKS) {
          const status = await node.status(u.to, u.sha256, { signal: AbortSignal.any([this.deps.signal(), AbortSignal.timeout(10_000)]) }).catch(() => undefined)
          if (status != null && status.file == null && !this.live.has(key(u.to, u.sha256))) {
            await store.deleteUpload(u.to, u.sha256)
            this.pending.get(u.sha256)?.delete(u.to)
            this.deps.changed({ ...u })
          }
          continue
        }
        if ((u.state !== 'paused' && u.state !== 'uploading') || this.live.has(key(u.to, u.sha256))) continue
        const job = this.launch(u)
        job.done.catch(() => {})
      }
    })().catch(() => {})
  }

  private launch (rec: UploadRecord, onProgress?: (p: FileProgress) => void): UploadJob {
    const k = key(rec.to, rec.sha256)
    const running = this.live.get(k)
    if (running != null) {
      if (onProgress != null) running.listeners.add(onProgress)
      return running
    }
    const reserved = Promise.withResolvers<undefined>()
    reserved.promise.catch(() => {})
    const job: UploadJob = {
      rec,
      meter: newMeter('uploading', rec.size),
      listeners: new Set(onProgress == null ? [] : [onProgress]),
      reserved: reserved.promise,
      done: Promise.resolve(rec),
      cancel: new AbortController()
    }
    this.remember(rec.to, rec.sha256)
    job.done = this.run(job, () => { reserved.resolve(undefined) })
      .then(r => { reserved.resolve(undefined); return r }, (err: unknown) => { reserved.reject(err); throw err })
      .finally(() => { this.live.delete(k) })
    job.done.catch(() => {})
    this.live.set(k, job)
    return job
  }

  private async run (job: UploadJob, onReserved: () => void): Promise<UploadRecord> {
    const { rec } = job
    const store = this.deps.store().files
    const node = this.deps.node()
    const signal = AbortSignal.any([this.deps.signal(), job.cancel.signal])
    rec.state = 'uploading'
    delete rec.error
    rec.updatedAt = Date.now()
    await store.putUpload(rec)
    this.deps.changed({ ...rec })
    const total = rec.chunks + 1
    const tell = (force = false): void => {
      const bytes = Math.min(rec.size, Math.max(0, rec.stored - 1) * rec.chunkSize)
      if (!tick(job.meter, rec.stored >= total ? rec.size : bytes) && !force) return
      const p: FileProgress = { id: rec.sha256, name: rec.name, ...snapshot(job.meter) }
      for (const l of job.listeners) {
        try { l(p) } catch { /* a listener's bug must not stop the upload */ }
      }
      this.deps.changed({ ...rec })
    }
    let fd
    try {
      if (node == null) throw new MeshchatError('this device cannot reach a rendezvous node')
      const share = await store.share(rec.sha256)
      if (share == null) throw new UnknownFileError(`${printable(rec.name)} is no longer shared by this device; offer it again`)
      const st = await stat(share.path).catch(() => undefined)
      if (st == null || st.size !== share.size || st.mtimeMs !== share.mtimeMs) {
        throw new UnknownFileError(`${printable(share.path, 200)} changed or went away since it was offered; offer it again`)
      }
      const manifest = await readFile(this.deps.manifestPath(rec.sha256))
      if (manifest.byteLength !== rec.chunks * CHUNK_HASH_BYTES) throw new UnknownFileError(`the chunk hashes of ${printable(rec.name)} are missing here; offer it again`)
      const recipientKey = await this.deps.accountKeyOf(rec.to, { signal })
      if (recipientKey == null) throw new UnknownUserError(`${rec.to} has no account key yet`)
      const file = await open(share.path, 'r')
      fd = file
      const res = await node.upload({
        to: rec.to,
        recipientKey,
        sha256: rec.sha256,
        size: rec.size,
        chunkSize: rec.chunkSize,
        chunks: rec.chunks,
        manifest,
        readChunk: async index => {
          this.attempts.set(rec.sha256, (this.attempts.get(rec.sha256) ?? 0) + 1)
          const length = chunkLength(rec, index)
          const buf = Buffer.alloc(length)
          await readFully(file, buf, 0, length, index * rec.chunkSize)
          // what goes to the node is what the offer vouches for, or nothing
          const at = index * CHUNK_HASH_BYTES
          if (!createHash('sha256').update(buf).digest().equals(manifest.subarray(at, at + CHUNK_HASH_BYTES))) {
            throw new UnknownFileError(`${printable(share.path, 200)} changed since it was offered; offer it again`)
          }
          return buf
        }
      }, {
        signal,
        onProgress: p => {
          onReserved()
          rec.stored = p.stored
          tell()
        }
      })
      rec.stored = res.file.stored
      rec.state = 'stored'
      rec.updatedAt = Date.now()
      await store.putUpload(rec)
      this.retries.delete(key(rec.to, rec.sha256))
      tell(true)
      return rec
    } catch (err) {
      if (job.cancel.signal.aborted) throw job.cancel.signal.reason
      const e = err instanceof MeshchatError ? err : signal.aborted ? new TimeoutError('the client is stopping') : new MeshchatError((err as Error).message.split('\n')[0] ?? 'upload failed')
      rec.state = FINAL_UPLOAD_ERRORS.has(e.name) ? 'failed' : 'paused'
      rec.error = { name: e.name, message: e.message }
      rec.updatedAt = Date.now()
      await store.putUpload(rec).catch(() => {})
      this.deps.changed({ ...rec })
      if (rec.state === 'paused') this.retryLater(rec)
      else this.pending.get(rec.sha256)?.delete(rec.to)
      throw e
    } finally {
      await fd?.close().catch(() => {})
    }
  }

  /** A paused upload tries again after a growing pause, a bounded number of times. */
  private retryLater (rec: UploadRecord): void {
    if (this.stopped || this.deps.signal().aborted) return
    const k = key(rec.to, rec.sha256)
    const r = this.retries.get(k) ?? { count: 0 }
    if (r.count >= MAX_UPLOAD_RETRIES) return
    r.count++
    clearTimeout(r.timer)
    r.timer = setTimeout(() => {
      r.timer = undefined
      if (this.stopped || this.live.has(k)) return
      void this.deps.store().files.upload(rec.to, rec.sha256).then(u => {
        if (u?.state === 'paused' && !this.stopped) this.launch(u).done.catch(() => {})
      }).catch(() => {})
    }, Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** (r.count - 1)))
    r.timer.unref()
    this.retries.set(k, r)
  }
}

function key (to: string, sha256: string): string {
  return `${to}!${sha256}`
}
