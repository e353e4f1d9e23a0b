/**
 * The client's side of the rendezvous node's sealed file store (issue 9, "to someone offline";
 * the node's side is src/rendezvous/files.ts): leaving a file for an account, sealed chunk by
 * chunk to its account key, resuming from what the node already holds; and fetching, opening and
 * checking a file that waits for this account. Each call takes what it needs (node, the pinned
 * server peer, this device's certificate), so the file transfer code can call it from anywhere.
 */
import { createHash } from 'node:crypto'
import { lpStream } from '@libp2p/utils'
import {
  FILE_STORE_PROTOCOL, MAX_FILE_STORE_HEADER_BYTES, MAX_SEALED_PART_BYTES,
  filePutResponse, fileHaveResponse, fileListResponse, fileGetResponse, fileDeleteResponse,
  plainPartBytes, sealedPartBytes, storedChunksFit, encodeFrame, fromBase64url, toBase64url, fromWireError,
  InvalidInputError, InvalidMessageError, FileVerificationError, MeshchatError
} from '../protocol/index.js'
import { seal, open as openSealed } from '../crypto/index.js'
import { openStream, readFrame } from '../net/index.js'
import { dialError } from './server-address.js'
import type { Certificate, StoredFilePart, WaitingFile, WireError } from '../protocol/index.js'
import type { AccountKeyPair } from '../crypto/index.js'
import type { Libp2p, PeerId, AbortOptions } from '@libp2p/interface'
import type { z } from 'zod'

/** How long one part may take to go up or come down (a 4 MiB part over a slow link). */
export const FILE_PART_TIMEOUT_MS = 120_000
/** Parts in flight at once while uploading, and fetched ahead while downloading. */
export const FILE_STORE_WINDOW = 3

export interface SealedUpload {
  /** The recipient account. */
  to: string
  /** The recipient's account public key (base64url X25519), from the directory. */
  recipientKey: string
  /** sha256 of the whole file (hex). */
  sha256: string
  size: number
  chunkSize: number
  /** ceil(size / chunkSize) */
  chunks: number
  /** The sha256 of every chunk, one after the other (chunks × 32 bytes). */
  manifest: Uint8Array
  /** Reads chunk `index` of the file (chunkSize bytes, the last one shorter). */
  readChunk: (index: number) => Promise<Uint8Array>
}

export interface SealedUploadProgress {
  /** Parts (chunks and the manifest) the node holds now, of `total`. */
  stored: number
  total: number
  /** Parts and plaintext bytes sent by this call (resumed parts are not sent again). */
  sent: number
  bytes: number
}

export interface UploadSealedOptions extends AbortOptions {
  onProgress?: (p: SealedUploadProgress) => void
  /** Parts in flight at once. @default FILE_STORE_WINDOW */
  window?: number
  /**
   * This account's public key: the parts it seals to one recipient share an ephemeral key for a
   * while (crypto/seal.ts). Without it every part gets an ephemeral key of its own.
   */
  senderKey?: string
}

export interface UploadSealedResult {
  file: WaitingFile
  /** Parts sent by this call, and parts the node already had (from an earlier, cut upload). */
  sent: number
  skipped: number
}

export interface DownloadSealedOptions extends AbortOptions {
  /** Whose upload to fetch (the offer's author). Without it the node picks a complete one. */
  sender?: string
  /** First chunk to fetch (resume after what is already written and verified). @default 0 */
  from?: number
  /** The offer's `manifest`: sha256 (hex) of the manifest; checked when given. */
  manifestSha256?: string
  /** Called with every chunk, in order, after it was opened and checked against the manifest. */
  onChunk: (index: number, bytes: Uint8Array) => Promise<void> | void
  /** Chunks fetched ahead. @default FILE_STORE_WINDOW */
  window?: number
}

export interface DownloadSealedResult {
  file: WaitingFile
  /** The opened manifest (chunks × 32 bytes). */
  manifest: Uint8Array
}

