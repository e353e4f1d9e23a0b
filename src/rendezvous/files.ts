/**
 * The rendezvous node's sealed file store (issue 9, "to someone offline"). Any logged-in account
 * may leave a file for another account, one sealed part at a time; only devices of that account
 * may list, fetch and delete it. The node cannot open what it keeps.
 *
 * On disk: `<dataDir>/files/<to>/<from>/<sha256>/<part>` (`part` is a chunk index or `manifest`),
 * each written to a temporary name, synced, then renamed, so a part is either whole or absent.
 * In LevelDB (store/file-records.ts): one record per upload and one key per part, written only
 * after its file is in place, and the per-account totals. A crash can leave at most a part file
 * that no record names (the one being written); the startup check removes those.
 *
 * Uploads are keyed by sender as well as by recipient and hash: a third account that knows a
 * file's hash can neither pre-fill an upload with garbage nor learn that someone else sent it.
 *
 * Limits: the recipient's quota (`fileQuotaBytes`), a sender's share (`fileSenderQuotaBytes`:
 * what one account may have waiting for all its recipients together, half the quota by default,
 * so no single sender fills anyone's quota), the largest file (`fileMaxBytes`: FileTooLargeError), files per
 * recipient (MAX_WAITING_FILES), and a retention (`fileRetentionDays`) applied at startup and daily.
 */
import { randomBytes } from 'node:crypto'
import { mkdir, open, readdir, readFile, rename, rm, rmdir, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { lpStream } from '@libp2p/utils'
import {
  FILE_STORE_PROTOCOL, MAX_FILE_STORE_HEADER_BYTES, MAX_SEALED_PART_BYTES, MAX_WAITING_FILES, MAX_WAITING_FILES_PER_SENDER, fileStoreRequest, sealedPartBytes, sealedFileBytes, storedChunksFit,
  encodeFrame, toWireError, InvalidInputError, InvalidMessageError, QuotaExceededError, RateLimitedError, ServerBusyError,
  UnknownUserError, AccountDisabledError, OfflineError, UnknownFileError, FileTooLargeError, isUsername
} from '../protocol/index.js'
import { readFrame } from '../net/index.js'
import type { Certificate, FileStoreRequest, WaitingFile, RateLimiter } from '../protocol/index.js'
import type { AccountRecord, FileRecord, PartName, RendezvousState } from '../store/index.js'
import type { MeshNode } from '../net/index.js'
import { Semaphore } from './semaphore.js'
import type { Logger } from './log.js'
import type { Connection, Stream } from '@libp2p/interface'

const GiB = 1024 * 1024 * 1024
export const DEFAULT_FILE_QUOTA_BYTES = GiB
export const DEFAULT_FILE_MAX_BYTES = 4 * GiB
export const DEFAULT_FILE_RETENTION_DAYS = 30
/** How long a handler waits for a request header, and for the sealed part after it. */
const HEADER_TIMEOUT_MS = 5_000
const BODY_TIMEOUT_MS = 120_000
const WRITE_TIMEOUT_MS = 60_000
const DAY_MS = 24 * 60 * 60 * 1000
/** Sealed parts read or written at once across the node (each up to 4 MiB in memory), and waiting. */
const MAX_PARTS_IN_MEMORY = 32
const MAX_PARTS_QUEUED = 1024
const MAX_PARTS_PER_DEVICE = 8
const FILES_DIR = 'files'
const TEMP_MARK = '.tmp-'

export interface FileStoreInit {
  /** The node's data folder; sealed parts go under `files/` in it. */
  dataDir: string
  state: () => RendezvousState
  /** Checks a device certificate against the connection it came on (rendezvous.ts). */
  authenticate: (cert: Certificate, connection: Connection) => Promise<AccountRecord>
  log: Logger
  /** Sealed bytes that may wait for one account. @default 1 GiB */
  quotaBytes?: number
  /** Sealed bytes one sender may have waiting for all its recipients together. @default quotaBytes / 2 */
  senderQuotaBytes?: number
  /** Largest file (plaintext size) that may wait. @default 4 GiB */
  maxFileBytes?: number
  /** Files older than this are deleted (at startup and once a day). @default 30 */
  retentionDays?: number
  /** The clock, for tests of retention. */
  now?: () => number
}

export interface FileStoreLimits {
  rateLimiter?: RateLimiter
  maxInboundStreams?: number
  onError?: (err: unknown, ctx: { connection: Connection }) => void
}

/** Sizes for people: `1.5 MiB`. */
export function sizeText (n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let v = n
  let u = 0
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++ }
  return u === 0 ? `${n} B` : `${Number(v.toFixed(1))} ${units[u]}`
}

