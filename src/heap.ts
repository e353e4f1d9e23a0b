/**
 * How far V8 lets the old generation grow past what its last full collection left live.
 *
 * V8 picks the factor itself, between 1.1 and 4, from how fast it collects against how fast the
 * program allocates. Under a steady stream of messages it picked close to 4: a `meshchat listen`
 * taking ~1,700 DMs/s kept 40–50 MiB live, yet its heap grew 92 → 215 MiB and its RSS 170 →
 * 316 MiB within 90 s, and still rose at the end. With the factor fixed at 1.5 the heap settled
 * at ~85 MiB and the RSS at ~190 MiB for the same messages and the same CPU (57.7 against 58.6 s
 * of CPU in 90 s). docs/benchmarks.md (run M) has the figures of every process.
 *
 * The cost is more full collections when much is live and much is promoted: in a synthetic churn
 * (30 MiB live, ~1 GiB allocated and dropped, much of it after promotion) the run took ~15%
 * longer, in return for 227 instead of 521 MiB of heap.
 */
import { setFlagsFromString } from 'node:v8'

/** The old generation may grow to (1 + this / 100) × what was live after a full collection. */
export const HEAP_GROWING_PERCENT = 50

/**
 * The percent to use: `MESHCHAT_HEAP_GROWING_PERCENT` when set (0: leave it to V8, as before),
 * else HEAP_GROWING_PERCENT. A value that is not an integer 0–300 is an error.
 */
export function heapGrowingPercent (env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.MESHCHAT_HEAP_GROWING_PERCENT
  if (raw == null || raw === '') return HEAP_GROWING_PERCENT
  const n = Number(raw)
  if (!/^\d+$/.test(raw.trim()) || n > 300) throw new RangeError(`MESHCHAT_HEAP_GROWING_PERCENT must be an integer from 0 to 300, not "${raw}"`)
  return n
}

/** Fixes V8's heap growing factor for this process (meshchat's commands, and the bench's clients); 0 leaves V8's own. */
export function tuneHeap (percent = heapGrowingPercent()): void {
  if (percent > 0) setFlagsFromString(`--heap-growing-percent=${percent}`)
}
