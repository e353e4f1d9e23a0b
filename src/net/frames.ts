/**
 * Length-prefixed JSON frames on libp2p 3 message streams, and the one-request-one-response
 * pattern most meshchat protocols use. Every wait is bounded by a signal.
 */
import { byteStream, lpStream } from '@libp2p/utils'
import { decodeFrame, encodeFrame, InvalidMessageError, MAX_FRAME_BYTES, TimeoutError, toWireError, fromWireError, MeshchatError, RateLimitedError } from '../protocol/index.js'
import type { RateLimiter } from '../protocol/index.js'
import { DEFAULT_HANDLER_READ_TIMEOUT_MS, DEFAULT_MAX_INBOUND_STREAMS, DEFAULT_REQUEST_TIMEOUT_MS } from './constants.js'
import type { AbortOptions, Connection, Libp2p, PeerId, Stream } from '@libp2p/interface'
import type { LengthPrefixedStream } from '@libp2p/utils'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { z } from 'zod'
import type { WireError } from '../protocol/index.js'

export type FrameStream = LengthPrefixedStream<Stream>

export function frameStream (stream: Stream, maxBytes = MAX_FRAME_BYTES): FrameStream {
  return lpStream(stream, { maxDataLength: maxBytes, lengthDecoder: frameLengthDecoder(maxBytes) })
}

/**
 * Thrown, never built anew, while a length prefix is incomplete: by frameLengthDecoder here and
 * by noiseLength (node.ts). Length decoders take any RangeError as "wait for more bytes".
 */
export const NEED_MORE_BYTES = new RangeError('a length prefix is not complete yet')

/**
 * The varint length before each frame. lpStream reads it one byte at a time and asks its decoder
 * after each byte; a RangeError means "not complete yet". uint8-varint builds a new RangeError for
 * that, which is a stack trace built and thrown away for every frame of 128 bytes or more (5–10
 * µs each here). This one throws one shared RangeError. A prefix longer than `maxBytes` needs is
 * refused outright (lpStream would otherwise read 0xff bytes until its read deadline).
 */
export function frameLengthDecoder (maxBytes: number): (buf: { byteLength: number, get: (i: number) => number } | Uint8Array) => number {
  let maxLengthBytes = 1
  for (let n = maxBytes; n >= 0x80; n = Math.floor(n / 0x80)) maxLengthBytes++
  return buf => {
    let value = 0
    let scale = 1
    for (let i = 0; i < buf.byteLength; i++) {
      const b = buf instanceof Uint8Array ? buf[i]! : buf.get(i)
      value += (b & 0x7f) * scale
      if (b < 0x80) return value
      if (i + 1 >= maxLengthBytes) throw new InvalidMessageError(`frame length prefix longer than ${maxLengthBytes} bytes`)
      scale *= 0x80
    }
    throw NEED_MORE_BYTES
  }
}

export async function writeFrame (lp: FrameStream, value: unknown, options: AbortOptions = {}, maxBytes = MAX_FRAME_BYTES): Promise<void> {
  await lp.write(encodeFrame(value, maxBytes), options)
}

/** A signal that aborts after `ms` without a refresh(): the read deadline of a long-lived stream. */
export interface SilenceTimer {
  readonly signal: AbortSignal
  /** Starts the wait again (a frame arrived). */
  refresh: () => void
  clear: () => void
}

/**
 * One timer for all the reads of a long-lived stream, pushed back after each frame, instead of a
 * timeout signal per read: each of those is a timer that still fires (and builds an abort error)
 * long after its read is done.
 */
export function silenceTimer (ms: number): SilenceTimer {
  const controller = new AbortController()
  const timer = setTimeout(() => { controller.abort(new TimeoutError(`silent for ${ms} ms`)) }, ms)
  timer.unref()
  return {
    signal: controller.signal,
    refresh: () => { if (!controller.signal.aborted) timer.refresh() },
    clear: () => { clearTimeout(timer) }
  }
}

/** Reads one frame and validates it; a closed or reset stream becomes InvalidMessageError. */
export async function readFrame<S extends z.ZodType> (lp: FrameStream, schema: S, options: AbortOptions = {}, maxBytes = MAX_FRAME_BYTES): Promise<z.infer<S>> {
  let data
  try {
    data = await lp.read(options)
  } catch (err: unknown) {
    if (options.signal?.aborted === true) {
      throw new TimeoutError('no answer in time')
    }
    const name = (err as Error).name
    if (name === 'InvalidDataLengthError' || name === 'InvalidDataLengthLengthError') {
      throw new InvalidMessageError(`frame over the ${maxBytes} byte limit`)
    }
    throw new InvalidMessageError(`stream ended: ${(err as Error).message}`)
  }
  return decodeFrame(data.subarray(), schema, maxBytes)
}

/**
 * Opens a protocol stream to a peer, reusing an open connection: a direct one first, else (when
 * allowed) a relayed one. libp2p's own dial ignores relayed ("limited") connections and dials
 * again, which through a relay fails or wastes a circuit.
 */
