/**
 * Random bytes for the small values every message needs (its id, the IVs of its sealed copies):
 * one randomBytes call costs a few microseconds whatever its size, so they are cut from a pool
 * filled 4 KiB at a time. Every byte is handed out once and copied out of the pool.
 */
import { randomBytes } from 'node:crypto'

const POOL_BYTES = 4096
let pool = Buffer.alloc(0)
let used = 0

/** `n` fresh random bytes (from the pool when small). */
export function randomChunk (n: number): Buffer {
  if (n > POOL_BYTES / 8) return randomBytes(n)
  if (used + n > pool.length) {
    pool = randomBytes(POOL_BYTES)
    used = 0
  }
  const out = Buffer.from(pool.subarray(used, used + n))
  pool.fill(0, used, used + n)
  used += n
  return out
}
