/**
 * The process harness: runs the real `meshchat` binary as separate processes, the way people run
 * it (serve, one-shot commands, `listen --json`), and cleans every one of them up. The in-process
 * `Harness` is faster; this one is for what only separate processes show (exit codes, stderr,
 * signals, the control socket, restarts).
 *
 * The binary runs the compiled code in dist/: build first (`npm run build`).
 *
 * At the end, helpers for tests of the binary: `commandsIn(group, { env })` gives `run`, `json`,
 * `register`, `person` and `chatting` over one group, and `assertOk` / `assertFailure` check a
 * command's exit the way a person sees it.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, statSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { ChildProcess } from 'node:child_process'

/** How long a one-shot command may run before it is killed. @default 15000 */
export const DEFAULT_RUN_TIMEOUT_MS = 15_000
/** How long `serve` and `listen` may take to print their first line. @default 15000 */
export const DEFAULT_START_TIMEOUT_MS = 15_000
/** How long `waitFor` and `command` wait. @default 5000 */
export const DEFAULT_WAIT_MS = 5_000
/** How long a process has to exit after SIGTERM before it gets SIGKILL. @default 3000 */
export const DEFAULT_STOP_GRACE_MS = 3_000

/** Finds the repo root (the folder holding bin/meshchat.js) from this file, in src/ or in dist/src/. */
function findRepoRoot (): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (;;) {
    if (existsSync(join(dir, 'bin', 'meshchat.js')) && existsSync(join(dir, 'package.json'))) return dir
    const up = dirname(dir)
    if (up === dir) throw new Error(`cannot find bin/meshchat.js above ${fileURLToPath(import.meta.url)}`)
    dir = up
  }
}

export const REPO_ROOT = findRepoRoot()
/** The `meshchat` bin this harness runs with `process.execPath`. */
export const MESHCHAT_BIN = join(REPO_ROOT, 'bin', 'meshchat.js')

let built = false
/**
 * bin/meshchat.js runs the bundle that `npm run build` makes after tsc (scripts/bundle.ts): it
 * must be there and not older than the compiled code, or the processes would run stale code.
 */
function checkBuilt (): void {
  if (built) return
  const bundle = join(REPO_ROOT, 'dist', 'bin', 'index.js')
  const compiled = join(REPO_ROOT, 'dist', 'src', 'cli', 'index.js')
  if (!existsSync(bundle)) throw new Error(`${REPO_ROOT}/dist/bin is missing: build first (npm run build)`)
  if (existsSync(compiled) && statSync(compiled).mtimeMs > statSync(bundle).mtimeMs) {
    throw new Error(`${REPO_ROOT}/dist/bin is older than dist/src (tsc ran without the bundle step): npm run build`)
  }
  built = true
}

/** A process did not do what was awaited (print a line, exit) within its deadline. */
export class ProcessTimeoutError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'ProcessTimeoutError'
  }
}

/** A process exited while something was still waiting for it. */
export class ProcessExitedError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'ProcessExitedError'
  }
}

export interface RunOptions {
  /** Added to the environment (inherited MESHCHAT_* variables are dropped first). */
  env?: Record<string, string | undefined>
  /** Written to stdin, which is then closed; without it stdin is empty. */
  input?: string
  /** Killed with SIGKILL past this, and the call rejects with ProcessTimeoutError. @default DEFAULT_RUN_TIMEOUT_MS */
  timeoutMs?: number
  cwd?: string
}