export async function openStream (node: Libp2p, peer: PeerId | Multiaddr | Multiaddr[], protocol: string, options: AbortOptions & { runOnLimitedConnection?: boolean } = {}): Promise<Stream> {
  if (!Array.isArray(peer) && 'toMultihash' in peer) {
    const open = node.getConnections(peer).filter(c => c.status === 'open')
    const conn = open.find(c => c.limits == null) ?? (options.runOnLimitedConnection === true ? open[0] : undefined)
    if (conn != null) return await conn.newStream(protocol, { ...options, runOnLimitedConnection: options.runOnLimitedConnection === true })
  }
  return await node.dialProtocol(peer, protocol, { ...options, runOnLimitedConnection: options.runOnLimitedConnection === true })
}

/** Round trip of the libp2p ping protocol (32 random bytes echoed), over relayed connections too. */
export async function pingPeer (node: Libp2p, peer: PeerId, options: AbortOptions = {}): Promise<number> {
  const stream = await openStream(node, peer, '/ipfs/ping/1.0.0', { ...options, runOnLimitedConnection: true })
  try {
    const data = crypto.getRandomValues(new Uint8Array(32))
    const bytes = byteStream(stream)
    const start = performance.now()
    await bytes.write(data, options)
    const echo = await bytes.read({ ...options, bytes: 32 })
    const rtt = performance.now() - start
    if (Buffer.compare(Buffer.from(echo.subarray()), Buffer.from(data)) !== 0) throw new InvalidMessageError('wrong ping answer')
    await stream.close(options).catch(() => {})
    return rtt
  } catch (err) {
    stream.abort(err as Error)
    throw err
  }
}

/** Is this error one we made on purpose (safe to show), rather than a bug? */
export function isMeshchatError (err: unknown): err is MeshchatError {
  return err instanceof MeshchatError
}

export interface RequestOptions extends AbortOptions {
  timeoutMs?: number
  /** Largest request and response frame. @default MAX_FRAME_BYTES */
  maxFrameBytes?: number
  /** Also over a relayed (limited) connection. @default false */
  runOnLimitedConnection?: boolean
}

/**
 * Opens a stream to `peer`, writes `req`, reads one response of `schema`, closes the stream.
 * A response of the shape `{ ok: false, error }` is thrown as the named error it carries.
 */
export async function request<S extends z.ZodType> (node: Libp2p, peer: PeerId | Multiaddr | Multiaddr[], protocol: string, req: unknown, schema: S, options: RequestOptions = {}): Promise<z.infer<S>> {
  const signal = options.signal ?? AbortSignal.timeout(options.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS)
  const stream = await openStream(node, peer, protocol, { signal, runOnLimitedConnection: options.runOnLimitedConnection === true })
  const max = options.maxFrameBytes ?? MAX_FRAME_BYTES
  try {
    const lp = frameStream(stream, max)
    await writeFrame(lp, req, { signal }, max)
    const res = await readFrame(lp, schema, { signal }, max) as { ok?: boolean, error?: WireError }
    await stream.close({ signal }).catch(() => {})
    if (res.ok === false && res.error != null) {
      throw fromWireError(res.error)
    }
    return res as z.infer<S>
  } catch (err) {
    stream.abort(err as Error)
    throw err
  }
}

export interface HandlerContext {
  connection: Connection
  stream: Stream
}

export interface HandleRequestsOptions {
  maxInboundStreams?: number
  readTimeoutMs?: number
  /** Largest request and response frame. @default MAX_FRAME_BYTES */
  maxFrameBytes?: number
  /** Also over a relayed (limited) connection. @default false */
  runOnLimitedConnection?: boolean
  /** Requests allowed per remote peer (a token bucket keyed by peer id); past it: RateLimitedError. */
  rateLimiter?: RateLimiter
  /** Called for every request that failed, for logging. */
  onError?: (err: unknown, ctx: HandlerContext) => void
  /**
   * Serve many requests on one stream (see channel.ts): answered in order, handled a few at a
   * time, until the other end closes or the stream is idle for `idleMs`. @default false
   */
  persistent?: boolean
  /** Idle time after which a persistent stream is closed (its first request is due within readTimeoutMs). @default 30000 */
  idleMs?: number
  /** Requests of one persistent stream handled at once. @default 32 */
  maxInFlight?: number
}

/**
 * Registers a one-request-one-response handler. Malformed input, handler errors and timeouts are
 * answered with `{ ok: false, error }` where the stream still works, and never escape.
 */