function isDiskFull (err: unknown): boolean {
  const code = (err as { code?: string }).code
  return code === 'ENOSPC' || code === 'EDQUOT'
}

export class FileStore {
  readonly root: string
  private readonly quota: number
  private readonly senderQuota: number
  private readonly maxFile: number
  private readonly retentionMs: number
  private timer?: NodeJS.Timeout
  private readonly now: () => number
  /** Sealed parts in memory at once (up to 4 MiB each), node-wide; past the queue: ServerBusyError. */
  private readonly slots = new Semaphore(MAX_PARTS_IN_MEMORY, MAX_PARTS_QUEUED)
  /** Parts moving (up or down) per device, so that one device cannot take every slot. */
  private readonly inFlight = new Map<string, number>()

  constructor (private readonly init: FileStoreInit) {
    this.root = join(init.dataDir, FILES_DIR)
    this.quota = init.quotaBytes ?? DEFAULT_FILE_QUOTA_BYTES
    this.senderQuota = init.senderQuotaBytes ?? Math.floor(this.quota / 2)
    this.maxFile = init.maxFileBytes ?? DEFAULT_FILE_MAX_BYTES
    this.retentionMs = (init.retentionDays ?? DEFAULT_FILE_RETENTION_DAYS) * DAY_MS
    this.now = init.now ?? Date.now
  }

  private get records (): RendezvousState['files'] {
    return this.init.state().files
  }

  /** Checks disk against records, drops expired files, serves the protocol, and expires daily. */
  async start (node: MeshNode, limits: FileStoreLimits = {}): Promise<void> {
    await mkdir(this.root, { recursive: true, mode: 0o700 })
    await this.check()
    await this.expire()
    await node.handle(FILE_STORE_PROTOCOL, async (stream, connection) => { await this.serve(stream, connection, limits) }, { maxInboundStreams: limits.maxInboundStreams ?? 32 })
    this.timer = setInterval(() => {
      this.expire().catch(err => { this.init.log.error('file retention failed', { error: (err as Error).message }) })
    }, DAY_MS)
    this.timer.unref()
  }

  stop (): void {
    clearInterval(this.timer)
    this.timer = undefined
  }

  private dir (to: string, from: string, sha256: string): string {
    return join(this.root, to, from, sha256)
  }

  private path (to: string, from: string, sha256: string, part: PartName): string {
    return join(this.dir(to, from, sha256), String(part))
  }

