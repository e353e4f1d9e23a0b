/** Persistent Ed25519 keys: a device's identity, or the rendezvous node's. */
import { randomBytes } from 'node:crypto'
import { verifyInWorker } from './worker-pool.js'
import { ed25519Sign, ed25519Verify } from './ed25519.js'
import { link, mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromString } from '@libp2p/peer-id'
import { InvalidInputError, printable } from '../protocol/index.js'
import type { PrivateKey, PublicKey } from '@libp2p/interface'

/** Loads the key at `path`, or makes one and writes it there (owner-only) when there is none. */
export async function loadOrCreateKey (path: string): Promise<PrivateKey> {
  try {
    const bytes = await readFile(path)
    try {
      return privateKeyFromProtobuf(new Uint8Array(bytes))
    } catch {
      throw new InvalidInputError(`key file ${path} is damaged; move it away to make a new identity`)
    }
  } catch (err: unknown) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw err
    }
  }
  const key = await generateKeyPair('Ed25519')
  await mkdir(dirname(path), { recursive: true, mode: 0o700 })
  const tmp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`
  await writeFile(tmp, privateKeyToProtobuf(key), { mode: 0o600 })
  try {
    // link() never replaces an existing file: the first writer wins and everyone else loads its key
    await link(tmp, path)
  } catch (err: unknown) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    return await loadOrCreateKey(path)
  } finally {
    await rm(tmp, { force: true })
  }
  return key
}

/** The public key inside an Ed25519 peer id string (identity multihash). */
export function publicKeyOf (peerId: string): PublicKey {
  const known = publicKeys.get(peerId)
  if (known != null) return known
  const key = parsePublicKey(peerId)
  if (publicKeys.size >= KNOWN_KEYS) publicKeys.delete(publicKeys.keys().next().value!)
  publicKeys.set(peerId, key)
  return key
}

/** Public keys of the devices met lately (a key object is costly to build, and every message needs its sender's). */
const publicKeys = new Map<string, PublicKey>()
const KNOWN_KEYS = 10_000

function parsePublicKey (peerId: string): PublicKey {
  let id
  try {
    id = peerIdFromString(peerId)
  } catch {
    throw new InvalidInputError(`invalid peer id "${printable(peerId)}"`)
  }
  if (id.publicKey == null) {
    throw new InvalidInputError(`peer id "${printable(peerId)}" does not carry its key`)
  }
  return id.publicKey
}

/** Ed25519 goes through ed25519.ts (libsodium, or OpenSSL with cached key objects); other key types through the key's own method. */
export async function signBytes (key: PrivateKey, data: Uint8Array): Promise<Uint8Array> {
  if (key.type !== 'Ed25519' || key.raw.byteLength !== 64) return await key.sign(data)
  return ed25519Sign(key.raw, data)
}

/**
 * `offload`: check in a worker thread (worker-pool.ts), for callers with many checks at once (a
 * page of backfill) so they use every core and leave the main thread its own work. A lone check
 * (a direct message, a room post) runs inline: a hop to a worker costs more than the check itself.
 */
export async function verifyBytes (key: PublicKey, data: Uint8Array, sig: Uint8Array, options: { offload?: boolean } = {}): Promise<boolean> {
  if (key.type !== 'Ed25519' || key.raw.byteLength !== 32) return await key.verify(data, sig)
  if (sig.byteLength !== 64) return false
  if (options.offload === true) return await verifyInWorker(key.raw, data, sig)
  return ed25519Verify(key.raw, data, sig)
}
