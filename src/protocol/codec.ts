/**
 * Frames are UTF-8 JSON, length-prefixed on the stream (see net/frames.ts). Signatures are taken
 * over a canonical JSON form (sorted keys) so that both sides hash the same bytes whatever order
 * a peer wrote its fields in.
 */
import type { z } from 'zod'
import { InvalidMessageError } from './errors.js'
import { MAX_FRAME_BYTES } from './constants.js'

const decoder = new TextDecoder('utf-8', { fatal: true })

/**
 * UTF-8 bytes of a string, as a plain Uint8Array. Buffer.from puts small strings in a slice of a
 * shared 8 KiB pool, where TextEncoder allocates a new ArrayBuffer for each: 2.1 µs against
 * 0.3 µs for an envelope's signed bytes here. So the view may share its `.buffer`: callers that
 * hand that on use byteOffset and byteLength (all do).
 */
function utf8 (text: string): Uint8Array {
  const buf = Buffer.from(text, 'utf8')
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength)
}

export function encodeFrame (value: unknown, maxBytes = MAX_FRAME_BYTES): Uint8Array {
  const bytes = utf8(JSON.stringify(value))
  if (bytes.length > maxBytes) {
    throw new InvalidMessageError(`frame of ${bytes.length} bytes is over the ${maxBytes} byte limit`)
  }
  return bytes
}

/** Decodes and validates one frame; any failure is an InvalidMessageError with a short reason. */
export function decodeFrame<S extends z.ZodType> (bytes: Uint8Array, schema: S, maxBytes = MAX_FRAME_BYTES): z.infer<S> {
  if (bytes.length > maxBytes) {
    throw new InvalidMessageError(`frame of ${bytes.length} bytes is over the ${maxBytes} byte limit`)
  }
  let raw: unknown
  try {
    raw = JSON.parse(decoder.decode(bytes))
  } catch {
    throw new InvalidMessageError('frame is not UTF-8 JSON')
  }
  const parsed = schema.safeParse(raw)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const where = issue?.path.join('.') ?? ''
    throw new InvalidMessageError(`invalid frame${where === '' ? '' : ` at ${where}`}: ${issue?.message ?? 'schema mismatch'}`)
  }
  return parsed.data
}

/**
 * JSON with object keys sorted at every depth: the bytes that signatures cover. Written with
 * loops and one growing string rather than map/filter/join: every message is canonicalised
 * when it is signed and again at every device that checks it (a 100k backfill spent ~1 s in the
 * array-method form).
 */
export function canonicalJson (value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value)
  if (Array.isArray(value)) {
    // like JSON.stringify: items that have no JSON form (undefined, functions) become null
    let out = '['
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ','
      out += canonicalJson(value[i]) ?? 'null'
    }
    return out + ']'
  }
  const obj = value as Record<string, unknown>
  const keys = Object.keys(obj).sort()
  let out = '{'
  for (const k of keys) {
    const v = obj[k]
    if (v === undefined) continue
    if (out.length > 1) out += ','
    out += `${JSON.stringify(k)}:${canonicalJson(v)}`
  }
  return out + '}'
}

export function canonicalBytes (value: unknown): Uint8Array {
  return utf8(canonicalJson(value))
}

export function toBase64url (bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url')
}

export function fromBase64url (text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, 'base64url'))
}