  /**
   * The startup check: rebuilds the totals from the records, removes part files that no record
   * names (a write cut by a crash, a deletion cut half-way) and records of parts whose file is gone.
   */
  async check (): Promise<{ removedFiles: number, removedParts: number }> {
    await this.records.recount()
    let removedFiles = 0
    let removedParts = 0
    const known = new Map<string, FileRecord>()
    for (const r of await this.records.listAll()) known.set(`${r.to}/${r.from}/${r.sha256}`, r)
    for (const to of await readdir(this.root).catch(() => [])) {
      for (const from of await readdir(join(this.root, to)).catch(() => [])) {
        for (const sha of await readdir(join(this.root, to, from)).catch(() => [])) {
          const record = known.get(`${to}/${from}/${sha}`)
          const dir = join(this.root, to, from, sha)
          if (record == null) {
            await rm(dir, { recursive: true, force: true })
            removedFiles++
            continue
          }
          const parts = new Set((await this.records.parts(to, from, sha)).map(String))
          const present = new Set<string>()
          for (const name of await readdir(dir).catch(() => [])) {
            if (name.includes(TEMP_MARK) || !parts.has(name)) {
              await rm(join(dir, name), { force: true })
              removedFiles++
            } else {
              present.add(name)
            }
          }
          for (const name of parts) {
            if (present.has(name)) continue
            await this.records.removePart(to, from, sha, name === 'manifest' ? 'manifest' : Number(name))
            removedParts++
          }
        }
        await rmdirIfEmpty(join(this.root, to, from))
      }
      await rmdirIfEmpty(join(this.root, to))
    }
    // records whose folder is gone altogether lose their parts too
    for (const r of known.values()) {
      const parts = await this.records.parts(r.to, r.from, r.sha256)
      if (parts.length === 0) continue
      const names = new Set(await readdir(this.dir(r.to, r.from, r.sha256)).catch(() => [] as string[]))
      for (const p of parts) {
        if (names.has(String(p))) continue
        await this.records.removePart(r.to, r.from, r.sha256, p)
        removedParts++
      }
    }
    if (removedFiles + removedParts > 0) this.init.log.warn('file store repaired', { removedFiles, removedParts })
    return { removedFiles, removedParts }
  }

  /** Deletes files older than the retention; returns how many. */
  async expire (): Promise<number> {
    const before = this.now() - this.retentionMs
    let n = 0
    for (const r of await this.records.listAll()) {
      if (r.createdAt >= before) continue
      await this.remove(r.to, r.from, r.sha256)
      n++
    }
    if (n > 0) this.init.log.info('files expired', { files: n })
    return n
  }

  private async remove (to: string, from: string, sha256: string): Promise<boolean> {
    // the record goes first: a crash before the folder is gone leaves files the startup check removes
    const removed = await this.records.remove(to, from, sha256)
    await rm(this.dir(to, from, sha256), { recursive: true, force: true })
    return removed != null
  }

  private async serve (stream: Stream, connection: Connection, limits: FileStoreLimits): Promise<void> {
    // the sealed part is read only once its header was authenticated and checked, with its exact length as the limit
    // the read buffer must hold a whole sealed part of the largest chunk (lpStream's default is 4 MiB)
    const lpOptions = { maxDataLength: MAX_FILE_STORE_HEADER_BYTES, maxLengthLength: 5, maxBufferSize: MAX_SEALED_PART_BYTES + 64 }
    const lp = lpStream(stream, lpOptions)
    const reply = async (value: unknown): Promise<void> => {
      await lp.write(encodeFrame(value, MAX_FILE_STORE_HEADER_BYTES), { signal: AbortSignal.timeout(WRITE_TIMEOUT_MS) })
    }
    try {
      const req = await readFrame(lp, fileStoreRequest, { signal: AbortSignal.timeout(HEADER_TIMEOUT_MS) }, MAX_FILE_STORE_HEADER_BYTES)
      /** Set once a `get` answer went out: a failure after it cannot be answered any more. */
      let answered = false
      try {
        if (limits.rateLimiter != null && !limits.rateLimiter.take(connection.remotePeer.toString())) {
          throw new RateLimitedError('too many requests; slow down')
        }
        const account = await this.init.authenticate(req.cert, connection)
        if (req.op === 'put') {
          await reply(await this.put(req, account.user, async (length) => {
            lpOptions.maxDataLength = length
            const data = await lp.read({ signal: AbortSignal.timeout(BODY_TIMEOUT_MS) }).catch((err: Error) => {
              throw new InvalidMessageError(`the sealed part did not arrive: ${err.message}`)
            })
            lpOptions.maxDataLength = MAX_FILE_STORE_HEADER_BYTES
            if (data.byteLength !== length) throw new InvalidInputError(`a sealed part of ${data.byteLength} bytes where ${length} were due`)
            return data.subarray()
          }))
        } else if (req.op === 'get') {
          // parts are held in memory while they move: a bounded number at once across the node
          await this.moving(req.cert.device, async () => {
            const found = await this.get(req, account.user)
            await reply({ ok: true, file: found.file, bytes: found.bytes.byteLength })
            answered = true
            await lp.write(found.bytes, { signal: AbortSignal.timeout(WRITE_TIMEOUT_MS) })
          })
        } else {
          await reply(await this.answer(req, account.user))
        }
      } catch (err) {
        if (answered) throw err
        limits.onError?.(err, { connection })
        await reply({ ok: false, error: toWireError(err) })
      }
      await stream.close({ signal: AbortSignal.timeout(WRITE_TIMEOUT_MS) })
    } catch (err) {
      limits.onError?.(err, { connection })
      if (err instanceof InvalidMessageError) {
        await lp.write(encodeFrame({ ok: false, error: toWireError(err) }), { signal: AbortSignal.timeout(1000) }).catch(() => {})
      }
      stream.abort(err as Error)
    }
  }

