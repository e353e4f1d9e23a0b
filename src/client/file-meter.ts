/**
 * Progress of one file's move (hashing, receiving, uploading to the rendezvous node): bytes so
 * far, a rate over the last seconds, and a throttle so listeners and events hear of it at most
 * every PROGRESS_EVERY_MS (and always at the end).
 */
import type { FileProgress } from './files.js'

/** Progress events and callbacks at most this often per transfer. */
export const PROGRESS_EVERY_MS = 250
const RATE_WINDOW_MS = 3_000

export interface Meter {
  phase: FileProgress['phase']
  bytes: number
  total: number
  samples: Array<{ at: number, bytes: number }>
  lastEmit: number
}

export function newMeter (phase: FileProgress['phase'], total: number): Meter {
  return { phase, bytes: 0, total, samples: [], lastEmit: 0 }
}

/** Records progress; true when it is time to tell (throttled, and always at the end). */
export function tick (m: Meter, bytes: number): boolean {
  const now = Date.now()
  m.bytes = bytes
  m.samples.push({ at: now, bytes })
  while (m.samples.length > 2 && now - m.samples[0]!.at > RATE_WINDOW_MS) m.samples.shift()
  if (now - m.lastEmit < PROGRESS_EVERY_MS && bytes < m.total) return false
  m.lastEmit = now
  return true
}

/** Bytes a second over the last few seconds. */
export function rateOf (m: Meter): number {
  const first = m.samples[0]
  const last = m.samples[m.samples.length - 1]
  if (first == null || last == null || last.at <= first.at) return 0
  return (last.bytes - first.bytes) * 1000 / (last.at - first.at)
}

export function snapshot (m: Meter): Omit<FileProgress, 'id' | 'name'> {
  return { phase: m.phase, bytes: m.bytes, total: m.total, rate: Math.round(rateOf(m)) }
}
