/**
 * Files on one device (issue 9): offering a file (hash it chunk by chunk, share it, send the
 * offer as a message), serving shared files to the devices allowed to have them (who may, how many
 * at once and what the cards show of it: file-serving.ts), and fetching
 * offered files: chunk by chunk from whichever source has them (the sender's devices, other
 * room members, the rendezvous node's sealed copy), each chunk verified against the signed offer
 * and fsynced before its progress is recorded, so a killed process repeats at most one chunk. A
 * file is only ever shown as received once its whole sha256 matched.
 *
 * For someone with no device online, the file is also left at the rendezvous node sealed to
 * their account key (file-uploads.ts), and deleted there once they fetched it. A running device
 * fetches offers by itself as the auto-get setting says (file-auto.ts), and retries downloads
 * that wait for their sender or a direct connection when that changes.
 */
import { createHash } from 'node:crypto'
import { mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { basename, join, resolve } from 'node:path'
import {
  FILE_PROTOCOL, CHUNK_HASH_BYTES, DEFAULT_MAX_FILE_SIZE, MAX_FILE_SIZE_LIMIT, chunkSizeFor, checkFileName, formatBytes,
  printable, fromWireError,
  DiskFullError, FileTooLargeError, FileVerificationError, InvalidInputError, InvalidMessageError, OfflineError,
  UnknownFileError, MeshchatError, TimeoutError
} from '../protocol/index.js'
import { isRelayed } from '../net/index.js'
import { DeviceSource, DEFAULT_FILE_IDLE_MS, DEFAULT_FILE_WINDOW, firstLine, serveFile } from './file-transfer.js'
import { diskError, freeBytes, hashFile, hashOpenFile, placeFile, writeFully } from './file-disk.js'
import { conversationOf, targetOf } from './history.js'
import { newMeter, rateOf, snapshot, tick } from './file-meter.js'
import { FINAL_UPLOAD_ERRORS, SealedUploads } from './file-uploads.js'
import { AutoGet, DEFAULT_AUTO_GET_MAX } from './file-auto.js'
import { FileServing } from './file-serving.js'
import { sleep } from './wait.js'
import type { ServedNow } from './file-serving.js'
import type { Meter } from './file-meter.js'
import type { AutoGetMode } from './file-auto.js'
import type { NodeFileStore } from './file-node-source.js'
import type { ChunkSink, ChunkSource } from './file-transfer.js'
import type { ClientEvent, ClientEventListener } from './events.js'
import type { SendResult } from './client.js'
import type { Certificate, DeviceInfo, FileOffer } from '../protocol/index.js'
import type { ClientStore, OfferRecord, ShareRecord, TransferRecord, TransferState, UploadRecord, UploadState } from '../store/index.js'
import type { MeshNode } from '../net/index.js'
import type { AbortOptions, PeerId, PublicKey } from '@libp2p/interface'
import type { FileHandle } from 'node:fs/promises'

export type { ChunkSource, ChunkSink, FetchRequest } from './file-transfer.js'

export interface FilesInit {
  /** Files larger than this are neither offered nor fetched by this device. @default 4 GiB */
  maxFileSize?: number
  /** Transfers this device serves at once to one other device; more are refused (and retried). @default 4 */
  maxServedPerPeer?: number
  /** Transfers this device serves at once in all. @default 32 */
  maxServed?: number
  /** Downloads running at once; more wait their turn. @default 4 */
  maxDownloads?: number
  /**
   * Chunks a serving device may send ahead of what this device has stored. 1 means a cut
   * transfer repeats at most one chunk; more trades that for speed on long links. @default 1
   */
  window?: number
  /** Preferred chunk size of files this device offers (raised for very large files). @default 1 MiB */
  chunkSize?: number
  /** Where fetched files go unless `getFile` says otherwise. @default `<home>/files` */
  downloadDir?: string
  /** A transfer that moves nothing for this long is given up and resumed later. @default 30 s */
  idleMs?: number
  /** Rounds over every source before a download gives up for now (more while it makes progress). @default 4 */
  attempts?: number
  /** A running device resumes paused downloads when their sender comes online. @default true */
  autoResume?: boolean
  /**
   * Offers a running device fetches without being asked: from this account's contacts, from
   * anyone, or none. @default 'contacts'
   */
  autoGet?: AutoGetMode
  /** The largest file fetched without being asked. @default 100 MiB */
  autoGetMax?: number
}

export type FileState = 'offered' | 'shared' | TransferState

/** A file offer in some conversation and, here, what became of it. */
export interface FileEntry {
  /** The offer message's id: `meshchat get <id>`. */
  id: string
  conv: string
  /** `bob` or `#room`. */
  target: string
  from: string
  sentAt: number
  name: string
  size: number
  sha256: string
  /** `out`: offered by this account; `in`: offered to it. */
  direction: 'in' | 'out'
  /**
   * offered: not fetched here; shared: this device serves it; downloading, paused (cut, resumes),
   * waiting-direct (only a relayed connection), done, failed (refused by verification).
   */
  state: FileState
  /** Bytes verified here. */
  bytes: number
  /** Bytes a second while it moves. */
  rate?: number
  /** Where the file is (done, or shared). */
  path?: string
  /** Why it is paused, waiting or failed. */
  error?: { name: string, message: string }
  /** Offered by this account to someone who was offline: its copy at the rendezvous node. */
  sealed?: SealedState
  /**
   * Transfers of it this device makes now (at most MAX_SERVING_SHOWN): to a device that fetches
   * it, or up to the rendezvous node for someone offline. Gone once they end.
   */
  serving?: ServingState[]
  /** People (this account too, for its other devices) this device sent all of it to while it ran, oldest first. */
  sentTo?: string[]
}

/** One transfer of a file this device makes (the sender's view while it moves). */
export interface ServingState {
  /** Who it is for: the person whose device fetches it, or for whom it is left at the node. */
  to: string
  /** device: a device of `to` fetches it from this one; node: it goes up to the rendezvous node, sealed for `to`. */
  via: 'device' | 'node'
  /** Bytes sent so far (to a device: written to its stream; to the node: stored there). */
  bytes: number
  total: number
  /** Bytes a second, over the last seconds. */
  rate: number
}

/** A file left at the rendezvous node for an offline recipient (the sender's view). */
export interface SealedState {
  to: string
  /** uploading, paused (goes on when the node is reachable), stored (all of it), failed (refused). */
  state: UploadState
  /** Bytes the node holds. */
  bytes: number
  error?: { name: string, message: string }
}

export interface FileProgress {
  id: string
  name: string
  /** uploading: leaving it at the rendezvous node for someone who is offline. */
  phase: 'hashing' | 'receiving' | 'verifying' | 'uploading'
  bytes: number
  total: number
  /** Bytes a second, over the last seconds. */
  rate: number
}

export interface SendFileOptions extends AbortOptions {
  onProgress?: (p: FileProgress) => void
}

export interface SendFileResult extends SendResult {
  offer: FileOffer
  /** The shared file's absolute path. */
  path: string
  /** False for a short-lived device (a one-shot command): the file is served while a device of this home runs. */
  servingNow: boolean
  /**
   * No device of the recipient took the offer: the file is left at the rendezvous node, sealed
   * to their account key. A short-lived device waits until all of it is there; a running one
   * until the node made room for it, then goes on in the background.
   */
  sealed?: SealedState
}

export interface GetFileOptions extends AbortOptions {
  /** Folder to put the file in. @default the download folder */
  to?: string
  /** Let the bytes go over a relayed connection. @default false */
  allowRelay?: boolean
  onProgress?: (p: FileProgress) => void
}

export interface GetFileResult {
  id: string
  name: string
  sha256: string
  size: number
  path: string
  /** Bytes that were already here from an earlier, cut, transfer. */
  resumedFrom: number
  /** True when the file was here already (fetched before, or this device's own). */
  already: boolean
}

export interface FilesDeps {
  me: () => string
  peerId: () => string
  homeDir: () => string
  node: () => MeshNode
  store: () => ClientStore
  serverKey: () => PublicKey
  cert: () => Certificate
  /** Throws the reason when this account may not offer into `target` now (checked before hashing). */
  checkTarget: (target: string, options: AbortOptions) => Promise<void>
  /** Sends the offer as a message to `target`, like a text message. */
  send: (target: string, offer: FileOffer, options: AbortOptions) => Promise<SendResult>
  devicesOf: (user: string, options: AbortOptions) => Promise<DeviceInfo[]>
  /** The account public key files for `user` are sealed to (null: none yet). */
  accountKeyOf?: (user: string, options: AbortOptions) => Promise<string | null>
  /** Online devices of other accounts, for files offered in rooms (any member may hold them). */
  otherDevices: () => Array<{ user: string, device: DeviceInfo }>
  knowPeer: (device: DeviceInfo) => Promise<PeerId>
  roomAdmits: (room: string, user: string) => 'yes' | 'no' | 'unknown'
  emit: (ev: ClientEvent) => void
  on: (listener: ClientEventListener) => () => void
  /** A long-running device (it serves, and resumes downloads by itself). */
  background: () => boolean
}

/** Transfers of one file an entry lists in `serving`, at most (the rest still run). */
export { MAX_SERVING_SHOWN } from './file-serving.js'

/** More sources than this are not tried for one room file in one round. */
export const MAX_ROOM_SOURCES = 8
export { PROGRESS_EVERY_MS } from './file-meter.js'
const EMPTY_SHA256 = createHash('sha256').digest('hex')

interface Live extends Meter {
  promise: Promise<GetFileResult>
  listeners: Set<(p: FileProgress) => void>
}

/** Builds a source for an offer (the rendezvous node's sealed copy, say), or none. */
export type SourceFactory = (offer: OfferRecord, options: { allowRelay: boolean }) => ChunkSource | undefined

/** Automatic retries of one waiting or paused download per process, and the pause between them. */
export const MAX_AUTO_RETRIES = 12
const RETRY_MIN_MS = 1_000
const RETRY_MAX_MS = 60_000
/** How long deleting the node's copy after a fetch may take (it is only a courtesy to the quota). */
const NODE_DELETE_TIMEOUT_MS = 5_000

export class Files {
  /**
   * Per sha256 by this instance (for tests and the bench): chunks served, chunks received,
   * chunk puts begun to the rendezvous node (uploads for offline recipients).
   */
  readonly stats = { served: new Map<string, number>(), received: new Map<string, number>(), busy: 0, uploaded: new Map<string, number>() }
  private readonly live = new Map<string, Live>()
  private nodeStore?: NodeFileStore
  private readonly uploads: SealedUploads = new SealedUploads({
    store: () => this.deps.store(),
    node: () => this.nodeStore,
    accountKeyOf: async (user, options) => {
      if (this.deps.accountKeyOf == null) throw new MeshchatError('this device cannot look up account keys')
      return await this.deps.accountKeyOf(user, options)
    },
    manifestPath: sha => this.sharedManifest(sha),
    signal: () => this.controller.signal,
    changed: rec => { this.uploadChanged(rec) },
    devicesOf: async (user, options) => await this.deps.devicesOf(user, options)
  }, this.stats.uploaded)

  private readonly auto: AutoGet = new AutoGet({
    mode: () => this.init.autoGet ?? 'contacts',
    maxBytes: () => Math.min(this.maxFileSize, this.init.autoGetMax ?? DEFAULT_AUTO_GET_MAX),
    me: () => this.deps.me(),
    isContact: async user => (await this.deps.store().people.contact(user))?.added === true,
    known: async sha => await this.deps.store().files.transfer(sha) != null || await this.deps.store().files.share(sha) != null || this.live.has(sha),
    fetch: async id => await this.get(id)
  })

  /** Automatic retries of downloads (waiting for a direct connection, or paused) per sha256. */
  private readonly retried = new Map<string, { count: number, next: number }>()
  /** Downloads that wait for a direct connection to their sender. */
  private readonly waitingDirect = new Set<string>()
  private offConnections?: () => void
  /** Sources that are this account's own devices (not the sender's): see fetchAll. */
  private readonly helpers = new WeakSet<ChunkSource>()
  /** Who may fetch what from this device, how many at once, and what the cards show of it (file-serving.ts). */
  private readonly serving: FileServing = new FileServing({
    me: () => this.deps.me(),
    store: () => this.deps.store(),
    roomAdmits: (room, user) => this.deps.roomAdmits(room, user),
    emit: ev => { this.deps.emit(ev) },
    cardOf: async (o, served) => await this.entryOf(o, undefined, undefined, served),
    limits: () => this.servedLimits,
    busy: () => { this.stats.busy++ }
  })
  private downloads = 0
  private readonly queue: Array<() => void> = []
  private readonly extraSources: SourceFactory[] = []
  private controller = new AbortController()
  private off?: () => void
  private stopped = false

  /** `initOf` is read when needed (the client's options may be set after this is built). */
  constructor (private readonly deps: FilesDeps, private readonly initOf: () => FilesInit | undefined = () => undefined) {}

  private get init (): FilesInit {
    return this.initOf() ?? {}
  }

  /** Transfers this device serves at once to one device, and in all. */
  private get servedLimits (): { perPeer: number, total: number } {
    return { perPeer: this.init.maxServedPerPeer ?? 4, total: this.init.maxServed ?? 32 }
  }

  get maxFileSize (): number {
    return Math.min(MAX_FILE_SIZE_LIMIT, this.init.maxFileSize ?? DEFAULT_MAX_FILE_SIZE)
  }

  /** `<home>/files`: finished files unless told otherwise. */
  get downloadDir (): string {
    return resolve(this.init.downloadDir ?? join(this.deps.homeDir(), 'files'))
  }

  private get partialDir (): string { return join(this.deps.homeDir(), 'files', '.partial') }
  private get sharedDir (): string { return join(this.deps.homeDir(), 'files', '.shared') }
  private partPath (sha256: string): string { return join(this.partialDir, `${sha256}.part`) }
  private partManifest (sha256: string): string { return join(this.partialDir, `${sha256}.manifest`) }
  private sharedManifest (sha256: string): string { return join(this.sharedDir, `${sha256}.manifest`) }

  /** Adds a place chunks can come from after the devices (the rendezvous node's copy). */
  addSource (factory: SourceFactory): void {
    this.extraSources.push(factory)
  }

  /**
   * The rendezvous node's sealed file store: a source for downloads (after the devices), where
   * files for offline recipients are left, and whose copy is deleted once a file is fetched.
   */
  useNode (store: NodeFileStore): void {
    this.nodeStore = store
    this.addSource(store.source)
  }

  /** Transfers this device serves now (for tests). */
  get servingNow (): number {
    return this.serving.count
  }

  /** Automatic fetches begun by this instance (the auto-get setting; for tests). */
  get autoFetches (): number {
    return this.auto.started
  }

  /** Registers the file protocol and marks downloads a killed process left running as paused. */
  async start (): Promise<void> {
    this.stopped = false
    this.controller = new AbortController()
    const perPeer = this.servedLimits.perPeer
    await this.deps.node().handle(FILE_PROTOCOL, async (stream, connection) => {
      await serveFile(stream, connection, {
        serverKey: this.deps.serverKey,
        authorize: async (sha, user) => await this.serving.authorize(sha, user),
        manifestPath: sha => this.sharedManifest(sha),
        acquire: peer => this.serving.acquire(peer),
        changed: sha => { this.serving.changed(sha) },
        served: (sha, index, peer) => {
          this.stats.served.set(sha, (this.stats.served.get(sha) ?? 0) + 1)
          this.uploads.served(sha, index, peer)
        },
        watch: t => this.serving.watch(t),
        idleMs: this.init.idleMs
      })
    }, { maxInboundStreams: perPeer * 2, runOnLimitedConnection: true })
    this.waitingDirect.clear()
    for (const t of await this.deps.store().files.allTransfers()) {
      if (t.state === 'downloading') await this.deps.store().files.putTransfer({ ...t, state: 'paused', updatedAt: Date.now() })
      if (t.state === 'waiting-direct') this.waitingDirect.add(t.sha256)
    }
    await this.uploads.start()
    this.off?.()
    this.off = undefined
    this.offConnections?.()
    this.offConnections = undefined
    if (!this.deps.background()) return
    // a running device: uploads for offline recipients go on once the node is reachable; offers
    // the auto-get setting admits are fetched; cut downloads resume when the situation changes
    const resume = this.init.autoResume !== false
    this.auto.start()
    this.off = this.deps.on(ev => {
      if (ev.type === 'message' && ev.message.file != null) {
        this.auto.consider(ev.message)
      } else if (ev.type === 'presence' && ev.online && resume) {
        this.resumeFrom(ev.user, true)
      } else if (ev.type === 'connection' && ev.state === 'connected') {
        this.uploads.resumeAll()
        if (resume) this.resumeFrom(null, true)
      }
    })
    if (resume) {
      // a direct connection to a sender whose file waits for one: try again now
      const node = this.deps.node()
      const onOpen = (evt: CustomEvent<{ remotePeer: PeerId, remoteAddr: { toString: () => string } }>): void => {
        if (this.waitingDirect.size === 0 || isRelayed(evt.detail.remoteAddr)) return
        this.resumeDirect(evt.detail.remotePeer.toString())
      }
      node.addEventListener('connection:open', onOpen as never)
      this.offConnections = () => { node.removeEventListener('connection:open', onOpen as never) }
    }
  }

  /** Stops every transfer (they stay paused, resumable) and waits for them, bounded. */
  async stop (): Promise<void> {
    this.stopped = true
    this.off?.()
    this.offConnections?.()
    this.auto.stop()
    this.controller.abort(new TimeoutError('the client is stopping'))
    for (const wake of this.queue.splice(0)) wake()
    const all = [...this.live.values()].map(async l => await l.promise.catch(() => {}))
    await Promise.race([Promise.all([...all, this.uploads.stop()]), new Promise(resolve => setTimeout(resolve, 5_000).unref())])
  }

  // ---- offering ------------------------------------------------------------------------------

  /**
   * Offers the file at `path` to `target` (`bob` or `#room`): checks it may, hashes the file
   * chunk by chunk, shares it, then sends the offer as a message.
   */
  async send (target: string, path: string, options: SendFileOptions = {}): Promise<SendFileResult> {
    const abs = resolve(path)
    let st
    try {
      st = await stat(abs)
    } catch {
      throw new InvalidInputError(`no file at ${printable(path)}`)
    }
    if (!st.isFile()) throw new InvalidInputError(`${printable(path)} is not a regular file`)
    const name = checkFileName(basename(abs))
    if (st.size > this.maxFileSize) {
      throw new FileTooLargeError(`${printable(name)} is ${formatBytes(st.size)}, over the ${formatBytes(this.maxFileSize)} limit for files`)
    }
    await this.deps.checkTarget(target, options)
    const conv = conversationOf(this.deps.me(), target)
    const chunkSize = chunkSizeFor(st.size, this.init.chunkSize)
    const meter = newMeter('hashing', st.size)
    const hashed = await hashFile(abs, st.size, chunkSize, bytes => {
      if (options.onProgress != null && tick(meter, bytes)) options.onProgress({ id: '', name, ...snapshot(meter) })
    }, options.signal)
    const after = await stat(abs)
    if (after.size !== st.size || after.mtimeMs !== st.mtimeMs) throw new InvalidInputError(`${printable(name)} changed while it was being read; send it again`)
    const offer: FileOffer = { name, size: st.size, sha256: hashed.sha256, chunkSize, chunks: Math.ceil(st.size / chunkSize), manifest: hashed.manifest }
    await mkdir(this.sharedDir, { recursive: true, mode: 0o700 })
    await writeAtomic(this.sharedManifest(offer.sha256), hashed.hashes)
    const store = this.deps.store().files
    const old = await store.share(offer.sha256)
    const keep = old != null && old.path === abs ? old.convs : []
    await store.putShare({ sha256: offer.sha256, path: abs, size: st.size, mtimeMs: st.mtimeMs, chunkSize, chunks: offer.chunks, convs: [...new Set([...keep, conv])], sharedAt: Date.now() })
    let res: SendResult
    try {
      res = await this.deps.send(target, offer, options)
    } catch (err) {
      // refused outright (not merely queued): nobody may fetch it through this conversation
      if (!['OfflineError', 'UnreachableError', 'TimeoutError'].includes((err as Error).name)) {
        const now = await store.share(offer.sha256)
        if (now != null) {
          const convs = now.convs.filter(c => c !== conv || keep.includes(c))
          if (convs.length === 0) await store.deleteShare(offer.sha256)
          else await store.putShare({ ...now, convs })
        }
      } else if (this.leavesAtNode(target)) {
        // queued for when the node is reachable: so is the copy for the recipient
        await this.recordUpload(target, conv, offer).catch(() => {})
      }
      throw err
    }
    // no device of the recipient took it: the file waits for them at the rendezvous node
    const sealed = res.deliveredTo.length === 0 && this.leavesAtNode(target) ? await this.leaveAtNode(target, conv, offer, res.id, options) : undefined
    const rec = await store.offer(res.id)
    if (rec != null) this.deps.emit({ type: 'file', file: await this.entryOf(rec) })
    return { ...res, offer, path: abs, servingNow: this.deps.background(), ...(sealed == null ? {} : { sealed }) }
  }

  /** Files for one other person (not a room, not this account) may wait for them at the node. */
  private leavesAtNode (target: string): boolean {
    return this.nodeStore != null && this.deps.accountKeyOf != null && !target.startsWith('#') && target !== this.deps.me()
  }

  private async recordUpload (to: string, conv: string, offer: FileOffer): Promise<void> {
    const store = this.deps.store().files
    const old = await store.upload(to, offer.sha256)
    if (old?.state === 'stored') return
    const now = Date.now()
    await store.putUpload({ sha256: offer.sha256, to, conv, name: offer.name, size: offer.size, chunkSize: offer.chunkSize, chunks: offer.chunks, state: 'paused', stored: old?.stored ?? 0, startedAt: old?.startedAt ?? now, updatedAt: now })
  }

  /**
   * Uploads the file sealed to `to`'s account key. A short-lived device (a one-shot command)
   * waits for all of it, with progress; a running one until the node made room for the whole
   * file, and goes on in the background. A refusal (quota, size) is a clear error; the offer
   * stands for a direct transfer all the same.
   */
  private async leaveAtNode (to: string, conv: string, offer: FileOffer, id: string, options: SendFileOptions): Promise<SealedState> {
    const onProgress = options.onProgress == null ? undefined : (p: FileProgress) => { options.onProgress?.({ ...p, id }) }
    const job = await this.uploads.begin(to, conv, offer, onProgress)
    let rec: UploadRecord
    try {
      if (this.deps.background()) {
        await abortable(job.reserved, options.signal)
        rec = job.rec
      } else {
        rec = await abortable(job.done, options.signal)
      }
    } catch (err) {
      const e = err as Error
      if (!FINAL_UPLOAD_ERRORS.has(e.name)) {
        // cut (the node went away, the command was stopped): a running device of this home goes on with it
        return { to, state: 'paused', bytes: this.sealedBytes(job.rec), error: { name: e.name, message: firstLine(e) } }
      }
      throw fromWireError({ name: e.name, message: `${to} is offline and ${printable(offer.name)} cannot wait for them at the rendezvous node: ${firstLine(e)}. The offer stands: ${to} can fetch it from this device when both are online (file id ${id})` })
    } finally {
      if (onProgress != null) job.listeners.delete(onProgress)
    }
    return { to, state: rec.state, bytes: this.sealedBytes(rec) }
  }

  private sealedBytes (rec: UploadRecord): number {
    const meter = this.uploads.meterOf(rec.to, rec.sha256)
    if (rec.state === 'stored') return rec.size
    return Math.max(meter?.bytes ?? 0, Math.min(rec.size, Math.max(0, rec.stored - 1) * rec.chunkSize))
  }

  /** An upload moved or changed: every offer of that file to that person shows it. */
  private uploadChanged (rec: UploadRecord): void {
    void (async () => {
      for (const o of await this.deps.store().files.offersOf(rec.sha256)) {
        if (o.conv === rec.conv && o.author === this.deps.me()) this.deps.emit({ type: 'file', file: await this.entryOf(o) })
      }
    })().catch(() => {})
  }

  // ---- listing ---------------------------------------------------------------------------------

  /** Every offer seen in any conversation, newest first, with what became of it here. */
  async list (): Promise<FileEntry[]> {
    const store = this.deps.store().files
    const offers = await store.allOffers()
    const entries = await Promise.all(offers.map(async o => await this.entryOf(o)))
    return entries.sort((a, b) => b.sentAt - a.sentAt || a.id.localeCompare(b.id))
  }

  /** `served`: what this device sent of it at some moment (an event tells that moment, not a later one). */
  private async entryOf (o: OfferRecord, t?: TransferRecord, share?: ShareRecord, served: ServedNow = this.serving.now(o.offer.sha256)): Promise<FileEntry> {
    const store = this.deps.store().files
    const sha = o.offer.sha256
    t ??= await store.transfer(sha)
    share ??= await store.share(sha)
    const me = this.deps.me()
    const mine = o.author === me
    const live = this.live.get(sha)
    let state: FileState = 'offered'
    let bytes = 0
    let path: string | undefined
    if (t != null) {
      state = t.state === 'downloading' && live == null ? 'paused' : t.state
      bytes = t.state === 'done' ? t.size : Math.min(t.size, t.done * t.chunkSize)
      if (live != null) bytes = Math.max(bytes, live.bytes)
      path = t.path
    } else if (mine && share != null) {
      state = 'shared'
      bytes = share.size
      path = share.path
    }
    let sealed: SealedState | undefined
    if (mine && o.conv.startsWith('dm:')) {
      const to = targetOf(me, o.conv)
      const up = to === me ? undefined : await store.upload(to, sha)
      if (up != null) sealed = { to, state: up.state, bytes: this.sealedBytes(up), ...(up.error == null || up.state === 'stored' ? {} : { error: up.error }) }
    }
    // a file going up to the node for someone offline is listed after the device transfers
    let upload: ServingState | undefined
    if (sealed?.state === 'uploading') {
      const meter = this.uploads.meterOf(sealed.to, sha)
      upload = { to: sealed.to, via: 'node', bytes: sealed.bytes, total: o.offer.size, rate: meter == null ? 0 : Math.round(rateOf(meter)) }
    }
    return {
      id: o.id,
      conv: o.conv,
      target: targetOf(me, o.conv),
      from: o.author,
      sentAt: o.sentAt,
      name: o.offer.name,
      size: o.offer.size,
      sha256: sha,
      direction: mine ? 'out' : 'in',
      state,
      bytes,
      ...(live != null && live.phase === 'receiving' ? { rate: Math.round(rateOf(live)) } : {}),
      ...(path == null ? {} : { path }),
      ...(t?.error == null || state === 'done' ? {} : { error: t.error }),
      ...(sealed == null ? {} : { sealed }),
      ...this.serving.of(o, served, upload)
    }
  }

  /** An offer by message id (or a unique prefix of one, at least 6 characters), or by sha256. */
  async find (ref: string): Promise<OfferRecord> {
    const store = this.deps.store().files
    const key = ref.trim().toLowerCase()
    if (/^[0-9a-f]{32}$/.test(key)) {
      const rec = await store.offer(key)
      if (rec != null) return rec
    } else if (/^[0-9a-f]{64}$/.test(key)) {
      const recs = await store.offersOf(key)
      const rec = recs.find(r => r.author !== this.deps.me()) ?? recs[0]
      if (rec != null) return rec
    } else if (/^[0-9a-f]{6,31}$/.test(key)) {
      const found = (await store.allOffers()).filter(o => o.id.startsWith(key))
      if (found.length === 1) return found[0]!
      if (found.length > 1) throw new InvalidInputError(`"${key}" names ${found.length} file offers; give more of the id`)
    } else {
      throw new InvalidInputError(`"${printable(ref)}" is not a file id (see meshchat files)`)
    }
    throw new UnknownFileError(`no file offer "${printable(ref)}" on this device (see meshchat files)`)
  }

  // ---- fetching ------------------------------------------------------------------------------

  /**
   * Fetches an offered file (by message id or sha256) into the download folder (or `to`),
   * resuming a cut transfer. Resolves with its path once its whole sha256 matched the offer.
   */
  async get (ref: string, options: GetFileOptions = {}): Promise<GetFileResult> {
    if (this.stopped) throw new MeshchatError('client is not started')
    const o = await this.find(ref)
    const { offer } = o
    if (offer.size > this.maxFileSize) {
      throw new FileTooLargeError(`${printable(offer.name)} is ${formatBytes(offer.size)}, over this device's ${formatBytes(this.maxFileSize)} limit for files`)
    }
    const store = this.deps.store().files
    const done = await store.transfer(offer.sha256)
    if (done?.state === 'done' && done.path != null && await sizeIs(done.path, offer.size)) {
      return { id: o.id, name: offer.name, sha256: offer.sha256, size: offer.size, path: done.path, resumedFrom: offer.size, already: true }
    }
    const share = await store.share(offer.sha256)
    if (share != null && await sizeIs(share.path, offer.size) && (await stat(share.path)).mtimeMs === share.mtimeMs) {
      return { id: o.id, name: offer.name, sha256: offer.sha256, size: offer.size, path: share.path, resumedFrom: offer.size, already: true }
    }
    let live = this.live.get(offer.sha256)
    if (live == null) {
      const l: Live = { promise: Promise.resolve(undefined as never), listeners: new Set(), phase: 'receiving', bytes: 0, total: offer.size, samples: [], lastEmit: 0 }
      if (options.onProgress != null) l.listeners.add(options.onProgress)
      l.promise = this.download(o, l, options).finally(() => { this.live.delete(offer.sha256) })
      this.live.set(offer.sha256, l)
      live = l
    } else if (options.onProgress != null) {
      live.listeners.add(options.onProgress)
    }
    try {
      return await abortable(live.promise, options.signal)
    } finally {
      if (options.onProgress != null) live.listeners.delete(options.onProgress)
    }
  }

  /** Served chunk counts and the like are per instance; these are the transfers on disk. */
  async transfer (ref: string): Promise<TransferRecord | undefined> {
    const o = await this.find(ref)
    return await this.deps.store().files.transfer(o.offer.sha256)
  }

  private async download (o: OfferRecord, live: Live, options: GetFileOptions): Promise<GetFileResult> {
    await this.turn(options.signal)
    try {
      return await this.run(o, live, options)
    } finally {
      this.downloads--
      this.queue.shift()?.()
    }
  }

  /** Waits for a download slot (maxDownloads at once). */
  private async turn (signal?: AbortSignal): Promise<void> {
    const max = this.init.maxDownloads ?? 4
    while (this.downloads >= max) {
      if (this.stopped) throw new MeshchatError('client is stopping')
      await abortable(new Promise<void>(resolve => { this.queue.push(resolve) }), signal)
    }
    this.downloads++
  }

  private async run (o: OfferRecord, live: Live, options: GetFileOptions): Promise<GetFileResult> {
    const { offer } = o
    const sha = offer.sha256
    const store = this.deps.store().files
    const signal = options.signal == null ? this.controller.signal : AbortSignal.any([options.signal, this.controller.signal])
    const now = Date.now()
    const old = await store.transfer(sha)
    // chunks verified against another offer's manifest (same hash and size claimed) are not trusted
    const sameCut = old != null && old.chunkSize === offer.chunkSize && old.size === offer.size && old.manifest === offer.manifest && old.state !== 'done'
    const rec: TransferRecord = {
      sha256: sha,
      id: o.id,
      conv: o.conv,
      from: o.author,
      name: offer.name,
      size: offer.size,
      chunkSize: offer.chunkSize,
      chunks: offer.chunks,
      manifest: offer.manifest,
      done: sameCut ? old.done : 0,
      state: 'downloading',
      dir: resolve(options.to ?? (sameCut ? old.dir : this.downloadDir)),
      startedAt: sameCut ? old.startedAt : now,
      updatedAt: now
    }
    if (!sameCut) await this.discardPartial(sha)
    await mkdir(this.partialDir, { recursive: true, mode: 0o700 })
    await mkdir(rec.dir, { recursive: true })
    await store.putTransfer(rec)
    let resumedFrom = Math.min(offer.size, rec.done * offer.chunkSize)
    live.bytes = resumedFrom
    this.changedState(o, rec)

    const settle = async (state: TransferState, err: unknown): Promise<never> => {
      const e = err instanceof MeshchatError ? err : new MeshchatError(firstLine(err))
      rec.state = state
      rec.error = { name: e.name, message: e.message }
      rec.updatedAt = Date.now()
      await store.putTransfer(rec).catch(() => {})
      if (state === 'waiting-direct') this.waitingDirect.add(sha)
      else this.waitingDirect.delete(sha)
      this.changedState(o, rec)
      throw e
    }

    let fd: FileHandle | undefined
    try {
      const need = offer.size - resumedFrom
      const free = Math.min(await freeBytes(this.partialDir), await freeBytes(rec.dir))
      if (need > free) throw new DiskFullError(`${printable(offer.name)} needs ${formatBytes(need)} more, but the disk has ${formatBytes(free)} free`)
      let hashes = await this.keptManifest(offer)
      await (await open(this.partPath(sha), 'a')).close()
      const partFd = await open(this.partPath(sha), 'r+')
      fd = partFd
      // what the partial file holds bounds what the record may claim (it is fsynced before the record)
      const have = (await partFd.stat()).size
      if (have < resumedFrom) {
        rec.done = Math.floor(have / offer.chunkSize)
        resumedFrom = live.bytes = rec.done * offer.chunkSize
      }
      const sink: ChunkSink = {
        manifest: async bytes => {
          if (bytes.length !== offer.chunks * CHUNK_HASH_BYTES || createHash('sha256').update(bytes).digest('hex') !== offer.manifest) {
            throw new FileVerificationError(`the list of chunk hashes of ${printable(offer.name)} does not match the offer; refused`)
          }
          await writeAtomic(this.partManifest(sha), bytes)
          hashes = Buffer.from(bytes)
        },
        chunk: async (index, data, length) => {
          if (hashes == null) throw new InvalidMessageError('a chunk came before the manifest')
          if (index !== rec.done) throw new InvalidMessageError(`chunk ${index} came out of order (expected ${rec.done})`)
          const h = createHash('sha256')
          const bufs: Uint8Array[] = []
          for (const b of data) { h.update(b); bufs.push(b) }
          if (!h.digest().equals(hashes.subarray(index * CHUNK_HASH_BYTES, (index + 1) * CHUNK_HASH_BYTES))) {
            throw new FileVerificationError(`chunk ${index} of ${printable(offer.name)} does not match the offer; refused`)
          }
          const wrote = await writeFully(partFd, bufs, index * offer.chunkSize)
          if (wrote !== length) throw new InvalidMessageError(`chunk ${index} has ${wrote} bytes, not ${length}`)
          // the bytes are on disk before the record says so: a crash repeats at most this chunk
          await partFd.datasync().catch(err => { throw diskError(err) })
          rec.done = index + 1
          rec.updatedAt = Date.now()
          await store.putTransfer(rec)
          this.stats.received.set(sha, (this.stats.received.get(sha) ?? 0) + 1)
          this.progress(o, live, Math.min(offer.size, rec.done * offer.chunkSize))
        }
      }
      if (offer.chunks === 0) {
        if (offer.sha256 !== EMPTY_SHA256 || offer.manifest !== EMPTY_SHA256) throw new FileVerificationError(`${printable(offer.name)} is empty but its offer names other contents; refused`)
      } else if (rec.done < offer.chunks || hashes == null) {
        await this.fetchAll(o, rec, sink, () => hashes == null, options, signal)
      }
      // every chunk is in: the whole file must match too
      live.phase = 'verifying'
      this.progress(o, live, offer.size, true)
      const whole = await hashOpenFile(partFd, offer.size)
      await partFd.close()
      fd = undefined
      if (whole !== offer.sha256) {
        await this.discardPartial(sha)
        rec.done = 0
        throw new FileVerificationError(`${printable(offer.name)} does not match its offer's sha256; it was deleted`)
      }
      const path = await placeFile(this.partPath(sha), rec.dir, offer.name)
      // a received file can be served on: to the room's members, to this account's devices
      await mkdir(this.sharedDir, { recursive: true, mode: 0o700 })
      if (offer.chunks > 0) await rename(this.partManifest(sha), this.sharedManifest(sha))
      else await writeAtomic(this.sharedManifest(sha), Buffer.alloc(0))
      const st = await stat(path)
      const share = await store.share(sha)
      await store.putShare({ sha256: sha, path, size: offer.size, mtimeMs: st.mtimeMs, chunkSize: offer.chunkSize, chunks: offer.chunks, convs: [...new Set([...(share?.convs ?? []), o.conv])], sharedAt: Date.now() })
      rec.state = 'done'
      rec.path = path
      delete rec.error
      rec.updatedAt = Date.now()
      await store.putTransfer(rec)
      this.changedState(o, rec)
      this.waitingDirect.delete(sha)
      this.retried.delete(sha)
      await this.forgetAtNode(o)
      return { id: o.id, name: offer.name, sha256: sha, size: offer.size, path, resumedFrom, already: false }
    } catch (err) {
      await fd?.close().catch(() => {})
      const name = (err as Error).name
      if (name === 'FileVerificationError') return await settle('failed', err)
      if (name === 'RelayOnlyError') return await settle('waiting-direct', err)
      return await settle('paused', err)
    }
  }

  /**
   * Goes over the sources until every chunk is in: a source that fails (offline, busy, cut, or
   * sending what the offer does not vouch for) gives way to the next; rounds repeat with a
   * growing pause while any source is busy or the transfer moved on, a bounded number of times.
   */
  private async fetchAll (o: OfferRecord, rec: TransferRecord, sink: ChunkSink, needManifest: () => boolean, options: GetFileOptions, signal: AbortSignal): Promise<void> {
    const attempts = this.init.attempts ?? 4
    const window = Math.max(1, this.init.window ?? DEFAULT_FILE_WINDOW)
    // what a device said explains more than what another source (the node's copy) said
    let deviceErr: unknown
    let otherErr: unknown
    let relayOnly = 0
    let devicesTried = 0
    // a source that sent what the offer does not vouch for is not asked again in this download
    const refused = new Set<string>()
    for (let round = 0; round < attempts; round++) {
      if (round > 0) await sleep(Math.min(4_000, 250 * 2 ** round), signal)
      const sources = (await this.sourcesFor(o, options.allowRelay === true, signal)).filter(s => !refused.has(s.label))
      if (sources.length === 0 && refused.size > 0) break
      for (const source of sources) {
        if (rec.done >= o.offer.chunks && !needManifest()) return
        if (signal.aborted) throw signal.reason ?? new TimeoutError('stopped')
        const before = rec.done
        // this account's own devices may have it too; what they say does not explain the sender's silence
        const senders = source instanceof DeviceSource && !this.helpers.has(source)
        if (senders) devicesTried++
        try {
          await source.fetch({ offer: o.offer, from: rec.done, manifest: needManifest(), window }, sink, { signal })
          if (rec.done >= o.offer.chunks) return
        } catch (err) {
          if (signal.aborted) throw signal.reason ?? err
          if (senders) deviceErr = err
          else otherErr = err
          const name = (err as Error).name
          if (name === 'DiskFullError') throw err
          if (name === 'RelayOnlyError' && senders) relayOnly++
          if (name === 'FileVerificationError' || name === 'InvalidMessageError') refused.add(source.label)
          // it moved the transfer on before it broke: worth more rounds
          if (rec.done > before) round = -1
        }
      }
      if (!sources.some(s => s instanceof DeviceSource && !this.helpers.has(s))) deviceErr ??= new OfflineError(`no device that has ${printable(o.offer.name)} is online (${o.author} is offline)`)
    }
    const lastErr = deviceErr ?? otherErr
    // every device answered only over a relay: the transfer waits for a direct connection
    if (devicesTried > 0 && relayOnly === devicesTried) throw deviceErr
    const why = lastErr as Error | undefined
    const pct = o.offer.size === 0 ? 100 : Math.floor(100 * Math.min(o.offer.size, rec.done * o.offer.chunkSize) / o.offer.size)
    const refusedAll = why?.name === 'FileVerificationError' || why?.name === 'InvalidMessageError'
    const line = `${printable(o.offer.name)}: transfer ${refusedAll ? 'stopped' : 'paused'} at ${pct}% (${why == null ? 'no source answered' : firstLine(why)}); ${refusedAll ? 'what was verified is kept; try again with' : 'it resumes with'} meshchat get ${o.id}`
    if (why instanceof MeshchatError && why.name !== 'MeshchatError') throw fromWireError({ name: why.name, message: line })
    throw new OfflineError(line)
  }

  /** The sender's devices (the one that offered first), then for rooms other members' devices, then added sources. */
  private async sourcesFor (o: OfferRecord, allowRelay: boolean, signal: AbortSignal): Promise<ChunkSource[]> {
    const me = this.deps.peerId()
    const seen = new Set<string>([me])
    const candidates: Array<{ user: string, device: DeviceInfo }> = []
    try {
      const devices = await this.deps.devicesOf(o.author, { signal })
      devices.sort((a, b) => Number(b.peer === o.device) - Number(a.peer === o.device))
      for (const d of devices) candidates.push({ user: o.author, device: d })
    } catch {
      // the directory is unreachable: other sources may still answer
    }
    const senderCount = candidates.length
    if (o.conv.startsWith('room:')) {
      candidates.push(...this.deps.otherDevices().slice(0, MAX_ROOM_SOURCES))
    } else if (o.author !== this.deps.me()) {
      // this account's other devices that fetched it already (the node's copy goes once one did)
      try {
        for (const d of await this.deps.devicesOf(this.deps.me(), { signal })) candidates.push({ user: this.deps.me(), device: d })
      } catch {
        // unknown now: the sender and the node may still answer
      }
    }
    const sources: ChunkSource[] = []
    for (const [i, c] of candidates.entries()) {
      if (seen.has(c.device.peer)) continue
      seen.add(c.device.peer)
      try {
        const peer = await this.deps.knowPeer(c.device)
        const source = new DeviceSource({ node: this.deps.node(), peer, label: `${c.user}'s device ${c.device.peer.slice(-8)}`, cert: this.deps.cert, allowRelay, idleMs: this.init.idleMs ?? DEFAULT_FILE_IDLE_MS })
        if (i >= senderCount && o.conv.startsWith('dm:')) this.helpers.add(source)
        sources.push(source)
      } catch {
        // a device with a bad peer id is skipped
      }
    }
    for (const f of this.extraSources) {
      const s = f(o, { allowRelay })
      if (s != null) sources.push(s)
    }
    return sources
  }

  /** The manifest kept from an earlier attempt, if it is whole and matches the offer. */
  private async keptManifest (offer: FileOffer): Promise<Buffer | undefined> {
    if (offer.chunks === 0) return Buffer.alloc(0)
    try {
      const bytes = await readFile(this.partManifest(offer.sha256))
      if (bytes.length === offer.chunks * CHUNK_HASH_BYTES && createHash('sha256').update(bytes).digest('hex') === offer.manifest) return bytes
    } catch {
      // none yet
    }
    return undefined
  }

  private async discardPartial (sha256: string): Promise<void> {
    await rm(this.partPath(sha256), { force: true })
    await rm(this.partManifest(sha256), { force: true })
  }

  /**
   * Running devices pick up paused downloads of `user`'s files (every sender's on null), and
   * those waiting for a direct connection, by themselves: the situation changed (the sender came
   * online, the node is back). `fresh` starts a new round of the bounded retries.
   */
  private resumeFrom (user: string | null, fresh = false): void {
    if (this.stopped) return
    void (async () => {
      for (const t of await this.deps.store().files.allTransfers()) {
        if (this.stopped) return
        if ((t.state !== 'paused' && t.state !== 'downloading' && t.state !== 'waiting-direct') || this.live.has(t.sha256)) continue
        if (user != null && t.from !== user) continue
        if (fresh) this.retried.delete(t.sha256)
        if (!this.mayRetry(t.sha256)) continue
        void this.get(t.id).catch(() => {})
      }
    })().catch(() => {})
  }

  /** A direct connection to `peer` opened: downloads from its account that waited for one go now. */
  private resumeDirect (peer: string): void {
    if (this.stopped) return
    void (async () => {
      const store = this.deps.store().files
      for (const sha of [...this.waitingDirect]) {
        if (this.stopped) return
        const t = await store.transfer(sha)
        if (t?.state !== 'waiting-direct') { this.waitingDirect.delete(sha); continue }
        if (this.live.has(sha)) continue
        const devices = await this.deps.devicesOf(t.from, { signal: AbortSignal.timeout(5_000) }).catch(() => undefined)
        // a room file may come from any member: only the sender's devices are known here
        if (devices != null && !devices.some(d => d.peer === peer) && !t.conv.startsWith('room:')) continue
        if (!this.mayRetry(sha)) continue
        void this.get(t.id).catch(() => {})
      }
    })().catch(() => {})
  }

  /** Automatic retries are bounded: a growing pause between them, and at most MAX_AUTO_RETRIES per round. */
  private mayRetry (sha256: string): boolean {
    const now = Date.now()
    const r = this.retried.get(sha256) ?? { count: 0, next: 0 }
    if (r.count >= MAX_AUTO_RETRIES || now < r.next) return false
    r.count++
    r.next = now + Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** (r.count - 1))
    this.retried.set(sha256, r)
    return true
  }

  /**
   * After a file from another account was fetched and verified, its copy at the rendezvous node
   * (if the sender left one) is deleted, so the quota frees up. Devices of this account that
   * still lack it fetch it from this one, or from the sender.
   */
  private async forgetAtNode (o: OfferRecord): Promise<void> {
    if (this.nodeStore == null || !o.conv.startsWith('dm:') || o.author === this.deps.me()) return
    await this.nodeStore.delete({ sha256: o.offer.sha256, sender: o.author }, { signal: AbortSignal.timeout(NODE_DELETE_TIMEOUT_MS) }).catch(() => {})
  }

  // ---- progress ------------------------------------------------------------------------------

  private progress (o: OfferRecord, live: Live, bytes: number, force = false): void {
    if (!tick(live, bytes) && !force) return
    const p: FileProgress = { id: o.id, name: o.offer.name, ...snapshot(live) }
    for (const l of live.listeners) {
      try { l(p) } catch { /* a listener's bug must not stop the transfer */ }
    }
    void this.entryOf(o).then(file => { this.deps.emit({ type: 'file', file }) }).catch(() => {})
  }

  private changedState (o: OfferRecord, rec: TransferRecord): void {
    void this.entryOf(o, { ...rec }).then(file => { this.deps.emit({ type: 'file', file }) }).catch(() => {})
  }
}

// ---- helpers -------------------------------------------------------------------------------

async function sizeIs (path: string, size: number): Promise<boolean> {
  try {
    return (await stat(path)).size === size
  } catch {
    return false
  }
}

/** Writes `bytes` to `path` through a synced temp file and a rename: all or nothing. */
async function writeAtomic (path: string, bytes: Uint8Array): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`
  await writeFile(tmp, bytes, { mode: 0o600 })
  const fd = await open(tmp, 'r+')
  try { await fd.sync() } finally { await fd.close() }
  await rename(tmp, path)
}

/** `promise`, or a rejection when `signal` aborts first (the work itself goes on). */
async function abortable<T> (promise: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (signal == null) return await promise
  signal.throwIfAborted()
  return await new Promise<T>((resolve, reject) => {
    const onAbort = (): void => { reject(signal.reason ?? new TimeoutError('stopped')) }
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(v => { signal.removeEventListener('abort', onAbort); resolve(v) }, e => { signal.removeEventListener('abort', onAbort); reject(e) })
  })
}