export async function handleRequests<S extends z.ZodType> (node: Libp2p, protocol: string, schema: S, handler: (req: z.infer<S>, ctx: HandlerContext) => Promise<unknown>, options: HandleRequestsOptions = {}): Promise<void> {
  await node.handle(protocol, async (stream, connection) => {
    const ctx = { stream, connection }
    const max = options.maxFrameBytes ?? MAX_FRAME_BYTES
    const lp = frameStream(stream, max)
    if (options.persistent === true) {
      await servePersistent(lp, ctx, schema, handler, options)
      return
    }
    const signal = AbortSignal.timeout(options.readTimeoutMs ?? DEFAULT_HANDLER_READ_TIMEOUT_MS)
    try {
      const req = await readFrame(lp, schema, { signal }, max)
      let res: unknown
      try {
        if (options.rateLimiter != null && !options.rateLimiter.take(connection.remotePeer.toString())) {
          throw new RateLimitedError('too many requests; slow down')
        }
        res = await handler(req, ctx)
      } catch (err) {
        options.onError?.(err, ctx)
        res = { ok: false, error: toWireError(err) }
      }
      await writeFrame(lp, res, { signal: AbortSignal.timeout(DEFAULT_REQUEST_TIMEOUT_MS) }, max)
      await stream.close({ signal: AbortSignal.timeout(DEFAULT_REQUEST_TIMEOUT_MS) })
    } catch (err) {
      options.onError?.(err, ctx)
      if (err instanceof InvalidMessageError) {
        await writeFrame(lp, { ok: false, error: toWireError(err) }, { signal: AbortSignal.timeout(1000) }).catch(() => {})
      }
      stream.abort(err as Error)
    }
  }, { maxInboundStreams: options.maxInboundStreams ?? DEFAULT_MAX_INBOUND_STREAMS, ...(options.runOnLimitedConnection === true ? { runOnLimitedConnection: true } : {}) })
}

/** A persistent stream's answer to one request: `value` once `settled`. */
interface Answer {
  done: Promise<void>
  settled: boolean
  value?: unknown
}

/** The persistent side of handleRequests: many requests on one stream, answered in order. */
async function servePersistent<S extends z.ZodType> (lp: FrameStream, ctx: HandlerContext, schema: S, handler: (req: z.infer<S>, ctx: HandlerContext) => Promise<unknown>, options: HandleRequestsOptions): Promise<void> {
  const { stream, connection } = ctx
  const max = options.maxFrameBytes ?? MAX_FRAME_BYTES
  const inFlight = options.maxInFlight ?? 32
  /** Answers in the order of their requests; `settled` once the handler is done. */
  const answers: Answer[] = []
  let wake: (() => void) | undefined
  /** Wakes the reader when an answer went out (or the writer failed): it waits for room, never spins. */
  let written: (() => void) | undefined
  let served = 0
  const run = async (req: z.infer<S>): Promise<unknown> => {
    try {
      if (options.rateLimiter != null && !options.rateLimiter.take(connection.remotePeer.toString())) {
        throw new RateLimitedError('too many requests; slow down')
      }
      return await handler(req, ctx)
    } catch (err) {
      options.onError?.(err, ctx)
      return { ok: false, error: toWireError(err) }
    }
  }
  const answer = (req: z.infer<S>): void => {
    const entry: Answer = { settled: false, done: Promise.resolve() }
    entry.done = run(req).then(value => { entry.value = value; entry.settled = true })
    answers.push(entry)
  }
  // the writer sends answers in the order the requests came, as each is ready; the ones ready
  // together (requests handled in one go) leave in one write: one muxer frame, one encryption and
  // one system call for all of them, instead of one each
  let writerError: unknown
  let reading = true
  const writer = (async () => {
    while (reading || answers.length > 0) {
      const next = answers[0]
      if (next == null) {
        await new Promise<void>(resolve => { wake = resolve })
        wake = undefined
        continue
      }
      await next.done
      // the others finishing in this same turn settle in its microtasks: gather them too
      await new Promise<void>(resolve => { process.nextTick(resolve) })
      let ready = 1
      while (ready < answers.length && answers[ready]!.settled) ready++
      const batch = answers.splice(0, ready)
      await lp.writeV(batch.map(a => encodeFrame(a.value, max)), { signal: AbortSignal.timeout(DEFAULT_REQUEST_TIMEOUT_MS) })
      served += batch.length
      written?.()
    }
  })().catch(err => { writerError = err; stream.abort(err as Error); written?.() })
  try {
    for (;;) {
      while (answers.length >= inFlight && writerError == null) await new Promise<void>(resolve => { written = resolve })
      if (writerError != null) return
      let req: z.infer<S>
      try {
        // the first request is due as soon as on a one-request stream: an open, silent stream holds a slot
        const wait = served === 0 && answers.length === 0 ? (options.readTimeoutMs ?? DEFAULT_HANDLER_READ_TIMEOUT_MS) : (options.idleMs ?? 30_000)
        req = await readFrame(lp, schema, { signal: AbortSignal.timeout(wait) }, max)
      } catch (err) {
        // the other end closed its side after its last request: a normal end
        if (err instanceof InvalidMessageError && /stream ended/.test(err.message) && (served > 0 || answers.length > 0)) break
        throw err
      }
      answer(req)
      wake?.()
    }
    reading = false
    wake?.()
    await writer
    await stream.close({ signal: AbortSignal.timeout(DEFAULT_REQUEST_TIMEOUT_MS) }).catch(() => {})
  } catch (err) {
    reading = false
    wake?.()
    if (!(err instanceof TimeoutError)) options.onError?.(err, ctx)
    if (err instanceof InvalidMessageError) {
      await writer
      await writeFrame(lp, { ok: false, error: toWireError(err) }, { signal: AbortSignal.timeout(1000) }).catch(() => {})
    }
    stream.abort(err as Error)
  }
}
