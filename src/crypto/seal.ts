/**
 * Sealing to an account key (DESIGN.md "Identity and trust"): an X25519 key pair per account.
 * Anyone can seal to its public half (ephemeral X25519 + HKDF-SHA256 + AES-256-GCM); only the
 * account's devices can open. The private half travels to the rendezvous node only wrapped with
 * a key derived from the password on the client, so the node can never unwrap it.
 */
import {
  createCipheriv, createDecipheriv, createPrivateKey, createPublicKey, diffieHellman,
  generateKeyPairSync, hkdfSync, randomBytes
} from 'node:crypto'
import { InvalidMessageError, WrongPasswordError, toBase64url, fromBase64url } from '../protocol/index.js'
import { deriveKey } from './password.js'
import { randomChunk } from './random.js'
import { aesGcmOpen, openInWorker } from './worker-pool.js'
import type { KeyObject } from 'node:crypto'

export interface AccountKeyPair {
  /** base64url of the raw 32-byte X25519 public key */
  publicKey: string
  /** base64url of the raw 32-byte X25519 private key */
  privateKey: string
}

export interface WrappedKey {
  v: 1
  alg: 'scrypt-aes256gcm'
  N: number
  r: number
  p: number
  salt: string
  iv: string
  ct: string
}

const SEAL_VERSION = 1
const INFO = Buffer.from('meshchat-seal/1')
/** Wrapping cost: deliberately slow, like the password hash. */
export const DEFAULT_WRAP_SCRYPT = { N: 2 ** 15, r: 8, p: 1 }

/**
 * Sealing costs an X25519 key generation and agreement on each side; a device seals every message
 * twice (for both accounts) and a new device opens thousands when it backfills. So a sealing
 * account keeps one ephemeral key per recipient for a while (SEAL_KEY_USES seals or
 * SEAL_KEY_TTL_MS, whichever comes first) and the opening side keeps the keys it derived, by
 * ephemeral public key. The format is unchanged: every sealed item still carries its ephemeral
 * public key and a random 96-bit IV (far below AES-GCM's 2^32 messages per key). What reuse gives
 * away: items sealed with one ephemeral key are linkable to one sealing account — which the node
 * already knows, since it stores who put each item.
 *
 * Everything kept is kept per account (the `sender` of seal(), the key pair of open()), because
 * one process may run several accounts (bots, the test Harness): they never share an ephemeral
 * key, and forgetSealCaches(account) drops what one account kept when it logs out or its client
 * stops. A seal() without a sender keeps nothing: a fresh ephemeral key for every item.
 */
export const SEAL_KEY_USES = 10_000
export const SEAL_KEY_TTL_MS = 10 * 60_000
/** Entries in each cache, all accounts together (recipients sealed to; keys derived when opening; private keys). */
const SEAL_CACHE_ENTRIES = 1024

interface SealingKey { ephPub: Buffer, key: Buffer, uses: number, until: number }
/** By `${sender}.${recipient}` (account public keys: base64url, never a '.'). */
const sealingKeys = new Map<string, SealingKey>()
/** By `${account}.${ephemeral public key}`. */
const openingKeys = new Map<string, Buffer>()
/** By account public key, with the raw private key it was made from. */
const privateKeys = new Map<string, { raw: string, key: KeyObject }>()

/** Sets a bounded map entry, dropping the oldest entry past the bound. */
function remember<V> (map: Map<string, V>, key: string, value: V): V {
  map.delete(key)
  map.set(key, value)
  if (map.size > SEAL_CACHE_ENTRIES) map.delete(map.keys().next().value!)
  return value
}

/**
 * Forgets everything `account` (its account public key) kept here: its ephemeral sealing keys,
 * the keys it derived when opening (zeroed) and its private key object. Called when a client stops
 * or a device logs out; sealing or opening for it afterwards starts afresh.
 */
