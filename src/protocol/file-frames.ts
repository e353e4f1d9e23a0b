/**
 * Frames of FILE_PROTOCOL, the device-to-device file stream (issue 9). The requesting device
 * opens a stream and writes length-prefixed JSON frames; the serving device answers with one JSON
 * frame, then binary frames, each a tag byte and its payload: the manifest's pieces (when asked
 * for), then the chunks from `from` on, in order. It sends a chunk only when the requester's
 * credit allows it (yamux does not push back on a fast sender), so both sides hold about
 * `credit - stored` chunks in memory, whatever the file's size.
 *
 *   → { op: 'get', cert, sha256, from, credit, manifest }
 *   ← { ok: true, size, chunkSize, chunks } | { ok: false, error }
 *   ← [0x00 ‖ manifest piece]…  (when `manifest`: chunks × 32 bytes in pieces of MANIFEST_PIECE_BYTES)
 *   ← [0x00 ‖ chunk from] [0x00 ‖ chunk from + 1] …   (chunk i only once credit > i)
 *   → { op: 'credit', upTo }   (whenever the requester has stored a chunk)
 *   ← [0x01 ‖ JSON wire error]  (instead of a chunk, when serving cannot go on)
 */
import { z } from 'zod'
import { certificate, wireError } from './schemas.js'
import { sha256Hex, MAX_FILE_CHUNKS, MIN_CHUNK_SIZE, MAX_CHUNK_SIZE, MAX_FILE_SIZE_LIMIT } from './files.js'

const chunkIndex = z.number().int().nonnegative().max(MAX_FILE_CHUNKS)

export const fileRequest = z.discriminatedUnion('op', [
  /**
   * Asks for the file with this sha256 from chunk `from` on; chunks below `credit` may be sent at
   * once. `manifest: false` when the requester kept the manifest from an earlier attempt.
   */
  z.object({ op: z.literal('get'), cert: certificate, sha256: sha256Hex, from: chunkIndex, credit: chunkIndex, manifest: z.boolean() }).strict(),
  /** The serving device may send every chunk below `upTo`. */
  z.object({ op: z.literal('credit'), upTo: chunkIndex }).strict()
])
export type FileRequest = z.infer<typeof fileRequest>

export const fileAnswer = z.union([
  z.object({
    ok: z.literal(true),
    size: z.number().int().nonnegative().max(MAX_FILE_SIZE_LIMIT),
    chunkSize: z.number().int().min(MIN_CHUNK_SIZE).max(MAX_CHUNK_SIZE),
    chunks: chunkIndex
  }).strict(),
  z.object({ ok: z.literal(false), error: wireError })
])
export type FileAnswer = z.infer<typeof fileAnswer>

/** Tag of a binary frame that carries bytes (a manifest piece or a chunk). */
export const FILE_FRAME_DATA = 0
/** Tag of a binary frame that carries a JSON wire error: the server stops serving. */
export const FILE_FRAME_ERROR = 1
/** The largest frame a requester reads: the tag and the largest chunk. */
export const MAX_FILE_DATA_FRAME_BYTES = 1 + MAX_CHUNK_SIZE
