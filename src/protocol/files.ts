/**
 * Files (issue 9): the offer a person sends as a message, the protocol id its bytes travel on
 * between devices, and the limits every side checks. A leaf module (zod only), so the envelope
 * schema can carry an offer without an import cycle; the stream frames are in file-frames.ts.
 */
import { z } from 'zod'
import { InvalidInputError } from './errors.js'

/** File bytes between devices: one stream per transfer, never the chat stream. */
export const FILE_PROTOCOL = '/meshchat/file/1.0.0'

/**
 * The largest size an offer may state (512 GiB: the most chunks of the largest size); each device
 * has its own, smaller, limit.
 */
export const MAX_FILE_SIZE_LIMIT = 2 ** 39
/** A device's own limit unless configured: offers larger than this are neither sent nor fetched. */
export const DEFAULT_MAX_FILE_SIZE = 4 * 2 ** 30
export const MIN_CHUNK_SIZE = 64 * 1024
export const MAX_CHUNK_SIZE = 4 * 1024 * 1024
export const DEFAULT_CHUNK_SIZE = 1024 * 1024
/**
 * Chunks of one file at most: its manifest (32 bytes a chunk) stays at most 4 MiB, one sealed
 * part at the rendezvous node's file store (FILE_STORE_MAX_CHUNKS).
 */
export const MAX_FILE_CHUNKS = 2 ** 17
/** Bytes of one chunk's sha256, as listed in the manifest. */
export const CHUNK_HASH_BYTES = 32
/** The manifest travels in pieces of at most this many bytes (32,768 chunk hashes). */
export const MANIFEST_PIECE_BYTES = 1024 * 1024
/** Longest file name, in UTF-8 bytes (what common file systems allow). */
export const MAX_FILE_NAME_BYTES = 255

const SHA256_HEX = /^[0-9a-f]{64}$/

export const sha256Hex = z.string().regex(SHA256_HEX, 'invalid sha256 (64 lowercase hex digits)')

/** Why `name` is not acceptable as a file name, or undefined when it is. */
export function fileNameProblem (name: string): string | undefined {
  if (name.length === 0) return 'file name is empty'
  if (Buffer.byteLength(name, 'utf8') > MAX_FILE_NAME_BYTES) return `file name longer than ${MAX_FILE_NAME_BYTES} bytes`
  if (name === '.' || name === '..') return 'file name may not be . or ..'
  if (/[/\\]/.test(name)) return 'file name may not contain / or \\'
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(name)) return 'file name may not contain control characters'
  return undefined
}

export const fileName = z.string().max(MAX_FILE_NAME_BYTES).superRefine((name, ctx) => {
  const problem = fileNameProblem(name)
  if (problem != null) ctx.addIssue({ code: 'custom', message: problem })
})

/**
 * A file offer, the body of a `file` envelope. `manifest` is the sha256 of the concatenated
 * 32-byte sha256 of every chunk, so one signed message vouches for every chunk's bytes.
 */
export const fileOffer = z.object({
  name: fileName,
  size: z.number().int().nonnegative().max(MAX_FILE_SIZE_LIMIT),
  sha256: sha256Hex,
  chunkSize: z.number().int().min(MIN_CHUNK_SIZE).max(MAX_CHUNK_SIZE),
  chunks: z.number().int().nonnegative().max(MAX_FILE_CHUNKS),
  manifest: sha256Hex
}).strict().refine(o => o.chunks === Math.ceil(o.size / o.chunkSize), { message: 'chunks does not match size and chunk size', path: ['chunks'] })
export type FileOffer = z.infer<typeof fileOffer>

/** Throws InvalidInputError when `name` may not be a file's name. */
export function checkFileName (name: string): string {
  const problem = fileNameProblem(name)
  if (problem != null) throw new InvalidInputError(problem)
  return name
}

/** The chunk size for a file of `size`: `preferred`, raised until the file fits in MAX_FILE_CHUNKS. */
export function chunkSizeFor (size: number, preferred = DEFAULT_CHUNK_SIZE): number {
  let chunk = Math.min(MAX_CHUNK_SIZE, Math.max(MIN_CHUNK_SIZE, preferred))
  while (Math.ceil(size / chunk) > MAX_FILE_CHUNKS && chunk < MAX_CHUNK_SIZE) chunk *= 2
  return Math.min(chunk, MAX_CHUNK_SIZE)
}

/** Bytes of chunk `index` of a file (the last one may be short). */
export function chunkLength (offer: Pick<FileOffer, 'size' | 'chunkSize'>, index: number): number {
  return Math.max(0, Math.min(offer.chunkSize, offer.size - index * offer.chunkSize))
}

/** 1536 → "1.5 KiB". */
export function formatBytes (n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = n
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return unit === 0 ? `${n} B` : `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit] ?? ''}`
}

/** The text a file offer shows as in history and lists: `📎 report.pdf (1.2 MiB)`. */
export function offerText (offer: Pick<FileOffer, 'name' | 'size'>): string {
  return `📎 ${offer.name} (${formatBytes(offer.size)})`
}
