/**
 * The device-to-device file stream (FILE_PROTOCOL, frames in protocol/file-frames.ts): the
 * serving side, which reads chunks from disk as the requester's credit allows, and the requesting
 * side, a ChunkSource that hands each chunk to a sink and grants more credit once the sink has
 * stored it. Other sources (the rendezvous node's sealed copy) implement the same ChunkSource.
 */
import { createHash } from 'node:crypto'
import { open, readFile } from 'node:fs/promises'
import { lpStream } from '@libp2p/utils'
import {
  FILE_PROTOCOL, FILE_FRAME_DATA, FILE_FRAME_ERROR, MAX_FILE_DATA_FRAME_BYTES, MANIFEST_PIECE_BYTES, CHUNK_HASH_BYTES, MAX_FRAME_BYTES,
  fileRequest, fileAnswer, wireError, decodeFrame, encodeFrame, fromWireError, toWireError, chunkLength,
  InvalidMessageError, InvalidInputError, UnknownFileError, TimeoutError, OfflineError, RelayOnlyError, MeshchatError
} from '../protocol/index.js'
import { verifyCertificate } from '../crypto/index.js'
import { isRelayed } from '../net/index.js'
import { readFully } from './file-disk.js'
import type { Certificate, FileOffer } from '../protocol/index.js'
import type { ShareRecord } from '../store/index.js'
import type { MeshNode } from '../net/index.js'
import type { AbortOptions, Connection, PeerId, PublicKey, Stream } from '@libp2p/interface'
import type { FileHandle } from 'node:fs/promises'

/** Chunks a requester lets a server send ahead of what it has stored. @default 1 */
export const DEFAULT_FILE_WINDOW = 1
/** The most chunks a server keeps buffers for on one stream, whatever credit it is given. */
export const MAX_FILE_WINDOW = 16
/** A transfer that moves no byte for this long is given up (and resumed later). */
export const DEFAULT_FILE_IDLE_MS = 30_000
/** How long a server waits for the requester's first frame. */
export const FILE_REQUEST_TIMEOUT_MS = 10_000

// ---- sources and sinks ---------------------------------------------------------------------

/** Where a download's chunks go: each is checked and stored before more credit is granted. */
export interface ChunkSink {
  /** The manifest (chunks × 32 bytes), when the fetch asked for it; throws when it does not match the offer. */
  manifest: (hashes: Uint8Array) => Promise<void>
  /** Chunk `index` as a list of buffers of `length` bytes in all; throws to refuse it. */
  chunk: (index: number, data: Iterable<Uint8Array>, length: number) => Promise<void>
}

export interface FetchRequest {
  offer: FileOffer
  /** The first chunk wanted (the count of chunks already stored). */
  from: number
  /** Whether the sink still needs the manifest. */
  manifest: boolean
  /** Chunks the source may send ahead of what the sink has stored. */
  window: number
}

/**
 * A place chunks of a file can come from: a device that holds it, or the rendezvous node's
 * sealed copy. `fetch` delivers chunks `from` … in order to the sink and resolves once the last
 * one is stored; it throws a named error when the source cannot (or will not) serve.
 */
export interface ChunkSource {
  /** For messages: "alice's device 12D3KooW…", "the rendezvous node". */
  readonly label: string
  fetch: (req: FetchRequest, sink: ChunkSink, options: AbortOptions) => Promise<void>
}

// ---- choosing a connection -----------------------------------------------------------------

export interface ConnectionLike {
  remoteAddr: { toString: () => string }
  status: string
}

export type PathChoice<C> = { use: C, relayed: boolean } | { wait: 'relayed-only' } | { dial: true }

/**
 * Which open connection file bytes may take: a direct one; a relayed one only when the person
 * allowed it (relays are small and metered); otherwise wait for a direct one (or dial for one).
 */
export function choosePath<C extends ConnectionLike> (conns: C[], allowRelay: boolean): PathChoice<C> {
  const open = conns.filter(c => c.status === 'open')
  const direct = open.find(c => !isRelayed(c.remoteAddr))
  if (direct != null) return { use: direct, relayed: false }
  const relayed = open.find(c => isRelayed(c.remoteAddr))
  if (relayed == null) return { dial: true }
  return allowRelay ? { use: relayed, relayed: true } : { wait: 'relayed-only' }
}

