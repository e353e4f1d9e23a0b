/**
 * Bulk crypto in worker threads, for callers with many items at once (a backfill page: 500
 * archived items): Ed25519 checks, and opening sealed items (AES-256-GCM, seal.ts).
 *
 * A check costs 45–75 µs of CPU here (ed25519.ts); handed to libuv's pool one by one, each still
 * cost ~25 µs of the main thread to start (profile of a 100k backfill: 2.4 s of 13 s). Here the
 * checks asked for in one turn of the event loop go to a worker in one message, and the worker
 * answers them all in one. Opening a sealed item (base64url, then AES-256-GCM through a new
 * decipher object) cost the main thread ~16 µs in a later profile of the same backfill, where the
 * main thread was the bottleneck; a page's items go to a worker in one message too.
 *
 * At most POOL_WORKERS workers, started on first use, holding the process open only while they
 * have work. A worker that fails is not used again: what it held, and later work, runs inline.
 */
import { Worker } from 'node:worker_threads'
import { availableParallelism } from 'node:os'
import { createDecipheriv } from 'node:crypto'
import { SODIUM_PATH, usingSodium } from '../sodium.js'
import { ed25519Verify } from './ed25519.js'

/**
 * Workers at most: one fewer than the cores (the main thread has its own work), at most 4, but
 * at least 2 (on 2 cores a second worker still took a 100k backfill from 10.4 to 10.2 s: the
 * workers wait on the main thread less than the main thread waits on them).
 */
export const POOL_WORKERS = Math.max(2, Math.min(4, availableParallelism() - 1))
/** Checks in one message to a worker at most. */
const BATCH = 128

/**
 * Opens one sealed item — version ‖ ephemeral public key (32) ‖ iv (12) ‖ ciphertext ‖ tag (16),
 * as seal.ts writes it — with its AES-256-GCM key; undefined when it does not open. Written
 * without free variables (the decipher comes as a parameter): the workers run this very
 * function, from its source text.
 */
export function aesGcmOpen (decipher: typeof createDecipheriv, key: Uint8Array, buf: Uint8Array): Uint8Array | undefined {
  if (buf.byteLength < 1 + 32 + 12 + 16) return undefined
  try {
    const d = decipher('aes-256-gcm', key, buf.subarray(33, 45))
    d.setAuthTag(buf.subarray(buf.byteLength - 16))
    const head = d.update(buf.subarray(45, buf.byteLength - 16))
    const tail = d.final()
    return tail.byteLength === 0 ? head : Buffer.concat([head, tail])
  } catch {
    return undefined
  }
}

/**
 * The worker. A check batch is one transferred buffer holding, for each check, the 32-byte public
 * key, the data and the 64-byte signature, with `ends` marking where each data part ends: one copy
 * in and none across, where a list of small arrays cost a structured clone each. It checks with
 * libsodium when the main thread does (its path comes in workerData), with OpenSSL otherwise, as
 * ed25519.ts. An open batch is the sealed items as base64url text, the keys (32 bytes each) and
 * which key opens which item; the plaintexts come back in one transferred buffer.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads')
const { createPublicKey, verify, createDecipheriv } = require('node:crypto')
const aesGcmOpen = ${aesGcmOpen.toString()}
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
function checkAll ({ id, buf, ends }) {
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
}
function openAll ({ id, items, keys, keyAt }) {
  const plains = []
  let size = 0
  for (let i = 0; i < items.length; i++) {
    const key = keys.subarray(keyAt[i] * 32, keyAt[i] * 32 + 32)
    const plain = aesGcmOpen(createDecipheriv, key, Buffer.from(items[i], 'base64url'))
    plains.push(plain)
    if (plain !== undefined) size += plain.byteLength
  }
  const out = new Uint8Array(size)
  const lengths = new Int32Array(items.length)
  let at = 0
  plains.forEach((p, i) => {
    if (p === undefined) { lengths[i] = -1; return }
    out.set(p, at)
    at += lengths[i] = p.byteLength
  })
  parentPort.postMessage({ id, out, lengths }, [out.buffer, lengths.buffer])
}
parentPort.on('message', msg => { if (msg.op === 'open') openAll(msg); else checkAll(msg) })
`

type Check = [publicKey: Uint8Array, data: Uint8Array, sig: Uint8Array]
/** Work a worker holds: how many items (for picking the least loaded), what to do with its answer, and how to do it inline if the worker goes. */
interface Job { size: number, answer: (reply: Record<string, unknown>) => void, inline: () => void }
interface Slot { worker: Worker, inFlight: Map<number, Job> }

