/**
 * The rendezvous node's sealed file store (issue 9, "to someone offline"): a sender leaves a file
 * for an account, chunk by chunk, each chunk sealed to the recipient's account key; a device of
 * that account fetches the chunks when it comes online. The node only ever holds sealed bytes.
 *
 * One request per stream. A request is a JSON header frame; `put` is followed by one binary frame
 * (the sealed part, exactly `sealedPartBytes()` long), and a successful `get` answer is followed by
 * one binary frame. Binary rather than base64 in JSON: a 1 MiB chunk stays 1 MiB + 61 bytes on
 * the wire and on disk (not 1.33 MiB), and the node never parses a megabyte of JSON.
 */
import { z } from 'zod'
import { certificate, username, wireError, timestamp } from './schemas.js'

export const FILE_STORE_PROTOCOL = '/meshchat/filestore/1.0.0'

/** Chunk sizes a sender may choose (the device-to-device default is 1 MiB). */
export const FILE_STORE_MIN_CHUNK_BYTES = 64 * 1024
export const FILE_STORE_MAX_CHUNK_BYTES = 4 * 1024 * 1024
/** Largest file the wire describes; each node sets its own lower limit (`fileMaxBytes`). */
export const FILE_STORE_MAX_SIZE = 2 ** 40
/** Most chunks in one file: its manifest (32 bytes a chunk) must fit one sealed part. */
export const FILE_STORE_MAX_CHUNKS = FILE_STORE_MAX_CHUNK_BYTES / 32
/** What `seal()` adds to a plaintext: version (1) ‖ ephemeral key (32) ‖ iv (12) ‖ … ‖ tag (16). */
export const SEAL_OVERHEAD_BYTES = 61
/** Largest sealed part (a chunk or a manifest): the largest binary frame of this protocol. */
export const MAX_SEALED_PART_BYTES = FILE_STORE_MAX_CHUNK_BYTES + SEAL_OVERHEAD_BYTES
/** Largest JSON frame of this protocol (a `have` bitmap of the most chunks is 16 KiB; a `list` of MAX_WAITING_FILES about 210 KiB). */
export const MAX_FILE_STORE_HEADER_BYTES = 256 * 1024
/** Files one account may have waiting at a node, and the most one `list` answers with. */
export const MAX_WAITING_FILES = 1000
/** Files one sender may have waiting for one recipient. */
export const MAX_WAITING_FILES_PER_SENDER = 50

export const storedSha256 = z.string().regex(/^[0-9a-f]{64}$/, 'invalid sha256')

/** A part of a stored file: a chunk index, or the file's manifest (the sha256 of every chunk). */
export const storedFilePart = z.union([z.literal('manifest'), z.number().int().nonnegative().max(FILE_STORE_MAX_CHUNKS - 1)])
export type StoredFilePart = z.infer<typeof storedFilePart>

/** How a file is cut; the node checks `chunks` against `size` and `chunkSize`. */
const fileShape = {
  sha256: storedSha256,
  size: z.number().int().nonnegative().max(FILE_STORE_MAX_SIZE),
  chunkSize: z.number().int().min(FILE_STORE_MIN_CHUNK_BYTES).max(FILE_STORE_MAX_CHUNK_BYTES),
  chunks: z.number().int().nonnegative().max(FILE_STORE_MAX_CHUNKS)
}

export const fileStoreRequest = z.discriminatedUnion('op', [
  /** Stores one sealed part of a file for `to`; the sealed bytes follow in a binary frame. */
  z.object({ op: z.literal('put'), cert: certificate, to: username, ...fileShape, part: storedFilePart }),
  /** Which parts of the caller's upload of `sha256` to `to` the node holds (for resuming). */
  z.object({ op: z.literal('have'), cert: certificate, to: username, sha256: storedSha256 }),
  /** Files waiting for the caller's account. */
  z.object({ op: z.literal('list'), cert: certificate }),
  /** One sealed part of a file waiting for the caller's account; `sender` picks whose upload. */
  z.object({ op: z.literal('get'), cert: certificate, sha256: storedSha256, sender: username.optional(), part: storedFilePart }),
  /**
   * Removes a file: the recipient names the `sender` (or none: every upload of `sha256`), a
   * sender cancelling its own upload names the recipient `to`.
   */
  z.object({ op: z.literal('delete'), cert: certificate, sha256: storedSha256, sender: username.optional(), to: username.optional() })
])
export type FileStoreRequest = z.infer<typeof fileStoreRequest>

/** A file waiting at the node, as its recipient (or its sender) sees it. */
export const waitingFile = z.object({
  from: username,
  to: username,
  ...fileShape,
  createdAt: timestamp,
  /** Parts stored so far (chunks and the manifest); complete when it is `chunks + 1`. */
  stored: z.number().int().nonnegative(),
  complete: z.boolean(),
  /** Sealed bytes the whole file takes at the node (counted against the quota from its first part). */
  bytes: z.number().int().nonnegative()
})
export type WaitingFile = z.infer<typeof waitingFile>

const failure = z.object({ ok: z.literal(false), error: wireError })

export const filePutResponse = z.union([z.object({ ok: z.literal(true), stored: z.number().int().nonnegative(), complete: z.boolean(), duplicate: z.boolean() }), failure])
/** `have` is a bitmap of the chunks held (bit i of byte i >> 3, least significant first), base64url. */
export const fileHaveResponse = z.union([z.object({ ok: z.literal(true), file: waitingFile.nullable(), manifest: z.boolean(), have: z.string().max(MAX_FILE_STORE_HEADER_BYTES / 2).regex(/^[A-Za-z0-9_-]*$/) }), failure])
export const fileListResponse = z.union([z.object({ ok: z.literal(true), files: z.array(waitingFile).max(MAX_WAITING_FILES) }), failure])
/** A successful `get` answer is followed by a binary frame of exactly `bytes` bytes. */
export const fileGetResponse = z.union([z.object({ ok: z.literal(true), file: waitingFile, bytes: z.number().int().nonnegative().max(MAX_SEALED_PART_BYTES) }), failure])
export const fileDeleteResponse = z.union([z.object({ ok: z.literal(true), deleted: z.number().int().nonnegative() }), failure])

/** Plaintext bytes of a part: full chunks, a shorter last one, and 32 bytes a chunk for the manifest. */
export function plainPartBytes (file: { size: number, chunkSize: number, chunks: number }, part: StoredFilePart): number {
  if (part === 'manifest') return file.chunks * 32
  if (part < file.chunks - 1) return file.chunkSize
  return file.size - (file.chunks - 1) * file.chunkSize
}

/** The exact length of a sealed part: anything else is refused before it is read. */
export function sealedPartBytes (file: { size: number, chunkSize: number, chunks: number }, part: StoredFilePart): number {
  return plainPartBytes(file, part) + SEAL_OVERHEAD_BYTES
}

/** Sealed bytes a whole file takes at the node: every chunk and the manifest, each sealed. */
export function sealedFileBytes (file: { size: number, chunks: number }): number {
  return file.size + file.chunks * (32 + SEAL_OVERHEAD_BYTES) + SEAL_OVERHEAD_BYTES
}

/** Is `chunks` the right count for `size` cut in `chunkSize` pieces (an empty file has none)? */
export function storedChunksFit (file: { size: number, chunkSize: number, chunks: number }): boolean {
  return file.chunks === Math.ceil(file.size / file.chunkSize)
}