/** Opens a file stream to `peer` over a direct connection (or a relayed one, when allowed). */
export async function openFileStream (node: MeshNode, peer: PeerId, allowRelay: boolean, options: AbortOptions): Promise<Stream> {
  let choice = choosePath(node.getConnections(peer), allowRelay)
  if (!('use' in choice)) {
    // libp2p dials anew when the only connection is relayed ("limited"): a direct one may come of it
    let conn: Connection
    try {
      conn = await node.dial(peer, { signal: options.signal })
    } catch (err) {
      if ('wait' in choice) throw relayOnly(peer)
      throw new OfflineError(`could not reach device ${peer.toString()}: ${firstLine(err)}`)
    }
    choice = choosePath([conn, ...node.getConnections(peer)], allowRelay)
    if (!('use' in choice)) throw relayOnly(peer)
  }
  return await choice.use.newStream(FILE_PROTOCOL, { signal: options.signal, runOnLimitedConnection: choice.relayed })
}

function relayOnly (peer: PeerId): Error {
  return new RelayOnlyError(`only a relayed connection reaches device ${peer.toString()}: the file waits for a direct one (allow the relay with --allow-relay)`)
}

// ---- the requesting side -------------------------------------------------------------------

export interface DeviceSourceInit {
  node: MeshNode
  peer: PeerId
  label: string
  cert: () => Certificate
  allowRelay: boolean
  idleMs?: number
}

/** Fetches chunks from a device that holds the file, over FILE_PROTOCOL. */
export class DeviceSource implements ChunkSource {
  readonly label: string

  constructor (private readonly init: DeviceSourceInit) {
    this.label = init.label
  }

  async fetch (req: FetchRequest, sink: ChunkSink, options: AbortOptions): Promise<void> {
    const { offer } = req
    const window = Math.max(1, Math.min(MAX_FILE_WINDOW, req.window))
    const idleMs = this.init.idleMs ?? DEFAULT_FILE_IDLE_MS
    const idle = (): AbortSignal => options.signal == null ? AbortSignal.timeout(idleMs) : AbortSignal.any([options.signal, AbortSignal.timeout(idleMs)])
    const stream = await openFileStream(this.init.node, this.init.peer, this.init.allowRelay, { signal: idle() })
    // the read buffer holds at most the credit granted ahead: window chunks and their frame headers
    const lp = lpStream(stream, { maxDataLength: MAX_FILE_DATA_FRAME_BYTES, maxBufferSize: (window + 1) * (MAX_FILE_DATA_FRAME_BYTES + 16) })
    const read = async (): Promise<Awaited<ReturnType<typeof lp.read>>> => {
      const signal = idle()
      try {
        return await lp.read({ signal })
      } catch (err) {
        if (signal.aborted && options.signal?.aborted !== true) throw new TimeoutError(`${this.label} sent nothing for ${Math.round(idleMs / 1000)} s`)
        if (options.signal?.aborted === true) throw options.signal.reason ?? new TimeoutError('stopped')
        const name = (err as Error).name
        if (name === 'InvalidDataLengthError' || name === 'InvalidDataLengthLengthError' || name === 'StreamBufferError') throw new InvalidMessageError(`${this.label} sent a frame over the limit`)
        throw new OfflineError(`the transfer from ${this.label} was cut: ${firstLine(err)}`)
      }
    }
    try {
      let credit = Math.min(offer.chunks, req.from + window)
      await lp.write(encodeFrame({ op: 'get', cert: this.init.cert(), sha256: offer.sha256, from: req.from, credit, manifest: req.manifest }), { signal: idle() })
      const first = await read()
      if (first.byteLength > MAX_FRAME_BYTES) throw new InvalidMessageError(`${this.label} answered with an oversized frame`)
      const answer = decodeFrame(first.subarray(), fileAnswer)
      if (!answer.ok) throw fromWireError(answer.error)
      if (answer.size !== offer.size || answer.chunkSize !== offer.chunkSize || answer.chunks !== offer.chunks) {
        throw new InvalidMessageError(`${this.label} describes another file than the offer`)
      }
      if (req.manifest) {
        const total = offer.chunks * CHUNK_HASH_BYTES
        const hashes = Buffer.alloc(total)
        for (let got = 0; got < total;) {
          const frame = await read()
          const want = Math.min(MANIFEST_PIECE_BYTES, total - got)
          checkDataFrame(frame, want, this.label, 'manifest piece')
          hashes.set(frame.sublist(1).subarray(), got)
          got += want
        }
        await sink.manifest(hashes)
      }
      for (let i = req.from; i < offer.chunks; i++) {
        const frame = await read()
        const len = chunkLength(offer, i)
        checkDataFrame(frame, len, this.label, `chunk ${i}`)
        await sink.chunk(i, frame.sublist(1), len)
        const upTo = Math.min(offer.chunks, i + 1 + window)
        if (upTo > credit && i + 1 < offer.chunks) {
          credit = upTo
          await lp.write(encodeFrame({ op: 'credit', upTo }), { signal: idle() })
        }
      }
      await closeOrAbort(stream, 2_000)
    } catch (err) {
      stream.abort(err as Error)
      throw err
    }
  }
}

