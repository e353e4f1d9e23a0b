/**
 * Ed25519 checks in worker threads, for callers with many at once (a backfill page: 500
 * envelopes). A check costs 45–75 µs of CPU here (ed25519.ts); handed to libuv's pool one by one, each still
 * cost ~25 µs of the main thread to start (STACK-FACTS-style profile of a 100k backfill: 2.4 s of
 * 13 s). Here the checks asked for in one turn of the event loop go to a worker in one message,
 * and the worker answers them all in one. At most VERIFY_WORKERS workers, started on first use,
 * holding the process open only while they have work. A worker that fails is not used again: its
 * checks, and later ones, run inline.
 */
import { Worker } from 'node:worker_threads'
import { availableParallelism } from 'node:os'
import { SODIUM_PATH, usingSodium } from '../sodium.js'
import { ed25519Verify } from './ed25519.js'

/**
 * Workers at most: one fewer than the cores (the main thread has its own work), at most 4, but
 * at least 2 (on 2 cores a second worker still took a 100k backfill from 10.4 to 10.2 s: the
 * workers wait on the main thread less than the main thread waits on them).
 */
export const VERIFY_WORKERS = Math.max(2, Math.min(4, availableParallelism() - 1))
/** Checks in one message to a worker at most. */
const BATCH = 128

/**
 * The worker: checks a batch and answers 1 or 0 for each. A batch is one transferred buffer
 * holding, for each check, the 32-byte public key, the data and the 64-byte signature, with
 * `ends` marking where each data part ends: one copy in and none across, where a list of small
 * arrays cost a structured clone each. It checks with libsodium when the main thread does (its
 * path comes in workerData), with OpenSSL otherwise, as ed25519.ts.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads')
const { createPublicKey, verify } = require('node:crypto')
let sodium = null
if (workerData.sodium != null) {
  try { sodium = require(workerData.sodium) } catch {}
}
const keys = new Map()
function check (pub, data, sig) {
  if (sodium != null) return sodium.crypto_sign_verify_detached(sig, data, pub)
  const x = Buffer.from(pub.buffer, pub.byteOffset, 32).toString('base64url')
  let key = keys.get(x)
  if (key === undefined) {
    if (keys.size >= 10000) keys.clear()
    key = createPublicKey({ format: 'jwk', key: { crv: 'Ed25519', kty: 'OKP', x } })
    keys.set(x, key)
  }
  return verify(null, data, key, sig)
}
parentPort.on('message', ({ id, buf, ends }) => {
  const bytes = new Uint8Array(buf)
  const out = new Uint8Array(ends.length)
  let at = 0
  for (let i = 0; i < ends.length; i++) {
    const end = ends[i]
    try {
      out[i] = check(bytes.subarray(at, at + 32), bytes.subarray(at + 32, end), bytes.subarray(end, end + 64)) ? 1 : 0
    } catch {
      out[i] = 0
    }
    at = end + 64
  }
  parentPort.postMessage({ id, out }, [out.buffer])
})
`

type Check = [publicKey: Uint8Array, data: Uint8Array, sig: Uint8Array]
interface Pending { checks: Check[], resolve: Array<(ok: boolean) => void> }
interface Slot { worker: Worker, inFlight: Map<number, Pending> }

const slots: Slot[] = []
let broken = false
let nextId = 0
let queued: Pending | undefined

/** Checks `sig` over `data` by the 32-byte Ed25519 key `publicKey` in a worker. */
export async function verifyInWorker (publicKey: Uint8Array, data: Uint8Array, sig: Uint8Array): Promise<boolean> {
  // the batch buffer has room for exactly a 32-byte key and a 64-byte signature
  if (publicKey.byteLength !== 32 || sig.byteLength !== 64) return false
  if (broken) return verifyInline([publicKey, data, sig])
  return await new Promise(resolve => {
    if (queued == null) {
      queued = { checks: [], resolve: [] }
      setImmediate(flush)
    }
    queued.checks.push([publicKey, data, sig])
    queued.resolve.push(resolve)
    if (queued.checks.length >= BATCH) flush()
  })
}

function flush (): void {
  const batch = queued
  queued = undefined
  if (batch == null || batch.checks.length === 0) return
  const slot = pickSlot()
  if (slot == null) {
    batch.checks.forEach((c, i) => { batch.resolve[i]!(verifyInline(c)) })
    return
  }
  const id = nextId++
  slot.inFlight.set(id, batch)
  slot.worker.ref()
  const { checks } = batch
  let size = 0
  for (const [, data] of checks) size += 32 + data.byteLength + 64
  const bytes = new Uint8Array(size)
  const ends = new Uint32Array(checks.length)
  let at = 0
  checks.forEach(([publicKey, data, sig], i) => {
    bytes.set(publicKey, at)
    bytes.set(data, at + 32)
    ends[i] = at += 32 + data.byteLength
    bytes.set(sig, at)
    at += 64
  })
  slot.worker.postMessage({ id, buf: bytes.buffer, ends }, [bytes.buffer, ends.buffer])
}

/** The worker with the fewest checks in flight, starting one while fewer than VERIFY_WORKERS run. */
function pickSlot (): Slot | undefined {
  if (broken) return undefined
  const load = (s: Slot): number => [...s.inFlight.values()].reduce((n, p) => n + p.checks.length, 0)
  const idle = slots.find(s => s.inFlight.size === 0)
  if (idle != null) return idle
  if (slots.length < VERIFY_WORKERS) {
    try {
      return start()
    } catch {
      broken = true
      return undefined
    }
  }
  return slots.reduce((a, b) => load(a) <= load(b) ? a : b)
}

function start (): Slot {
  // a worker checks as this thread does: with libsodium only if it is in use here
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { sodium: usingSodium() ? SODIUM_PATH : null } })
  const slot: Slot = { worker, inFlight: new Map() }
  worker.on('message', ({ id, out }: { id: number, out: Uint8Array }) => {
    const batch = slot.inFlight.get(id)
    if (batch == null) return
    slot.inFlight.delete(id)
    batch.resolve.forEach((resolve, i) => { resolve(out[i] === 1) })
    if (slot.inFlight.size === 0) worker.unref()
  })
  const fail = (): void => {
    // this worker is gone: what it held is checked here, and no worker is used again
    broken = true
    const at = slots.indexOf(slot)
    if (at >= 0) slots.splice(at, 1)
    for (const batch of slot.inFlight.values()) batch.checks.forEach((c, i) => { batch.resolve[i]!(verifyInline(c)) })
    slot.inFlight.clear()
  }
  worker.on('error', fail)
  worker.on('exit', () => { if (slot.inFlight.size > 0 || slots.includes(slot)) fail() })
  worker.unref()
  slots.push(slot)
  return slot
}

function verifyInline ([publicKey, data, sig]: Check): boolean {
  return ed25519Verify(publicKey, data, sig)
}

/** Stops the workers (tests; a process exits without this, the workers hold it open only while busy). */
export async function stopVerifyWorkers (): Promise<void> {
  const all = slots.splice(0)
  await Promise.all(all.map(async s => { await s.worker.terminate() }))
}

/** For tests: marks the pool as failed (as after a worker crash), or whole again. */
export function verifyWorkersBroken (value?: boolean): boolean {
  if (value != null) broken = value
  return broken
}
