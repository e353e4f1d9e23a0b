/**
 * Password hashing with scrypt (node:crypto): slow, salted, parameters stored beside the hash so
 * they can be raised later without breaking existing accounts.
 */
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto'

export interface PasswordHash {
  alg: 'scrypt'
  N: number
  r: number
  p: number
  salt: string
  hash: string
}

/** N = 2^15, r = 8: about 32 MiB and tens of milliseconds a hash on this machine kind. */
export const DEFAULT_SCRYPT = { N: 2 ** 15, r: 8, p: 1 }

/** scrypt of a password (NFKC-normalised) into a 32-byte key. */
export function deriveKey (password: string, salt: Buffer, N: number, r: number, p: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFKC'), salt, 32, { N, r, p, maxmem: 256 * N * r + 1024 * 1024 }, (err, key) => {
      if (err != null) reject(err)
      else resolve(key)
    })
  })
}

export async function hashPassword (password: string, params = DEFAULT_SCRYPT): Promise<PasswordHash> {
  const salt = randomBytes(16)
  const key = await deriveKey(password, salt, params.N, params.r, params.p)
  return { alg: 'scrypt', ...params, salt: salt.toString('base64'), hash: key.toString('base64') }
}

export async function verifyPassword (password: string, stored: PasswordHash): Promise<boolean> {
  const expected = Buffer.from(stored.hash, 'base64')
  const key = await deriveKey(password, Buffer.from(stored.salt, 'base64'), stored.N, stored.r, stored.p)
  return key.length === expected.length && timingSafeEqual(key, expected)
}