  private view (r: FileRecord): WaitingFile {
    return { from: r.from, to: r.to, sha256: r.sha256, size: r.size, chunkSize: r.chunkSize, chunks: r.chunks, createdAt: r.createdAt, stored: r.stored, complete: r.stored === r.chunks + 1, bytes: r.bytes }
  }

  /**
   * Stores one sealed part; `readBody` reads it once the header passed every check. The first
   * part of a file makes its record and reserves the whole file's sealed bytes (the quotas are
   * checked before the part is read, and again, atomically, when the record is made).
   */
  private async put (req: Extract<FileStoreRequest, { op: 'put' }>, from: string, readBody: (length: number) => Promise<Uint8Array>): Promise<unknown> {
    const shape = { size: req.size, chunkSize: req.chunkSize, chunks: req.chunks }
    if (!storedChunksFit(shape)) throw new InvalidInputError(`${req.chunks} chunks do not cut ${req.size} bytes in pieces of ${req.chunkSize}`)
    if (req.part !== 'manifest' && req.part >= req.chunks) throw new InvalidInputError(`no chunk ${req.part} in a file of ${req.chunks} chunks`)
    const part: PartName = req.part
    const bytes = sealedFileBytes(shape)
    const existing = await this.records.get(req.to, from, req.sha256)
    if (existing == null) {
      if (req.size > this.maxFile) throw new FileTooLargeError(`a file of ${sizeText(req.size)} is over this node's limit of ${sizeText(this.maxFile)} for files waiting for someone`)
      const to = await this.init.state().getAccount(req.to)
      if (to == null) throw new UnknownUserError(`no user named "${req.to}"`)
      if (to.disabled) throw new AccountDisabledError(`account "${req.to}" is disabled`)
      const inbound = await this.records.usage(req.to)
      const outbound = await this.records.usage(from)
      const full = inbound.files + 1 > MAX_WAITING_FILES ? 'files' : inbound.inbound + bytes > this.quota ? 'inbound' : outbound.outbound + bytes > this.senderQuota ? 'outbound' : undefined
      if (full != null) throw this.refusal(full, req.to, from, bytes, outbound.outbound)
      // one sender cannot fill someone's inbox with many small (or empty) files
      const fromSender = (await this.records.listFor(req.to, MAX_WAITING_FILES)).filter(r => r.from === from).length
      if (fromSender >= MAX_WAITING_FILES_PER_SENDER) {
        throw new QuotaExceededError(`you already have ${MAX_WAITING_FILES_PER_SENDER} files waiting for ${req.to} at the node; more when they fetched some`)
      }
    } else if (existing.size !== req.size || existing.chunkSize !== req.chunkSize || existing.chunks !== req.chunks) {
      throw new InvalidInputError('the part does not belong to the upload of this file begun earlier (size or chunk size differ)')
    }
    const length = sealedPartBytes(shape, req.part)
    return await this.moving(req.cert.device, async () => {
      const body = await readBody(length)
      let created = false
      if (existing == null) {
        const added = await this.records.add({ to: req.to, from, sha256: req.sha256, ...shape, createdAt: this.now(), bytes }, { inbound: this.quota, outbound: this.senderQuota, files: MAX_WAITING_FILES })
        if ('full' in added) throw this.refusal(added.full, req.to, from, bytes, added.usage.outbound)
        created = added.added
      }
      try {
        return await this.store(req, from, part, length, body)
      } catch (err) {
        // a first part that could not be stored leaves no upload behind
        if (created && (await this.records.get(req.to, from, req.sha256))?.stored === 0) await this.remove(req.to, from, req.sha256)
        throw err
      }
    })
  }

