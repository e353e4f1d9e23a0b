/**
 * Newline-delimited JSON over local sockets and stdin (the device's control socket, `listen
 * --json`, the rendezvous node's admin socket): splitting bytes into bounded lines.
 */
import { createConnection } from 'node:net'
import { StringDecoder } from 'node:string_decoder'
import { fromWireError } from './errors.js'
import type { WireError } from './errors.js'
import type { Socket } from 'node:net'

/** Longest command line accepted on stdin or a local control socket. */
export const MAX_COMMAND_BYTES = 128 * 1024

/** Splits a byte stream into lines, refusing any line over MAX_COMMAND_BYTES. */
export function lineReader (onLine: (line: string) => void, onTooLong: () => void): (chunk: Buffer | string) => void {
  // a character cut between two chunks is joined again rather than turned into U+FFFD
  const decoder = new StringDecoder('utf8')
  let buf = ''
  // the rest of a line already refused as too long, up to its newline, is not a line of its own
  let skipping = false
  return chunk => {
    buf += typeof chunk === 'string' ? chunk : decoder.write(chunk)
    let nl
    while ((nl = buf.indexOf('\n')) >= 0) {
      const raw = buf.slice(0, nl)
      buf = buf.slice(nl + 1)
      if (skipping) {
        skipping = false
        continue
      }
      // a long line may arrive whole in one chunk
      if (Buffer.byteLength(raw) > MAX_COMMAND_BYTES) {
        onTooLong()
        continue
      }
      const line = raw.trim()
      if (line !== '') onLine(line)
    }
    if (skipping) {
      buf = ''
    } else if (Buffer.byteLength(buf) > MAX_COMMAND_BYTES) {
      buf = ''
      skipping = true
      onTooLong()
    }
  }
}

/**
 * True when a process answers on the local socket at `path` (a socket file left by a process
 * that died answers nothing): the device's control socket and the node's admin socket use it.
 */
export async function socketAnswers (path: string): Promise<boolean> {
  return await new Promise(resolve => {
    const s = createConnection(path)
    s.once('connect', () => { s.destroy(); resolve(true) })
    s.once('error', () => { resolve(false) })
  })
}

/**
 * The errors a line client rejects its calls with; each side names its own, so a message says
 * which process (the running device, the rendezvous node) failed to answer.
 */
export interface LineClientErrors {
  /** An answer line longer than MAX_COMMAND_BYTES: every call in progress fails. */
  tooLong: () => Error
  /** The other side closed the connection: every call in progress fails. */
  closed: () => Error
  /** A call got no answer (nor progress) within its deadline. */
  timeout: () => Error
  /** A call made after the connection closed; without it, such a call waits for its deadline. */
  notOpen?: () => Error
}

/** One call's options on a line client. */
export interface LineCallOptions<P> {
  /** How long the call may go without an answer or a progress line; the client's default otherwise. */
  timeoutMs?: number
  /** Called with each progress line (`{ id, progress }`) that comes before the answer. */
  onProgress?: (progress: P) => void
}

/** A request/answer client over newline-delimited JSON on a local socket. */
export interface LineClient<P = unknown> {
  /** Sends `cmd` with a fresh `id`; resolves with the answer's `result`, rejects with its error. */
  call: (cmd: Record<string, unknown>, options?: LineCallOptions<P>) => Promise<unknown>
  /** Ends the connection. */
  close: () => void
}

/** An answer line: `{ id, ok: true, result }`, `{ id, ok: false, error }` or `{ id, progress }`. */
type AnswerLine<P> = { id?: unknown, progress: P } | { id?: unknown, ok: true, result?: unknown } | { id?: unknown, ok: false, error: WireError }

/**
 * Connects to the JSON-lines command socket at `path` (the device's control socket, the node's
 * admin socket); undefined when nobody answers there. Each call carries a numeric `id` that its
 * answer (and any progress lines before it) repeats; an error answer is rethrown as the named
 * error it carries. A progress line restarts the call's deadline, since a long command that
 * reports progress is alive.
 */
export async function connectLines<P = unknown> (path: string, timeoutMs: number, errors: LineClientErrors): Promise<LineClient<P> | undefined> {
  const socket = await new Promise<Socket | undefined>(resolve => {
    const s = createConnection(path)
    s.once('connect', () => { resolve(s) })
    s.once('error', () => { resolve(undefined) })
  })
  if (socket == null) return undefined
  let next = 0
  const pending = new Map<number, { resolve: (v: unknown) => void, reject: (e: Error) => void, progress: (p: P) => void }>()
  const failAll = (err: Error): void => {
    for (const p of pending.values()) p.reject(err)
    pending.clear()
  }
  socket.on('data', lineReader(line => {
    let res: AnswerLine<P>
    try { res = JSON.parse(line) as AnswerLine<P> } catch { return }
    const p = pending.get(res.id as number)
    if (p == null) return
    if ('progress' in res) {
      p.progress(res.progress)
      return
    }
    pending.delete(res.id as number)
    if (res.ok) p.resolve(res.result)
    else p.reject(fromWireError(res.error))
  }, () => { failAll(errors.tooLong()) }))
  socket.on('close', () => { failAll(errors.closed()) })
  socket.on('error', () => {})
  const call = async (cmd: Record<string, unknown>, options: LineCallOptions<P> = {}): Promise<unknown> => await new Promise((resolve, reject) => {
    if (errors.notOpen != null && socket.destroyed) { reject(errors.notOpen()); return }
    const id = next++
    const deadline = options.timeoutMs ?? timeoutMs
    const expire = (): void => { pending.delete(id); reject(errors.timeout()) }
    let timer = setTimeout(expire, deadline)
    pending.set(id, {
      resolve: v => { clearTimeout(timer); resolve(v) },
      reject: e => { clearTimeout(timer); reject(e) },
      progress: p => { clearTimeout(timer); timer = setTimeout(expire, deadline); options.onProgress?.(p) }
    })
    socket.write(`${JSON.stringify({ ...cmd, id })}\n`)
  })
  return { call, close: () => { socket.destroy() } }
}