/** A frame of chunk bytes of exactly `length`, or the server's error (thrown). */
function checkDataFrame (frame: { byteLength: number, get: (i: number) => number, sublist: (a: number) => { subarray: () => Uint8Array } }, length: number, label: string, what: string): void {
  if (frame.byteLength === 0) throw new InvalidMessageError(`${label} sent an empty frame`)
  const tag = frame.get(0)
  if (tag === FILE_FRAME_ERROR) {
    let err: MeshchatError
    try {
      err = fromWireError(decodeFrame(frame.sublist(1).subarray(), wireError))
    } catch {
      err = new InvalidMessageError(`${label} stopped with an unreadable error`)
    }
    throw err
  }
  if (tag !== FILE_FRAME_DATA) throw new InvalidMessageError(`${label} sent a frame of unknown kind ${tag}`)
  if (frame.byteLength - 1 !== length) throw new InvalidMessageError(`${label} sent ${what} of ${frame.byteLength - 1} bytes, not ${length}`)
}

// ---- the serving side ----------------------------------------------------------------------

export interface ServeDeps {
  serverKey: () => PublicKey
  /** The share `user` may fetch with this sha256; throws a named error otherwise. */
  authorize: (sha256: string, user: string) => Promise<ShareRecord>
  /** The manifest file of a share (chunks × 32 bytes). */
  manifestPath: (sha256: string) => string
  /** Takes a serving slot for `peer`; throws ServerBusyError when it has too many. */
  acquire: (peer: string) => () => void
  /** The shared file no longer matches what was offered. */
  changed: (sha256: string) => void
  /** Counts each chunk written to a requester (tests and progress). */
  served?: (sha256: string, index: number, peer: string) => void
  /** A transfer to a device of `user` begins: how far it got goes to what this returns (the sender's card). */
  watch?: (t: ServeStart) => ServeWatch
  idleMs?: number
}

export interface ServeStart {
  sha256: string
  /** The requesting device's peer id. */
  peer: string
  /** The account the requesting device belongs to. */
  user: string
  /** Bytes the requester had already (it resumes after them). */
  from: number
  total: number
}

/** Progress of one transfer this device serves. */
export interface ServeWatch {
  /** The file's first `bytes` went out to the requester (what it had before included). */
  sent: (bytes: number) => void
  /** The transfer ended: `whole` when every chunk went out. Called once. */
  end: (whole: boolean) => void
}

