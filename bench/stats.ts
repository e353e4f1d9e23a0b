/**
 * Small helpers every benchmark group shares: percentiles, bounded loops, and what a process
 * costs (RSS, CPU) read from /proc so that a child's memory is measured from the outside.
 */
import { readFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'

export interface Summary {
  n: number
  min: number
  p50: number
  p99: number
  max: number
  mean: number
}

/** Nearest-rank percentile of sorted samples (p in 0..100). */
export function percentile (sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN
  const rank = Math.ceil(p / 100 * sorted.length)
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!
}

export function summarize (samples: readonly number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b)
  const sum = sorted.reduce((a, b) => a + b, 0)
  return {
    n: sorted.length,
    min: sorted[0] ?? Number.NaN,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted.at(-1) ?? Number.NaN,
    mean: sorted.length === 0 ? Number.NaN : sum / sorted.length
  }
}

export function median (samples: readonly number[]): number {
  return percentile([...samples].sort((a, b) => a - b), 50)
}

/** Milliseconds, sub-microsecond resolution. */
export function now (): number {
  return performance.now()
}

/** A point in time past which loops stop. */
export class Deadline {
  private readonly end: number
  constructor (readonly ms: number) { this.end = now() + ms }
  get passed (): boolean { return now() >= this.end }
  get left (): number { return Math.max(0, this.end - now()) }
}

export class BenchTimeoutError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'BenchTimeoutError'
  }
}

/** Rejects with BenchTimeoutError when `promise` takes longer than `ms`. */
export async function withTimeout<T> (promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => { reject(new BenchTimeoutError(`${what} took longer than ${ms} ms`)) }, ms)
      })
    ])
  } finally {
    clearTimeout(timer)
  }
}

/** Waits for `cond` with a deadline, polling every `everyMs`. */
export async function until (cond: () => boolean | Promise<boolean>, ms: number, what: string, everyMs = 20): Promise<void> {
  const deadline = new Deadline(ms)
  while (!(await cond())) {
    if (deadline.passed) throw new BenchTimeoutError(`timed out after ${ms} ms waiting for ${what}`)
    await sleep(everyMs)
  }
}

export async function sleep (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms))
}

/** Runs `fn` over `items` with at most `concurrency` at once; results in input order. */
export async function pool<T, R> (items: readonly T[], concurrency: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length)
  let next = 0
  const workers = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) {
      const i = next++
      out[i] = await fn(items[i]!, i)
    }
  })
  await Promise.all(workers)
  return out
}

/** Resident set size of a process in bytes, from /proc (works for children too). */
export function rssOf (pid: number = process.pid): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1]
  if (kb == null) throw new Error(`no VmRSS for process ${pid}`)
  return Number(kb) * 1024
}

/** CPU time (user + system) a process has used so far, ms (assumes the usual 100 ticks a second). */
export function cpuMsOf (pid: number = process.pid): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // the command name may hold spaces: fields start after the last ')'
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 10
}

/** Write system calls a process has made (sockets, pipes and files), from /proc; undefined where it cannot be read. */
export function writeCallsOf (pid: number = process.pid): number | undefined {
  try {
    const m = /^syscw:\s*(\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))
    return m == null ? undefined : Number(m[1])
  } catch {
    return undefined
  }
}

export const MiB = 1024 * 1024
export const KiB = 1024