export function forgetSealCaches (account: string): void {
  privateKeys.delete(account)
  const prefix = `${account}.`
  for (const [id, entry] of sealingKeys) {
    if (!id.startsWith(prefix)) continue
    entry.key.fill(0)
    sealingKeys.delete(id)
  }
  for (const [id, key] of openingKeys) {
    if (!id.startsWith(prefix)) continue
    key.fill(0)
    openingKeys.delete(id)
  }
}

function publicKeyObject (raw: string): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: raw }, format: 'jwk' })
}

function privateKeyObject (pair: AccountKeyPair): KeyObject {
  const cached = privateKeys.get(pair.publicKey)
  if (cached != null && cached.raw === pair.privateKey) return cached.key
  const key = createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', x: pair.publicKey, d: pair.privateKey }, format: 'jwk' })
  return remember(privateKeys, pair.publicKey, { raw: pair.privateKey, key }).key
}

export function generateAccountKey (): AccountKeyPair {
  const { privateKey } = generateKeyPairSync('x25519')
  const jwk = privateKey.export({ format: 'jwk' })
  if (jwk.x == null || jwk.d == null) throw new Error('x25519 key export failed')
  return { publicKey: jwk.x, privateKey: jwk.d }
}

function aeadKey (shared: Buffer, ephemeral: Buffer, recipient: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', shared, Buffer.concat([ephemeral, recipient]), INFO, 32))
}

/** The ephemeral key and derived AEAD key for `sender` to seal to `recipientPublicKey` with now. */
function sealingKey (recipientPublicKey: string, sender: string | undefined, now = Date.now()): SealingKey {
  const id = sender == null ? undefined : `${sender}.${recipientPublicKey}`
  const cached = id == null ? undefined : sealingKeys.get(id)
  if (cached != null && cached.uses < SEAL_KEY_USES && now < cached.until) {
    cached.uses++
    return cached
  }
  const eph = generateKeyPairSync('x25519')
  const ephPub = Buffer.from(fromBase64url(eph.publicKey.export({ format: 'jwk' }).x!))
  const shared = diffieHellman({ privateKey: eph.privateKey, publicKey: publicKeyObject(recipientPublicKey) })
  const fresh = { ephPub, key: aeadKey(shared, ephPub, Buffer.from(fromBase64url(recipientPublicKey))), uses: 1, until: now + SEAL_KEY_TTL_MS }
  return id == null ? fresh : remember(sealingKeys, id, fresh)
}

/**
 * Seals `plaintext` to an account's public key: version ‖ ephemeral public ‖ iv ‖ ciphertext ‖ tag.
 * `sender` is the sealing account's public key: what it seals to one recipient shares an
 * ephemeral key for a while (see above). Without it the item gets an ephemeral key of its own.
 */
export function seal (recipientPublicKey: string, plaintext: Uint8Array, sender?: string): string {
  const { ephPub, key } = sealingKey(recipientPublicKey, sender)
  const iv = randomChunk(12)
  const cipher = createCipheriv('aes-256-gcm', key, iv)
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final()])
  return toBase64url(Buffer.concat([Buffer.from([SEAL_VERSION]), ephPub, iv, ct, cipher.getAuthTag()]))
}

/** The base64url characters that encode exactly the version byte and the ephemeral public key (33 bytes). */
const HEADER = /^[A-Za-z0-9_-]{44}/

interface Opening { id: string, key: Buffer }

/**
 * The key that opens `sealed` for this account: kept from an earlier open, or derived now (kept
 * once something opens with it). Undefined for a header that is not this format's. Kept keys go
 * by the header's text, which encodes exactly the version and the ephemeral key.
 */
function openingKey (pair: AccountKeyPair, sealed: string, derived?: Map<string, Opening>): Opening | undefined {
  const header = HEADER.exec(sealed)?.[0]
  if (header == null) return undefined
  const id = `${pair.publicKey}.${header}`
  const kept = openingKeys.get(id) ?? derived?.get(id)?.key
  if (kept != null) return { id, key: kept }
  const head = Buffer.from(header, 'base64url')
  if (head[0] !== SEAL_VERSION) return undefined
  const ephPub = head.subarray(1)
  try {
    const shared = diffieHellman({ privateKey: privateKeyObject(pair), publicKey: publicKeyObject(toBase64url(ephPub)) })
    const opening = { id, key: aeadKey(shared, ephPub, Buffer.from(fromBase64url(pair.publicKey))) }
    derived?.set(id, opening)
    return opening
  } catch {
    return undefined
  }
}