/** Serves one FILE_PROTOCOL stream: checks who asks, then sends chunks as credit allows. */
export async function serveFile (stream: Stream, connection: Connection, deps: ServeDeps): Promise<void> {
  const lp = lpStream(stream, { maxDataLength: MAX_FRAME_BYTES })
  const peer = connection.remotePeer.toString()
  const idleMs = deps.idleMs ?? DEFAULT_FILE_IDLE_MS
  let release: (() => void) | undefined
  let fd: FileHandle | undefined
  let credit = 0
  let wake: (() => void) | undefined
  let ended = false
  let watch: ServeWatch | undefined
  let whole = false
  try {
    const first = await readOne(lp, FILE_REQUEST_TIMEOUT_MS)
    const req = decodeFrame(first, fileRequest)
    if (req.op !== 'get') throw new InvalidMessageError('a file stream starts with get')
    let share: ShareRecord
    let hashes: Buffer
    try {
      await verifyCertificate(deps.serverKey(), req.cert, { device: peer })
      release = deps.acquire(peer)
      share = await deps.authorize(req.sha256, req.cert.user)
      if (req.from > share.chunks) throw new InvalidInputError(`chunk ${req.from} is past the file's ${share.chunks} chunks`)
      try {
        fd = await open(share.path, 'r')
        hashes = await readFile(deps.manifestPath(share.sha256))
      } catch {
        deps.changed(share.sha256)
        throw new UnknownFileError('the file is no longer on the sending device')
      }
      const st = await fd.stat()
      if (st.size !== share.size || Math.trunc(st.mtimeMs) !== Math.trunc(share.mtimeMs) || hashes.length !== share.chunks * CHUNK_HASH_BYTES) {
        deps.changed(share.sha256)
        throw new UnknownFileError('the file changed on the sending device since it was offered')
      }
    } catch (err) {
      await lp.write(encodeFrame({ ok: false, error: toWireError(err) }), { signal: AbortSignal.timeout(FILE_REQUEST_TIMEOUT_MS) })
      await closeOrAbort(stream, FILE_REQUEST_TIMEOUT_MS)
      return
    }
    const offer = { size: share.size, chunkSize: share.chunkSize }
    await lp.write(encodeFrame({ ok: true, size: share.size, chunkSize: share.chunkSize, chunks: share.chunks }), { signal: AbortSignal.timeout(idleMs) })
    try {
      watch = deps.watch?.({ sha256: share.sha256, peer, user: req.cert.user, from: Math.min(share.size, req.from * share.chunkSize), total: share.size })
    } catch {
      // progress is only shown: a watcher's bug must not stop the transfer
    }
    if (req.manifest) {
      for (let at = 0; at < hashes.length; at += MANIFEST_PIECE_BYTES) {
        const piece = hashes.subarray(at, Math.min(hashes.length, at + MANIFEST_PIECE_BYTES))
        await lp.write(Buffer.concat([Buffer.of(FILE_FRAME_DATA), piece]), { signal: AbortSignal.timeout(idleMs) })
      }
    }
    credit = req.credit
    // credit frames arrive while chunks go out; the stream's end stops this reader
    const reader = (async () => {
      try {
        for (;;) {
          const frame = decodeFrame(await readOne(lp, 0), fileRequest)
          if (frame.op !== 'credit') throw new InvalidMessageError('only credit frames follow a get')
          if (frame.upTo > credit) credit = frame.upTo
          wake?.()
        }
      } finally {
        ended = true
        wake?.()
      }
    })()
    reader.catch(() => {})
    // a buffer per chunk the requester may hold unstored (its first credit says how many), reused:
    // chunk i is read only once credit > i, so the chunk that had its buffer was stored by then
    const slots = Math.max(1, Math.min(MAX_FILE_WINDOW, req.credit - req.from)) + 1
    const pool: Buffer[] = []
    for (let i = req.from; i < share.chunks; i++) {
      const deadline = Date.now() + idleMs
      while (credit <= i) {
        if (ended) throw new InvalidMessageError('the requester went away')
        if (Date.now() >= deadline) throw new TimeoutError('the requester granted no credit in time')
        let timer: NodeJS.Timeout | undefined
        await new Promise<void>(resolve => {
          wake = resolve
          timer = setTimeout(resolve, Math.max(1, deadline - Date.now()))
        })
        clearTimeout(timer)
        wake = undefined
      }
      const len = chunkLength(offer, i)
      const slot = i % slots
      const buf = pool[slot] ??= Buffer.allocUnsafeSlow(1 + share.chunkSize)
      await readFully(fd, buf, 1, len, i * share.chunkSize)
      const piece = buf.subarray(1, 1 + len)
      if (!createHash('sha256').update(piece).digest().equals(hashes.subarray(i * CHUNK_HASH_BYTES, (i + 1) * CHUNK_HASH_BYTES))) {
        deps.changed(share.sha256)
        const err = new UnknownFileError('the file changed on the sending device since it was offered')
        await lp.write(Buffer.concat([Buffer.of(FILE_FRAME_ERROR), encodeFrame(toWireError(err))]), { signal: AbortSignal.timeout(idleMs) })
        await closeOrAbort(stream, idleMs)
        return
      }
      buf[0] = FILE_FRAME_DATA
      await lp.write(buf.subarray(0, 1 + len), { signal: AbortSignal.timeout(idleMs) })
      deps.served?.(share.sha256, i, peer)
      try { watch?.sent(Math.min(share.size, (i + 1) * share.chunkSize)) } catch { /* only shown */ }
    }
    whole = true
    await closeOrAbort(stream, idleMs)
  } catch (err) {
    stream.abort(err instanceof Error ? err : new Error(String(err)))
  } finally {
    ended = true
    wake?.()
    try { watch?.end(whole) } catch { /* only shown */ }
    release?.()
    await fd?.close().catch(() => {})
  }
}

/** The first line of what an error (or anything thrown) says. */
export function firstLine (err: unknown): string {
  const text = err instanceof Error ? err.message : String(err)
  return (String(text ?? '').split('\n')[0] ?? '').slice(0, 300)
}

/** Closes the stream gracefully, or aborts it when the other side does not close in time. */
async function closeOrAbort (stream: Stream, timeoutMs: number): Promise<void> {
  await stream.close({ signal: AbortSignal.timeout(timeoutMs) }).catch(() => { stream.abort(new Error('the other side did not close the stream')) })
}

/** One frame's bytes; `timeoutMs` 0 waits until the stream ends. */
async function readOne (lp: { read: (o?: AbortOptions) => Promise<{ subarray: () => Uint8Array }> }, timeoutMs: number): Promise<Uint8Array> {
  const signal = timeoutMs > 0 ? AbortSignal.timeout(timeoutMs) : undefined
  try {
    return (await lp.read(signal == null ? {} : { signal })).subarray()
  } catch (err) {
    if (signal?.aborted === true) throw new TimeoutError('no request in time')
    throw new InvalidMessageError(`stream ended: ${firstLine(err)}`)
  }
}