const slots: Slot[] = []
let broken = false
let nextId = 0
let queued: { checks: Check[], resolve: Array<(ok: boolean) => void> } | undefined

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
  const { checks, resolve } = batch
  const inline = (): void => { checks.forEach((c, i) => { resolve[i]!(verifyInline(c)) }) }
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
  const job: Job = {
    size: checks.length,
    answer: ({ out }) => { resolve.forEach((r, i) => { r((out as Uint8Array)[i] === 1) }) },
    inline
  }
  if (!post(job, { buf: bytes.buffer, ends }, [bytes.buffer, ends.buffer])) inline()
}

/**
 * Opens sealed items (base64url text, as seal.ts writes them) in a worker, `keys[keyAt[i]]`
 * opening `items[i]`: the plaintexts in order, undefined for an item that does not open.
 */
export async function openInWorker (items: string[], keys: Uint8Array[], keyAt: number[]): Promise<Array<Uint8Array | undefined>> {
  const inline = (): Array<Uint8Array | undefined> => items.map((s, i) => aesGcmOpen(createDecipheriv, keys[keyAt[i]!]!, Buffer.from(s, 'base64url')))
  if (items.length === 0) return []
  return await new Promise(resolve => {
    const packed = new Uint8Array(keys.length * 32)
    keys.forEach((k, i) => { packed.set(k, i * 32) })
    const job: Job = {
      size: items.length,
      answer: ({ out, lengths }) => {
        const bytes = out as Uint8Array
        let at = 0
        resolve([...(lengths as Int32Array)].map(n => {
          if (n < 0) return undefined
          at += n
          return bytes.subarray(at - n, at)
        }))
      },
      inline: () => { resolve(inline()) }
    }
    if (!post(job, { op: 'open', items, keys: packed, keyAt: Uint32Array.from(keyAt) }, [packed.buffer])) resolve(inline())
  })
}

/** Hands a job to the least loaded worker; false when no worker can take it (do it inline). */
function post (job: Job, message: Record<string, unknown>, transfer: ArrayBuffer[]): boolean {
  const slot = pickSlot()
  if (slot == null) return false
  const id = nextId++
  slot.inFlight.set(id, job)
  slot.worker.ref()
  slot.worker.postMessage({ id, ...message }, transfer)
  return true
}

/** The worker with the least work in flight, starting one while fewer than POOL_WORKERS run. */
function pickSlot (): Slot | undefined {
  if (broken) return undefined
  const load = (s: Slot): number => [...s.inFlight.values()].reduce((n, j) => n + j.size, 0)
  const idle = slots.find(s => s.inFlight.size === 0)
  if (idle != null) return idle
  if (slots.length < POOL_WORKERS) {
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
  worker.on('message', (reply: Record<string, unknown> & { id: number }) => {
    const job = slot.inFlight.get(reply.id)
    if (job == null) return
    slot.inFlight.delete(reply.id)
    job.answer(reply)
    if (slot.inFlight.size === 0) worker.unref()
  })
  const fail = (): void => {
    // this worker is gone: what it held is done here, and no worker is used again
    broken = true
    const at = slots.indexOf(slot)
    if (at >= 0) slots.splice(at, 1)
    for (const job of slot.inFlight.values()) job.inline()
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
export async function stopPoolWorkers (): Promise<void> {
  const all = slots.splice(0)
  await Promise.all(all.map(async s => { await s.worker.terminate() }))
}

/** For tests: marks the pool as failed (as after a worker crash), or whole again. */
export function poolWorkersBroken (value?: boolean): boolean {
  if (value != null) broken = value
  return broken
}