export interface RunResult {
  /** The exit code; null when a signal ended the process. */
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

export interface ServeOptions {
  /** The node's key and database; a temp folder (removed by stop) when not given. */
  dataDir?: string
  /** @default '127.0.0.1' */
  host?: string
  /** @default 0 (any free port) */
  port?: number
  /** More flags for `meshchat serve`, e.g. ['--heartbeat-ms', '500']. */
  args?: string[]
  env?: Record<string, string | undefined>
  /** @default DEFAULT_START_TIMEOUT_MS */
  timeoutMs?: number
}

export interface ServeProcess {
  /** The first address clients use, ending in /p2p/<peer id>. */
  readonly address: string
  readonly addrs: string[]
  readonly peerId: string
  /** The TCP port it listens on (to restart it on the same one). */
  readonly port: number
  readonly dataDir: string
  readonly proc: ChildProcess
  /** Its stderr so far (structured log lines). */
  readonly stderr: () => string
  /**
   * SIGTERM, waits for the exit (SIGKILL past the grace time), and removes the data folder if this
   * harness made it: stop a node restarted on that folder first, or let stopAll() do both.
   */
  stop: () => Promise<void>
  /** Sends the signal and waits for the exit; keeps the data folder (for a restart on it). */
  kill: (signal?: NodeJS.Signals) => Promise<void>
}

export interface ListenOptions {
  /** `--json`: parsed lines in `lines`, commands on stdin. @default true */
  json?: boolean
  /** `--listen` addresses. @default ['/ip4/127.0.0.1/tcp/0'] */
  listen?: string[]
  args?: string[]
  env?: Record<string, string | undefined>
  /** Resolve only once the ready line is printed. @default true */
  waitReady?: boolean
  /** @default DEFAULT_START_TIMEOUT_MS */
  timeoutMs?: number
}

/** One line `listen --json` printed. */
export type ListenLine = Record<string, unknown> & { type?: string }

export interface ListenProcess {
  readonly home: string
  readonly proc: ChildProcess
  /** Every JSON line printed so far, parsed (empty without --json). */
  readonly lines: ListenLine[]
  /** Every stdout line printed so far, as text. */
  readonly output: string[]
  readonly stderr: () => string
  /** The first JSON line matching `pred`, now or within `timeoutMs`; rejects early if the process exits. */
  waitFor: (pred: (line: ListenLine) => boolean, timeoutMs?: number, what?: string) => Promise<ListenLine>
  /** The same over raw stdout lines (for text mode). */
  waitForOutput: (pred: (line: string) => boolean, timeoutMs?: number, what?: string) => Promise<string>
  /**
   * Writes `cmd` as a JSON line on stdin (with an `id`, one is added when missing) and resolves
   * with the `{"type":"result","id":…}` line answering it.
   */
  command: (cmd: Record<string, unknown>, timeoutMs?: number) => Promise<ListenLine>
  /** Sends the signal (default SIGTERM) and waits for the exit. */
  kill: (signal?: NodeJS.Signals) => Promise<void>
  /** SIGTERM, SIGKILL past the grace time. */
  stop: () => Promise<void>
}

/** The environment of a child: ours without MESHCHAT_* (a developer's settings), plus `extra`. */
function childEnv (extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('MESHCHAT_')) env[k] = v
  }
  for (const [k, v] of Object.entries(extra)) {
    if (v == null) delete env[k]
    else env[k] = v
  }
  return env
}

function exited (proc: ChildProcess): boolean {
  return proc.exitCode != null || proc.signalCode != null
}

/** Resolves once `proc` has exited; rejects with ProcessTimeoutError past `timeoutMs`. */
export async function waitForExit (proc: ChildProcess, timeoutMs = DEFAULT_STOP_GRACE_MS): Promise<void> {
  if (exited(proc)) return
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.off('exit', onExit)
      reject(new ProcessTimeoutError(`process ${proc.pid ?? '?'} did not exit within ${timeoutMs} ms`))
    }, timeoutMs)
    const onExit = (): void => { clearTimeout(timer); resolve() }
    proc.once('exit', onExit)
  })
}

/** Sends `signal` and waits for the exit; a process that ignores it past `graceMs` gets SIGKILL. */
async function terminate (proc: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', graceMs = DEFAULT_STOP_GRACE_MS): Promise<void> {
  if (exited(proc)) return
  proc.kill(signal)
  try {
    await waitForExit(proc, graceMs)
  } catch {
    proc.kill('SIGKILL')
    await waitForExit(proc, graceMs)
  }
}

/** Splits a stream into lines, calling `onLine` for each complete one. */
function onLines (stream: NodeJS.ReadableStream | null, onLine: (line: string) => void): void {
  if (stream == null) return
  let buf = ''
  stream.setEncoding('utf8')
  stream.on('data', (chunk: string) => {
    buf += chunk
    let nl
    while ((nl = buf.indexOf('\n')) >= 0) {
      onLine(buf.slice(0, nl).replace(/\r$/, ''))
      buf = buf.slice(nl + 1)
    }
  })
  stream.on('end', () => { if (buf !== '') onLine(buf); buf = '' })
}