function hex (bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
}

function sha256 (bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(bytes).digest())
}

/** How long a request without a part (have, list, delete) may take. */
export const FILE_STORE_REQUEST_TIMEOUT_MS = 10_000

function partSignal (options: AbortOptions, timeoutMs: number): AbortSignal {
  const timeout = AbortSignal.timeout(timeoutMs)
  return options.signal == null ? timeout : AbortSignal.any([options.signal, timeout])
}

function check<T extends { ok: boolean }> (res: T | { ok: false, error: WireError }): Exclude<T, { ok: false }> {
  if (res.ok === false && 'error' in res) throw fromWireError(res.error)
  return res as Exclude<T, { ok: false }>
}

/**
 * One request of the file store: a header, an optional binary frame after it, one JSON answer,
 * and (for `get`) a binary frame after the answer, of the length the answer gave.
 */
async function exchange<S extends z.ZodType> (node: Libp2p, server: PeerId, header: unknown, body: Uint8Array | undefined, schema: S, options: AbortOptions & { readBody?: boolean }): Promise<{ res: z.infer<S>, body?: Uint8Array }> {
  const signal = partSignal(options, body != null || options.readBody === true ? FILE_PART_TIMEOUT_MS : FILE_STORE_REQUEST_TIMEOUT_MS)
  const stream = await openStream(node, server, FILE_STORE_PROTOCOL, { signal }).catch((err: unknown) => { throw dialError(err, 'the rendezvous node') })
  try {
    // the read buffer must hold a whole sealed part of the largest chunk (lpStream's default is 4 MiB)
    const lpOptions = { maxDataLength: MAX_FILE_STORE_HEADER_BYTES, maxLengthLength: 5, maxBufferSize: MAX_SEALED_PART_BYTES + 64 }
    const lp = lpStream(stream, lpOptions)
    // the answer may come before the whole part went out (a refusal): read it while writing
    const answer = readFrame(lp, schema, { signal }, MAX_FILE_STORE_HEADER_BYTES)
    answer.catch(() => {})
    const frames = [encodeFrame(header, MAX_FILE_STORE_HEADER_BYTES), ...(body == null ? [] : [body])]
    const written = lp.writeV(frames, { signal })
    written.catch(() => {})
    const res = await answer
    const head = res as { ok: boolean, bytes?: number }
    if (head.ok === false) {
      stream.abort(new Error('refused'))
      return { res }
    }
    await written
    let data: Uint8Array | undefined
    if (options.readBody === true && head.bytes != null) {
      lpOptions.maxDataLength = Math.min(head.bytes, MAX_SEALED_PART_BYTES)
      const got = await lp.read({ signal }).catch((err: Error) => { throw new InvalidMessageError(`the part did not arrive: ${err.message}`) })
      if (got.byteLength !== head.bytes) throw new InvalidMessageError('the part is shorter than announced')
      data = got.subarray()
    }
    await stream.close({ signal }).catch(() => {})
    return { res, ...(data == null ? {} : { body: data }) }
  } catch (err) {
    stream.abort(err as Error)
    // a node that went away mid-request is unreachable, not a bug
    if (!(err instanceof MeshchatError)) throw dialError(err, 'the rendezvous node')
    throw err
  }
}

/** Which parts of this device's account's upload of `sha256` to `to` the node holds. */
export async function sealedUploadStatus (node: Libp2p, server: PeerId, cert: Certificate, to: string, sha: string, options: AbortOptions = {}): Promise<{ file: WaitingFile | null, manifest: boolean, chunks: Set<number> }> {
  const { res } = await exchange(node, server, { op: 'have', cert, to, sha256: sha }, undefined, fileHaveResponse, options)
  const ok = check(res)
  const bits = fromBase64url(ok.have)
  const chunks = new Set<number>()
  const count = ok.file?.chunks ?? 0
  for (let i = 0; i < count; i++) if (((bits[i >> 3] ?? 0) & (1 << (i & 7))) !== 0) chunks.add(i)
  return { file: ok.file, manifest: ok.manifest, chunks }
}

