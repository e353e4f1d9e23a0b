/**
 * Frames are UTF-8 JSON, length-prefixed on the stream (see net/frames.ts). Signatures are taken
 * over a canonical JSON form (sorted keys) so that both sides hash the same bytes whatever order
 * a peer wrote its fields in.
 */
import type { z } from 'zod'
import { InvalidMessageError } from './errors.js'
import { MAX_FRAME_BYTES } from './constants.js'

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

export function encodeFrame (value: unknown, maxBytes = MAX_FRAME_BYTES): Uint8Array {
  const bytes = encoder.encode(JSON.stringify(value))
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

/** JSON with object keys sorted at every depth: the bytes that signatures cover. */
export function canonicalJson (value: unknown): string {
  if (Array.isArray(value)) {
    // like JSON.stringify: items that have no JSON form (undefined, functions) become null
    return `[${value.map(v => canonicalJson(v) ?? 'null').join(',')}]`
  }
  if (value !== null && typeof value === 'object') {
    const obj = value as Record<string, unknown>
    const keys = Object.keys(obj).filter(k => obj[k] !== undefined).sort()
    return `{${keys.map(k => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`
  }
  return JSON.stringify(value)
}

export function canonicalBytes (value: unknown): Uint8Array {
  return encoder.encode(canonicalJson(value))
}

export function toBase64url (bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url')
}

export function fromBase64url (text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, 'base64url'))
}