/**
 * Opens what was sealed to this account; anything else is an InvalidMessageError. The keys it derives
 * are kept for this account (`pair.publicKey`) until forgetSealCaches.
 */
export function open (pair: AccountKeyPair, sealed: string): Uint8Array {
  const opening = openingKey(pair, sealed)
  const plain = opening == null ? undefined : aesGcmOpen(createDecipheriv, opening.key, Buffer.from(sealed, 'base64url'))
  if (opening == null || plain == null) throw new InvalidMessageError('cannot open a sealed item: not sealed to this account or damaged')
  // only a key that opened something is kept (junk ephemeral keys do not fill the cache)
  if (!openingKeys.has(opening.id)) remember(openingKeys, opening.id, opening.key)
  return plain
}

/**
 * Opens many sealed items at once (a page of backfill), in a worker thread (worker-pool.ts): the
 * plaintexts in order, undefined for an item that does not open. The keys are derived here, once
 * per ephemeral key, and kept as open() keeps them.
 */
export async function openMany (pair: AccountKeyPair, sealed: string[]): Promise<Array<Uint8Array | undefined>> {
  const derived = new Map<string, Opening>()
  /** The distinct keys of this call, and the index of each by its id. */
  const keys: Opening[] = []
  const keyIndex = new Map<string, number>()
  const items: string[] = []
  const keyAt: number[] = []
  const slot: number[] = []
  sealed.forEach((s, i) => {
    const opening = openingKey(pair, s, derived)
    if (opening == null) return
    let k = keyIndex.get(opening.id)
    if (k == null) {
      keyIndex.set(opening.id, k = keys.length)
      keys.push(opening)
    }
    items.push(s)
    keyAt.push(k)
    slot.push(i)
  })
  const opened = await openInWorker(items, keys.map(k => k.key), keyAt)
  const out: Array<Uint8Array | undefined> = sealed.map(() => undefined)
  opened.forEach((plain, j) => {
    if (plain == null) return
    out[slot[j]!] = plain
    const { id, key } = keys[keyAt[j]!]!
    if (!openingKeys.has(id)) remember(openingKeys, id, key)
  })
  return out
}

/** Wraps the account's private key with a key derived from the password (on the client only). */
export async function wrapAccountKey (privateKey: string, password: string, params = DEFAULT_WRAP_SCRYPT): Promise<WrappedKey> {
  const salt = randomBytes(16)
  const kek = await deriveKey(password, salt, params.N, params.r, params.p)
  const iv = randomBytes(12)
  const cipher = createCipheriv('aes-256-gcm', kek, iv)
  const ct = Buffer.concat([cipher.update(Buffer.from(fromBase64url(privateKey))), cipher.final(), cipher.getAuthTag()])
  return { v: 1, alg: 'scrypt-aes256gcm', ...params, salt: toBase64url(salt), iv: toBase64url(iv), ct: toBase64url(ct) }
}

export async function unwrapAccountKey (wrapped: WrappedKey, password: string): Promise<string> {
  const kek = await deriveKey(password, Buffer.from(fromBase64url(wrapped.salt)), wrapped.N, wrapped.r, wrapped.p)
  try {
    const buf = Buffer.from(fromBase64url(wrapped.ct))
    const decipher = createDecipheriv('aes-256-gcm', kek, Buffer.from(fromBase64url(wrapped.iv)))
    decipher.setAuthTag(buf.subarray(buf.length - 16))
    return toBase64url(Buffer.concat([decipher.update(buf.subarray(0, buf.length - 16)), decipher.final()]))
  } catch {
    throw new WrongPasswordError('the account key cannot be unwrapped with this password')
  }
}