/** The port of a multiaddr such as /ip4/127.0.0.1/tcp/4001/p2p/…, or of host:port. */
export function portOf (address: string): number {
  const m = /\/tcp\/(\d+)/.exec(address) ?? /:(\d+)$/.exec(address)
  if (m == null) throw new Error(`no TCP port in ${address}`)
  return Number(m[1])
}

/**
 * A set of meshchat processes and temp folders that are cleaned up together. Tests keep one per
 * scope: one for a describe block's server (before/after), one for each test (afterEach).
 */
export interface ProcessGroupInit {
  /** Run every process of this group inside this network namespace (`ip netns exec`; needs root). */
  netns?: string
}

export class ProcessGroup {
  private readonly procs = new Set<ChildProcess>()
  private readonly dirs = new Set<string>()

  constructor (private readonly init: ProcessGroupInit = {}) {}

  /** The live processes of this group. */
  get running (): ChildProcess[] {
    return [...this.procs].filter(p => !exited(p))
  }

  /** A fresh temp folder, removed by stopAll(). */
  async tempDir (prefix = 'tmp'): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), `meshchat-${prefix}-`))
    this.dirs.add(dir)
    return dir
  }

  /** Starts the binary with `args`; the process is tracked until it exits. */
  spawn (args: string[], options: { env?: Record<string, string | undefined>, cwd?: string, stdin?: 'pipe' | 'ignore' } = {}): ChildProcess {
    checkBuilt()
    // `ip netns exec` execs the program itself, so the pid stays the program's for signals
    const [file, argv] = this.init.netns == null
      ? [process.execPath, [MESHCHAT_BIN, ...args]]
      : ['ip', ['netns', 'exec', this.init.netns, process.execPath, MESHCHAT_BIN, ...args]]
    const proc = spawn(file, argv, {
      cwd: options.cwd ?? REPO_ROOT,
      env: childEnv(options.env),
      stdio: [options.stdin ?? 'pipe', 'pipe', 'pipe']
    })
    track(proc)
    this.procs.add(proc)
    proc.once('exit', () => { this.procs.delete(proc) })
    // a child that died must not crash us with EPIPE when we write to it
    proc.stdin?.on('error', () => {})
    return proc
  }

  /** Runs a one-shot command to its end: exit code, stdout, stderr. Killed past the timeout. */
  async run (args: string[], options: RunOptions = {}): Promise<RunResult> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_RUN_TIMEOUT_MS
    const proc = this.spawn(args, { env: options.env, cwd: options.cwd })
    let stdout = ''
    let stderr = ''
    proc.stdout?.setEncoding('utf8').on('data', (s: string) => { stdout += s })
    proc.stderr?.setEncoding('utf8').on('data', (s: string) => { stderr += s })
    proc.stdin?.end(options.input ?? '')
    return await new Promise<RunResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        proc.kill('SIGKILL')
        reject(new ProcessTimeoutError(`meshchat ${args.join(' ')} did not finish within ${timeoutMs} ms; stdout: ${stdout.slice(-500)} stderr: ${stderr.slice(-500)}`))
      }, timeoutMs)
      proc.once('error', err => { clearTimeout(timer); reject(err) })
      // 'close' (not 'exit'): stdout and stderr are fully read by then
      proc.once('close', (code, signal) => {
        clearTimeout(timer)
        resolve({ code, signal, stdout, stderr })
      })
    })
  }

  /** Starts `meshchat serve --json` and resolves with its address once it listens. */
  async startServe (options: ServeOptions = {}): Promise<ServeProcess> {
    const owned = options.dataDir == null
    const dataDir = options.dataDir ?? await this.tempDir('serve')
    const args = ['serve', '--json', '--host', options.host ?? '127.0.0.1', '--port', String(options.port ?? 0), '--data', dataDir, ...(options.args ?? [])]
    const proc = this.spawn(args, { env: options.env, stdin: 'ignore' })
    let stderr = ''
    proc.stderr?.setEncoding('utf8').on('data', (s: string) => { stderr += s })
    const lines: string[] = []
    const waiter = new LineWaiter(proc, lines, () => stderr, 'meshchat serve')
    onLines(proc.stdout, line => { lines.push(line); waiter.check() })
    let info: { peerId: string, addrs: string[] }
    try {
      const first = await waiter.waitFor(l => l.trim() !== '', options.timeoutMs ?? DEFAULT_START_TIMEOUT_MS, 'the address line')
      info = JSON.parse(first) as { peerId: string, addrs: string[] }
    } catch (err) {
      await terminate(proc, 'SIGKILL')
      if (owned) { await rm(dataDir, { recursive: true, force: true }); this.dirs.delete(dataDir) }
      throw err
    }
    const address = info.addrs[0]
    if (address == null) throw new Error(`meshchat serve printed no address: ${lines[0] ?? ''}`)
    return {
      address,
      addrs: info.addrs,
      peerId: info.peerId,
      port: portOf(address),
      dataDir,
      proc,
      stderr: () => stderr,
      stop: async () => {
        await terminate(proc)
        if (owned) { await rm(dataDir, { recursive: true, force: true }); this.dirs.delete(dataDir) }
      },
      kill: async (signal = 'SIGTERM') => { await terminate(proc, signal) }
    }
  }

  /** Starts `meshchat listen` on a logged-in home; by default waits for its ready line. */
  async startListen (home: string, options: ListenOptions = {}): Promise<ListenProcess> {
    const json = options.json ?? true
    const listenAddrs = options.listen ?? ['/ip4/127.0.0.1/tcp/0']
    const args = ['listen', '--home', home, ...(json ? ['--json'] : []), ...listenAddrs.flatMap(a => ['--listen', a]), ...(options.args ?? [])]
    const proc = this.spawn(args, { env: options.env })
    let stderr = ''
    proc.stderr?.setEncoding('utf8').on('data', (s: string) => { stderr += s })
    const output: string[] = []
    const lines: ListenLine[] = []
    const what = `meshchat listen --home ${home}`
    const outputWaiter = new LineWaiter(proc, output, () => stderr, what)
    const lineWaiter = new LineWaiter(proc, lines, () => stderr, what)
    onLines(proc.stdout, line => {
      output.push(line)
      if (json) {
        try {
          const parsed: unknown = JSON.parse(line)
          if (parsed != null && typeof parsed === 'object' && !Array.isArray(parsed)) lines.push(parsed as ListenLine)
        } catch { /* not JSON: kept in output only */ }
      }
      outputWaiter.check()
      lineWaiter.check()
    })
    let nextId = 0
    const listen: ListenProcess = {
      home,
      proc,
      lines,
      output,
      stderr: () => stderr,
      waitFor: async (pred, timeoutMs = DEFAULT_WAIT_MS, what = 'a matching line') => await lineWaiter.waitFor(pred, timeoutMs, what),
      waitForOutput: async (pred, timeoutMs = DEFAULT_WAIT_MS, what = 'a matching line') => await outputWaiter.waitFor(pred, timeoutMs, what),
      command: async (cmd, timeoutMs = DEFAULT_WAIT_MS) => {
        if (!json) throw new Error('commands on stdin need listen --json')
        const id = cmd.id ?? `harness-${nextId++}`
        const body = { ...cmd, id }
        if (proc.stdin == null || exited(proc)) throw new ProcessExitedError(`${what} is not running`)
        proc.stdin.write(`${JSON.stringify(body)}\n`)
        return await lineWaiter.waitFor(l => l.type === 'result' && l.id === id, timeoutMs, `the result of ${JSON.stringify(body)}`)
      },
      kill: async (signal = 'SIGTERM') => { await terminate(proc, signal) },
      stop: async () => { await terminate(proc) }
    }
    if (options.waitReady ?? true) {
      const timeoutMs = options.timeoutMs ?? DEFAULT_START_TIMEOUT_MS
      try {
        if (json) await listen.waitFor(l => l.type === 'ready', timeoutMs, 'the ready line')
        else await listen.waitForOutput(l => l.startsWith('* listening as '), timeoutMs, 'the ready line')
      } catch (err) {
        await terminate(proc, 'SIGKILL')
        throw err
      }
    }
    return listen
  }

  /** Stops every process of this group (SIGTERM, then SIGKILL) and removes its temp folders. */
  async stopAll (): Promise<void> {
    await Promise.allSettled([...this.procs].map(async p => { await terminate(p) }))
    this.procs.clear()
    await Promise.allSettled([...this.dirs].map(async d => { await rm(d, { recursive: true, force: true }) }))
    this.dirs.clear()
  }
}