/**
 * Leaves a file at the rendezvous node for `upload.to`: the manifest, then every chunk, each
 * sealed to the recipient's account key. Parts the node already holds (from an upload that was
 * cut) are not read or sent again. Refusals arrive as named errors: QuotaExceededError (the
 * recipient's quota, this account's share, the node's largest file), ServerBusyError (its disk).
 */
export async function uploadSealed (node: Libp2p, server: PeerId, cert: Certificate, upload: SealedUpload, options: UploadSealedOptions = {}): Promise<UploadSealedResult> {
  const shape = { size: upload.size, chunkSize: upload.chunkSize, chunks: upload.chunks }
  if (!storedChunksFit(shape)) throw new InvalidInputError(`${upload.chunks} chunks do not cut ${upload.size} bytes in pieces of ${upload.chunkSize}`)
  if (upload.manifest.byteLength !== upload.chunks * 32) throw new InvalidInputError('the manifest must hold 32 bytes for every chunk')
  const status = await sealedUploadStatus(node, server, cert, upload.to, upload.sha256, options)
  const total = upload.chunks + 1
  let stored = (status.manifest ? 1 : 0) + status.chunks.size
  let sent = 0
  let bytes = 0
  let file = status.file
  const put = async (part: StoredFilePart, plain: Uint8Array): Promise<void> => {
    if (plain.byteLength !== plainPartBytes(shape, part)) throw new InvalidInputError(`chunk ${String(part)} is ${plain.byteLength} bytes, not ${plainPartBytes(shape, part)}`)
    const sealed = fromBase64url(seal(upload.recipientKey, plain, options.senderKey))
    if (sealed.byteLength !== sealedPartBytes(shape, part)) throw new Error('unexpected sealed length')
    const header = { op: 'put', cert, to: upload.to, sha256: upload.sha256, ...shape, part }
    const { res } = await exchange(node, server, header, sealed, filePutResponse, options)
    const ok = check(res)
    sent++
    if (part !== 'manifest') bytes += plain.byteLength
    stored = Math.max(stored, ok.stored)
    options.onProgress?.({ stored, total, sent, bytes })
  }
  // the manifest goes first: its put makes the node reserve the whole file (or refuse it) before any chunk
  if (!status.manifest) await put('manifest', upload.manifest)
  const missing: number[] = []
  for (let i = 0; i < upload.chunks; i++) if (!status.chunks.has(i)) missing.push(i)
  let next = 0
  let error: unknown
  const worker = async (): Promise<void> => {
    while (error == null && next < missing.length) {
      const index = missing[next++]!
      try {
        options.signal?.throwIfAborted()
        await put(index, await upload.readChunk(index))
      } catch (err) {
        error ??= err
      }
    }
  }
  const lanes = Math.max(1, Math.min(options.window ?? FILE_STORE_WINDOW, missing.length))
  await Promise.all(Array.from({ length: lanes }, async () => { await worker() }))
  if (error != null) throw error
  if (file == null || stored !== file.stored) file = (await sealedUploadStatus(node, server, cert, upload.to, upload.sha256, options)).file
  if (file == null) throw new InvalidInputError('the upload was deleted at the node while it was being sent')
  return { file, sent, skipped: (status.manifest ? 1 : 0) + status.chunks.size }
}

/** Files waiting for this device's account at the node (complete or still being uploaded). */
export async function listSealed (node: Libp2p, server: PeerId, cert: Certificate, options: AbortOptions = {}): Promise<WaitingFile[]> {
  const { res } = await exchange(node, server, { op: 'list', cert }, undefined, fileListResponse, options)
  return check(res).files
}

/**
 * Deletes a waiting file: as its recipient (`sender`: whose upload; none: every upload of that
 * hash), or as its sender cancelling an upload (`to`). Resolves to how many were deleted.
 */
