/** Persistent Ed25519 keys: a device's identity, or the rendezvous node's. */
import { randomBytes } from 'node:crypto'
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