/** Waits on a growing array of lines, failing fast when the process exits first. */
class LineWaiter<T> {
  private readonly waiters = new Set<() => void>()
  private closed = false

  constructor (private readonly proc: ChildProcess, private readonly items: T[], private readonly stderr: () => string, private readonly name: string) {
    // 'close', not 'exit': by then every line of stdout and stderr has been read
    proc.once('close', () => { this.closed = true; this.check() })
  }

  check (): void {
    for (const w of [...this.waiters]) w()
  }

  async waitFor (pred: (item: T) => boolean, timeoutMs: number, what: string): Promise<T> {
    return await new Promise<T>((resolve, reject) => {
      const check = (): void => {
        const found = this.items.find(pred)
        if (found !== undefined) {
          done()
          resolve(found)
        } else if (this.closed) {
          done()
          reject(new ProcessExitedError(`${this.name} exited (code ${this.proc.exitCode ?? this.proc.signalCode ?? '?'}) while waiting for ${what}; stderr: ${this.stderr().slice(-1000)}`))
        }
      }
      const timer = setTimeout(() => {
        done()
        reject(new ProcessTimeoutError(`timed out after ${timeoutMs} ms waiting for ${what} from ${this.name}; stderr: ${this.stderr().slice(-1000)}`))
      }, timeoutMs)
      const done = (): void => { clearTimeout(timer); this.waiters.delete(check) }
      this.waiters.add(check)
      check()
    })
  }
}