export async function deleteSealed (node: Libp2p, server: PeerId, cert: Certificate, target: { sha256: string, sender?: string, to?: string }, options: AbortOptions = {}): Promise<number> {
  const { res } = await exchange(node, server, { op: 'delete', cert, ...target }, undefined, fileDeleteResponse, options)
  return check(res).deleted
}

async function getPart (node: Libp2p, server: PeerId, cert: Certificate, accountKey: AccountKeyPair, sha: string, sender: string | undefined, part: StoredFilePart, options: AbortOptions): Promise<{ file: WaitingFile, plain: Uint8Array }> {
  const header = { op: 'get', cert, sha256: sha, part, ...(sender == null ? {} : { sender }) }
  const { res, body } = await exchange(node, server, header, undefined, fileGetResponse, { ...options, readBody: true })
  const ok = check(res)
  if (body == null) throw new InvalidMessageError('the node sent no part')
  let plain: Uint8Array
  try {
    plain = openSealed(accountKey, toBase64url(body))
  } catch {
    throw new FileVerificationError(`${part === 'manifest' ? 'the manifest' : `chunk ${part}`} at the node cannot be opened with this account's key`)
  }
  if (plain.byteLength !== plainPartBytes(ok.file, part)) throw new FileVerificationError(`${part === 'manifest' ? 'the manifest' : `chunk ${part}`} at the node has the wrong length`)
  return { file: ok.file, plain }
}

/**
 * Fetches a file waiting for this device's account: the manifest (checked against
 * `manifestSha256` when given), then every chunk from `from` on, each opened with the account key
 * and checked against the manifest before `onChunk` sees it. From chunk 0 the whole file's sha256
 * is checked as well. A part the sender has not uploaded yet is an OfflineError, a file not
 * there an UnknownFileError, anything that does not match a FileVerificationError.
 */
export async function downloadSealed (node: Libp2p, server: PeerId, cert: Certificate, accountKey: AccountKeyPair, sha: string, options: DownloadSealedOptions): Promise<DownloadSealedResult> {
  const head = await getPart(node, server, cert, accountKey, sha, options.sender, 'manifest', options)
  const file = head.file
  const manifest = head.plain
  if (options.manifestSha256 != null && hex(sha256(manifest)) !== options.manifestSha256) {
    throw new FileVerificationError('the manifest at the node does not match the offer')
  }
  const from = options.from ?? 0
  if (!Number.isInteger(from) || from < 0 || from > file.chunks) throw new InvalidInputError(`no chunk ${from} in a file of ${file.chunks} chunks`)
  const whole = from === 0 ? createHash('sha256') : undefined
  const window = Math.max(1, options.window ?? FILE_STORE_WINDOW)
  // fetch a few chunks ahead of the one being handed over; all of the same upload (file.from)
  const ahead = new Map<number, Promise<Uint8Array>>()
  const fetch = (i: number): void => {
    if (i >= file.chunks || ahead.has(i)) return
    const p = getPart(node, server, cert, accountKey, sha, file.from, i, options).then(r => r.plain)
    p.catch(() => {})
    ahead.set(i, p)
  }
  try {
    for (let i = from; i < file.chunks; i++) {
      for (let j = i; j < i + window; j++) fetch(j)
      const plain = await ahead.get(i)!
      ahead.delete(i)
      const expected = manifest.subarray(i * 32, i * 32 + 32)
      if (Buffer.compare(Buffer.from(sha256(plain)), Buffer.from(expected)) !== 0) {
        throw new FileVerificationError(`chunk ${i} at the node does not match its hash in the manifest`)
      }
      whole?.update(plain)
      await options.onChunk(i, plain)
    }
  } finally {
    ahead.clear()
  }
  if (whole != null && whole.digest('hex') !== sha) throw new FileVerificationError('the file at the node does not match its sha256')
  return { file, manifest }
}
