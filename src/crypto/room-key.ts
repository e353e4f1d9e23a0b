/**
 * Room keys of private rooms: a random 32-byte key per member-list version, sealed to each
 * member's account key in the owner-signed list (seal.ts), encrypts the room's messages with
 * AES-256-GCM. The rendezvous node and anyone else subscribed to the topic see ciphertext only.
 * Each list also carries the older keys encrypted under its own, so invited members read the
 * history from before their invitation.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { randomChunk } from './random.js'
import { InvalidMessageError, roomContent, toBase64url, fromBase64url, MAX_ROOM_MEMBERS } from '../protocol/index.js'
import type { RoomContent, RoomSealedBody } from '../protocol/index.js'

export const ROOM_KEY_BYTES = 32

export function newRoomKey (): Uint8Array {
  return new Uint8Array(randomBytes(ROOM_KEY_BYTES))
}

function encrypt (key: Uint8Array, aad: string, plain: Uint8Array): { iv: string, ct: string } {
  const iv = randomChunk(12)
  const cipher = createCipheriv('aes-256-gcm', key, iv)
  cipher.setAAD(Buffer.from(aad))
  const ct = Buffer.concat([cipher.update(plain), cipher.final(), cipher.getAuthTag()])
  return { iv: toBase64url(iv), ct: toBase64url(ct) }
}

function decrypt (key: Uint8Array, aad: string, iv: string, ct: string): Uint8Array {
  try {
    const buf = Buffer.from(fromBase64url(ct))
    if (buf.length < 16) throw new Error('short')
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(fromBase64url(iv)))
    decipher.setAAD(Buffer.from(aad))
    decipher.setAuthTag(buf.subarray(buf.length - 16))
    return new Uint8Array(Buffer.concat([decipher.update(buf.subarray(0, buf.length - 16)), decipher.final()]))
  } catch {
    throw new InvalidMessageError('cannot open a room message: not for this room key or damaged')
  }
}

/** Bound to the room and key version, so a ciphertext does not pass for another room's. */
const messageAad = (room: string, v: number): string => `meshchat-room/1|${room}|${v}`
const pastAad = (room: string, v: number): string => `meshchat-room-past/1|${room}|${v}`

/** Encrypts a text or file offer for a private room with the key of list version `v`. */
export function sealRoomContent (key: Uint8Array, room: string, v: number, content: RoomContent): RoomSealedBody {
  return { v, ...encrypt(key, messageAad(room, v), new TextEncoder().encode(JSON.stringify(content))) }
}

/** Opens a private room's message; anything else is an InvalidMessageError. */
export function openRoomContent (key: Uint8Array, room: string, body: RoomSealedBody): RoomContent {
  const plain = decrypt(key, messageAad(room, body.v), body.iv, body.ct)
  let parsed
  try {
    parsed = roomContent.safeParse(JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(plain)))
  } catch {
    throw new InvalidMessageError('a room message holds no valid content')
  }
  if (!parsed.success) throw new InvalidMessageError('a room message holds no valid content')
  return parsed.data
}

/**
 * The keys of versions 1..`v`-1 (a missing one, from a list before room keys, is null),
 * encrypted under version `v`'s key.
 */
export function sealPastKeys (key: Uint8Array, room: string, v: number, past: Array<Uint8Array | null>): { iv: string, ct: string } {
  const all = new Uint8Array(past.length * ROOM_KEY_BYTES)
  past.forEach((k, i) => { if (k != null) all.set(k, i * ROOM_KEY_BYTES) })
  return encrypt(key, pastAad(room, v), all)
}

/** The older keys of a list, by version (1..`v`-1); versions without a key are left out. */
export function openPastKeys (key: Uint8Array, room: string, v: number, past: { iv: string, ct: string }): Map<number, Uint8Array> {
  const all = decrypt(key, pastAad(room, v), past.iv, past.ct)
  if (all.length % ROOM_KEY_BYTES !== 0 || all.length / ROOM_KEY_BYTES >= v || all.length / ROOM_KEY_BYTES > MAX_ROOM_MEMBERS) {
    throw new InvalidMessageError('the older room keys are damaged')
  }
  const out = new Map<number, Uint8Array>()
  for (let i = 0; i < all.length / ROOM_KEY_BYTES; i++) {
    const k = all.slice(i * ROOM_KEY_BYTES, (i + 1) * ROOM_KEY_BYTES)
    if (k.some(b => b !== 0)) out.set(i + 1, k)
  }
  return out
}