/** Every child of every group, killed if this process exits without cleaning up (a crashed test run). */
const everyChild = new Set<ChildProcess>()
let exitHookInstalled = false

function track (proc: ChildProcess): void {
  everyChild.add(proc)
  proc.once('exit', () => { everyChild.delete(proc) })
  if (!exitHookInstalled) {
    exitHookInstalled = true
    process.once('exit', () => {
      for (const p of everyChild) {
        try { p.kill('SIGKILL') } catch { /* already gone */ }
      }
    })
  }
}

/** The default group behind the functions below. */
export const processes = new ProcessGroup()

/** Runs `meshchat <args>` to its end (killed past `timeoutMs`). */
export async function runMeshchat (args: string[], options: RunOptions = {}): Promise<RunResult> {
  return await processes.run(args, options)
}

/** Starts `meshchat serve` on 127.0.0.1 (a free port and a temp data folder unless given). */
export async function startServe (options: ServeOptions = {}): Promise<ServeProcess> {
  return await processes.startServe(options)
}

/** Starts `meshchat listen --json` on a logged-in home. */
export async function startListen (home: string, options: ListenOptions = {}): Promise<ListenProcess> {
  return await processes.startListen(home, options)
}

/** Stops every process the functions above started and removes their temp folders. */
export async function stopAll (): Promise<void> {
  await processes.stopAll()
}

// ---------------------------------------------------------------------------------------------
// Helpers for tests that drive the binary with one-shot commands (test/e2e/*.spec.ts)

/** Fails unless the command exited 0; the message carries its stderr. */
export function assertOk (res: RunResult): void {
  assert.equal(res.code, 0, `exit ${String(res.code)}, stderr: ${res.stderr}`)
}

/**
 * Fails unless the command failed the way a person-caused error should: exit code `code` (any
 * non-zero one when undefined), nothing on stdout, exactly one stderr line `meshchat: …` that is
 * not an "unexpected error" (and mentions `mentions` when given), no stack trace.
 */