  /**
   * Runs a part's move (held in memory: up to 4 MiB) within the node-wide slots, and at most
   * MAX_PARTS_PER_DEVICE at once per device, so one device cannot take every slot.
   */
  private async moving<T> (device: string, fn: () => Promise<T>): Promise<T> {
    const n = this.inFlight.get(device) ?? 0
    if (n >= MAX_PARTS_PER_DEVICE) throw new ServerBusyError(`at most ${MAX_PARTS_PER_DEVICE} parts to or from one device at once`)
    this.inFlight.set(device, n + 1)
    try {
      return await this.slots.run(fn)
    } finally {
      const left = (this.inFlight.get(device) ?? 1) - 1
      if (left <= 0) this.inFlight.delete(device)
      else this.inFlight.set(device, left)
    }
  }

  private refusal (full: 'inbound' | 'outbound' | 'files', to: string, from: string, bytes: number, outbound: number): Error {
    this.init.log.info('file refused', { from, to, bytes, full })
    if (full === 'files') return new QuotaExceededError(`${to} already has ${MAX_WAITING_FILES} files waiting at the node`)
    if (full === 'inbound') return new QuotaExceededError(`no room for ${sizeText(bytes)} more in what waits for ${to} at the node (quota ${sizeText(this.quota)}); send it when ${to} is online`)
    return new QuotaExceededError(`you already have ${sizeText(outbound)} waiting at the node for others; one account may have at most ${sizeText(this.senderQuota)}`)
  }

