/**
 * The bench's own child processes (echo and bare gossipsub nodes), forked with an IPC channel and
 * always cleaned up: SIGTERM, SIGKILL past a grace time, and SIGKILL from an exit hook if the run
 * dies first. meshchat's own processes go through ProcessGroup (src/testing/processes.ts).
 */
import { fork } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { BenchTimeoutError } from './stats.js'
import type { ChildProcess } from 'node:child_process'

/** Protocols of the echo child (bench/echo-child.ts). */
export const ECHO_PROTOCOL = '/meshchat-bench/echo/1.0.0'
export const SINK_PROTOCOL = '/meshchat-bench/sink/1.0.0'
/** The topic of the bare gossipsub reference (bench/gossip-child.ts). */
export const BARE_TOPIC = 'meshchat-bench/bare-room'

const HERE = dirname(fileURLToPath(import.meta.url))
const everyChild = new Set<ChildProcess>()
let hooked = false

export type ChildMessage = Record<string, unknown> & { type: string }

export class BenchChild {
  readonly messages: ChildMessage[] = []
  private readonly waiters = new Set<() => void>()
  private exited = false
  stderr = ''

  constructor (readonly proc: ChildProcess) {
    proc.on('message', (m: ChildMessage) => {
      this.messages.push(m)
      for (const w of [...this.waiters]) w()
    })
    proc.stderr?.setEncoding('utf8').on('data', (s: string) => { this.stderr = (this.stderr + s).slice(-4000) })
    proc.once('exit', () => { this.exited = true; for (const w of [...this.waiters]) w() })
  }

  get pid (): number { return this.proc.pid! }

  send (msg: Record<string, unknown>): void {
    if (!this.exited) this.proc.send(msg)
  }

  /** The first message matching `pred` (now or later), within `ms`. */
  async waitFor (pred: (m: ChildMessage) => boolean, ms: number, what: string): Promise<ChildMessage> {
    return await new Promise((resolve, reject) => {
      const check = (): void => {
        const found = this.messages.find(pred)
        if (found != null) { done(); resolve(found) } else if (this.exited) { done(); reject(new Error(`child exited while waiting for ${what}: ${this.stderr.slice(-500)}`)) }
      }
      const timer = setTimeout(() => { done(); reject(new BenchTimeoutError(`timed out after ${ms} ms waiting for ${what}: ${this.stderr.slice(-500)}`)) }, ms)
      const done = (): void => { clearTimeout(timer); this.waiters.delete(check) }
      this.waiters.add(check)
      check()
    })
  }

  async stop (graceMs = 3_000): Promise<void> {
    if (this.exited) return
    const gone = new Promise<void>(resolve => { this.proc.once('exit', () => { resolve() }) })
    this.proc.kill('SIGTERM')
    const timer = setTimeout(() => { this.proc.kill('SIGKILL') }, graceMs)
    await gone
    clearTimeout(timer)
  }
}

/** Forks `dist/bench/<script>.js` with `args`. */
export function forkChild (script: string, args: string[] = []): BenchChild {
  const proc = fork(join(HERE, `${script}.js`), args, { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] })
  everyChild.add(proc)
  proc.once('exit', () => { everyChild.delete(proc) })
  if (!hooked) {
    hooked = true
    process.once('exit', () => { killAllChildren() })
  }
  return new BenchChild(proc)
}

/** Last resort on the way out: SIGKILL to every bench child still alive. */
export function killAllChildren (): void {
  for (const p of everyChild) {
    try { p.kill('SIGKILL') } catch { /* already gone */ }
  }
}

/** A group of children stopped together. */
export class ChildGroup {
  readonly children: BenchChild[] = []

  fork (script: string, args: string[] = []): BenchChild {
    const c = forkChild(script, args)
    this.children.push(c)
    return c
  }

  async stopAll (): Promise<void> {
    await Promise.allSettled(this.children.map(async c => { await c.stop() }))
    this.children.length = 0
  }
}