export function assertFailure (res: RunResult, code?: number, mentions?: string): void {
  const lines = res.stderr.split('\n').filter(l => l !== '')
  assert.equal(lines.length, 1, `expected one stderr line, got:\n${res.stderr}`)
  const line = lines[0]!
  assert.match(line, /^meshchat: /)
  assert.doesNotMatch(line, /unexpected error/, 'a person-caused error is named, not unexpected')
  assert.doesNotMatch(res.stderr, /^\s+at /m, 'no stack trace')
  if (mentions != null) assert.ok(line.includes(mentions), `"${line}" should mention ${mentions}`)
  if (code == null) assert.ok(res.code != null && res.code !== 0, `non-zero exit code of: ${line}`)
  else assert.equal(res.code, code, `exit code of: ${line}`)
  assert.equal(res.stdout, '')
}

let uniqueCounter = 0
/** `base` with a number no other call of this run got: tests that share one node need distinct usernames. */
export function uniqueName (base: string): string {
  return `${base}${++uniqueCounter}`
}

/** A `listen --json` line telling that a message with this text arrived. */
export const isText = (text: string) => (l: ListenLine): boolean => l.type === 'message' && l.text === text

/** A `listen --json` line telling that the chat with `user` is now in `state` (pending, accepted, …). */
export const isChat = (user: string, state: string) => (l: ListenLine): boolean => {
  const chat = l.chat as { user?: string, state?: string } | undefined
  return l.type === 'chat' && chat?.user === user && chat.state === state
}

/** A person of a test: a username and the home of its device. */
export interface TestPerson {
  user: string
  home: string
}

/** One side of `chatting`: its running `listen`, if any, is waited on to see the other's step. */
export interface ChatSide extends TestPerson {
  listen?: ListenProcess
}

/** The one-shot commands of a test, bound to a ProcessGroup and to defaults (see `commandsIn`). */
export interface Commands {
  /** `group.run` with the defaults: their `env` under the call's own, their timeout unless the call gives one. */
  run: (args: string[], options?: RunOptions) => Promise<RunResult>
  /** Runs `args` on `p`'s home with `--json`, expects exit 0, and parses stdout. */
  json: <T>(p: { home: string }, ...args: string[]) => Promise<T>
  /** Registers `user` on the node at `address` in a fresh temp home of the group; resolves with the home. */
  register: (address: string, user: string) => Promise<string>
  /** Registers a person named `uniqueName(base)` on the node at `address`. */
  person: (address: string, base: string) => Promise<TestPerson>
  /**
   * Direct messages need an accepted chat (issue 8): `a` requests, `b` accepts, each a process.
   * A running listen of either side serves its command, and must have seen the other's step
   * first (waited for up to `waitMs`).
   */
  chatting: (a: ChatSide, b: ChatSide, waitMs?: number) => Promise<void>
}

/** The one-shot commands of a test run in `group`, with `defaults` (e.g. `{ env, timeoutMs }`) on every call. */
export function commandsIn (group: ProcessGroup, defaults: RunOptions = {}): Commands {
  const run = async (args: string[], options: RunOptions = {}): Promise<RunResult> =>
    await group.run(args, { ...defaults, ...options, env: { ...defaults.env, ...options.env } })
  const register = async (address: string, user: string): Promise<string> => {
    const home = await group.tempDir(`home-${user}`)
    assertOk(await run(['register', '--home', home, '--server', address, '--user', user]))
    return home
  }
  return {
    run,
    json: async <T>(p: { home: string }, ...args: string[]): Promise<T> => {
      const res = await run([...args, '--home', p.home, '--json'])
      assertOk(res)
      return JSON.parse(res.stdout) as T
    },
    register,
    person: async (address, base) => {
      const user = uniqueName(base)
      return { user, home: await register(address, user) }
    },
    chatting: async (a, b, waitMs = 5_000) => {
      assertOk(await run(['request', '--home', a.home, b.user]))
      await b.listen?.waitFor(isChat(a.user, 'pending'), waitMs, `${a.user}'s request at ${b.user}`)
      assertOk(await run(['accept', '--home', b.home, a.user]))
      await a.listen?.waitFor(isChat(b.user, 'accepted'), waitMs, `${b.user}'s acceptance at ${a.user}`)
    }
  }
}