  /** Writes a sealed part to its file (temporary name, sync, rename), then records it. */
  private async store (req: Extract<FileStoreRequest, { op: 'put' }>, from: string, part: PartName, length: number, body: Uint8Array): Promise<unknown> {
    const record = await this.records.get(req.to, from, req.sha256)
    if (record == null) throw new InvalidInputError('the upload was deleted while this part was being sent')
    if (await this.records.part(req.to, from, req.sha256, part) != null) {
      return { ok: true, stored: record.stored, complete: record.stored === record.chunks + 1, duplicate: true }
    }
    const dir = this.dir(req.to, from, req.sha256)
    const final = this.path(req.to, from, req.sha256, part)
    const temp = `${final}${TEMP_MARK}${randomBytes(6).toString('hex')}`
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 })
      const fh = await open(temp, 'wx', 0o600)
      try {
        await fh.writeFile(body)
        await fh.sync()
      } finally {
        await fh.close()
      }
      await rename(temp, final)
      await syncDir(dir)
    } catch (err) {
      await unlink(temp).catch(() => {})
      if (isDiskFull(err)) {
        this.init.log.error('file store disk full', { from, to: req.to })
        throw new ServerBusyError('the rendezvous node\'s disk is full; the file cannot wait there now')
      }
      throw err
    }
    const noted = await this.records.addPart(req.to, from, req.sha256, part, length)
    if (noted == null) {
      // deleted (or expired) while this part was being written
      await rm(dir, { recursive: true, force: true })
      throw new InvalidInputError('the upload was deleted while this part was being stored')
    }
    if (noted.record.stored === noted.record.chunks + 1 && noted.added) {
      this.init.log.info('file waiting', { from, to: req.to, sha256: req.sha256, bytes: noted.record.bytes })
    }
    return { ok: true, stored: noted.record.stored, complete: noted.record.stored === noted.record.chunks + 1, duplicate: !noted.added }
  }

  /** The upload a recipient means: the sender's when named, else a complete one (the oldest). */
  private async find (to: string, sha256: string, sender: string | undefined): Promise<FileRecord> {
    const record = sender != null
      ? await this.records.get(to, sender, sha256)
      : (await this.records.listFor(to, MAX_WAITING_FILES))
          .filter(r => r.sha256 === sha256)
          .sort((a, b) => Number(b.stored === b.chunks + 1) - Number(a.stored === a.chunks + 1) || a.createdAt - b.createdAt)[0]
    if (record == null) throw new UnknownFileError(`no file ${sha256.slice(0, 12)}…${sender == null ? '' : ` from ${sender}`} is waiting for you at the node`)
    return record
  }

  private async get (req: Extract<FileStoreRequest, { op: 'get' }>, to: string): Promise<{ file: WaitingFile, bytes: Uint8Array }> {
    const record = await this.find(to, req.sha256, req.sender)
    if (req.part !== 'manifest' && req.part >= record.chunks) throw new InvalidInputError(`no chunk ${req.part} in a file of ${record.chunks} chunks`)
    const part: PartName = req.part
    const length = await this.records.part(to, record.from, record.sha256, part)
    if (length == null) {
      throw new OfflineError(`${req.part === 'manifest' ? 'the manifest' : `chunk ${req.part}`} is not at the node yet (${record.stored} of ${record.chunks + 1} parts uploaded by ${record.from})`)
    }
    const bytes = await readFile(this.path(to, record.from, record.sha256, part)).catch(() => undefined)
    if (bytes == null || bytes.byteLength !== length) {
      this.init.log.error('stored part missing or damaged', { to, from: record.from, sha256: record.sha256, part })
      await this.records.removePart(to, record.from, record.sha256, part)
      throw new UnknownFileError('this part was lost at the node; the sender has to upload it again')
    }
    return { file: this.view(record), bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) }
  }

  private async answer (req: Exclude<FileStoreRequest, { op: 'put' | 'get' }>, me: string): Promise<unknown> {
    if (req.op === 'list') {
      return { ok: true, files: (await this.records.listFor(me, MAX_WAITING_FILES)).map(r => this.view(r)) }
    }
    if (req.op === 'have') {
      const record = await this.records.get(req.to, me, req.sha256)
      if (record == null) return { ok: true, file: null, manifest: false, have: '' }
      const parts = await this.records.parts(req.to, me, req.sha256)
      const bits = new Uint8Array(Math.ceil(record.chunks / 8))
      for (const p of parts) if (p !== 'manifest' && p < record.chunks) bits[p >> 3]! |= 1 << (p & 7)
      return { ok: true, file: this.view(record), manifest: parts.includes('manifest'), have: Buffer.from(bits).toString('base64url') }
    }
    // delete: the recipient names the sender (or none: every upload of the hash); a sender names the recipient
    if (req.to != null && req.sender != null) throw new InvalidInputError('name either the sender (as the recipient) or the recipient (as the sender), not both')
    if (req.to != null) {
      if (!isUsername(req.to)) throw new InvalidInputError('invalid recipient')
      return { ok: true, deleted: await this.remove(req.to, me, req.sha256) ? 1 : 0 }
    }
    const mine = (await this.records.listFor(me, MAX_WAITING_FILES)).filter(r => r.sha256 === req.sha256 && (req.sender == null || r.from === req.sender))
    let deleted = 0
    for (const r of mine) if (await this.remove(r.to, r.from, r.sha256)) deleted++
    if (deleted > 0) this.init.log.info('files deleted', { to: me, sha256: req.sha256, deleted })
    return { ok: true, deleted }
  }
}

async function rmdirIfEmpty (dir: string): Promise<void> {
  await rmdir(dir).catch(() => {})
}

/** Makes a rename in `dir` durable (best effort: some file systems refuse to open a folder). */
async function syncDir (dir: string): Promise<void> {
  const fh = await open(dir, 'r').catch(() => undefined)
  if (fh == null) return
  try {
    await fh.sync().catch(() => {})
  } finally {
    await fh.close()
  }
}
