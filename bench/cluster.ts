/**
 * meshchat as people run it, for the groups that need it: `meshchat serve` and `meshchat listen
 * --json` as separate processes (through ProcessGroup, which cleans them up), accounts registered
 * against the real password hash, and an in-process MeshClient where the bench must time calls.
 */
import { register } from '../src/client/index.js'
import { MeshClient, ProcessGroup, LOOPBACK_GOSSIP, TEST_PASSWORD, TEST_SCRYPT } from '../src/testing/index.js'
import { BenchTimeoutError, until } from './stats.js'
import type { ChildProcess } from 'node:child_process'
import type { ServeProcess } from '../src/testing/index.js'

const groups = new Set<ProcessGroup>()

/** A ProcessGroup that stopEveryGroup() also stops, should the run be cut short. */
export function processGroup (): ProcessGroup {
  const group = new ProcessGroup()
  groups.add(group)
  return group
}

/** Stops every meshchat process the bench started and removes their temp folders. */
export async function stopEveryGroup (): Promise<void> {
  await Promise.allSettled([...groups].map(async g => { await g.stopAll() }))
}

/** Every process of the bench runs on 127.0.0.1: gossipsub must not graylist that (STACK-FACTS.md). */
export const BENCH_ENV = { MESHCHAT_IP_COLOCATION_WHITELIST: '127.0.0.1' }

/**
 * The rendezvous node as shipped (real scrypt cost, room rate, stream limits), except:
 * - the per-address limits, opened because every device of the bench comes from 127.0.0.1;
 * - requests per second per device, opened so that the DM figures measure the path rather than
 *   the limiter (the default, 500/s with every DM one archive put, caps one device near 500 DMs/s);
 * - warn-level logs (info logs a line per connection, which measures the log pipe).
 */
export const SERVE_ARGS = [
  '--registrations-per-second', '100000', '--connections-per-second', '100000', '--max-connections-per-host', '100000',
  '--requests-per-second', '100000', '--log-level', 'warn'
]

/** Starts `meshchat serve` (again on `dataDir` and `port` when given, for a restart). */
export async function startServer (group: ProcessGroup, options: { dataDir?: string, port?: number } = {}): Promise<ServeProcess> {
  return await group.startServe({ ...options, args: SERVE_ARGS, env: BENCH_ENV, timeoutMs: 30_000 })
}

/** Registers `user` from a fresh home; the node hashes the password with its real cost. */
export async function registerUser (group: ProcessGroup, server: ServeProcess, user: string): Promise<string> {
  const home = await group.tempDir(`bench-${user}`)
  // wrapping the account key is the client's cost, not the node's: the cheap test cost keeps it out
  await register({ home, server: server.address, user, password: TEST_PASSWORD, wrapScrypt: TEST_SCRYPT }, { signal: AbortSignal.timeout(30_000) })
  return home
}

/** A device in this process, for the sends the bench times. */
export async function startClient (home: string): Promise<MeshClient> {
  const client = new MeshClient({ home, listen: ['/ip4/127.0.0.1/tcp/0'], gossip: LOOPBACK_GOSSIP })
  await client.start({ signal: AbortSignal.timeout(30_000) })
  return client
}

/**
 * Makes two accounts accepted chat partners, as direct messages need: `a` asks, `b` accepts, and
 * both devices have seen it. Done before anything is timed.
 */
export async function connectPair (a: MeshClient, b: MeshClient): Promise<void> {
  await a.request(b.user, undefined, { signal: AbortSignal.timeout(30_000) })
  await until(async () => (await b.chatState(a.user)).state === 'pending', 10_000, `${b.user} to see ${a.user}'s chat request`)
  await b.accept(a.user, { signal: AbortSignal.timeout(30_000) })
  await until(async () => (await a.chatState(b.user)).state === 'accepted', 10_000, `${a.user} to see ${b.user}'s acceptance`)
}

export interface Listener {
  proc: ChildProcess
  ready: Promise<void>
}

/**
 * `meshchat listen --json` on a logged-in home; every JSON line goes to `onLine` and is not kept
 * (the bench process must not grow with the receiver's output).
 */
export function spawnListen (group: ProcessGroup, home: string, onLine: (line: Record<string, unknown>) => void, timeoutMs = 30_000): Listener {
  const proc = group.spawn(['listen', '--home', home, '--json', '--listen', '/ip4/127.0.0.1/tcp/0'], { env: BENCH_ENV })
  let buf = ''
  let stderr = ''
  let readyResolve!: () => void
  let readyReject!: (err: Error) => void
  const ready = new Promise<void>((resolve, reject) => { readyResolve = resolve; readyReject = reject })
  const timer = setTimeout(() => { readyReject(new BenchTimeoutError(`listen --home ${home} not ready in ${timeoutMs} ms: ${stderr.slice(-500)}`)) }, timeoutMs)
  proc.stderr?.setEncoding('utf8').on('data', (s: string) => { stderr = (stderr + s).slice(-4000) })
  proc.once('exit', code => { clearTimeout(timer); readyReject(new Error(`listen --home ${home} exited (${code ?? 'signal'}): ${stderr.slice(-500)}`)) })
  proc.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    buf += chunk
    let nl
    while ((nl = buf.indexOf('\n')) >= 0) {
      const text = buf.slice(0, nl)
      buf = buf.slice(nl + 1)
      let line: Record<string, unknown>
      try { line = JSON.parse(text) as Record<string, unknown> } catch { continue }
      if (line.type === 'ready') { clearTimeout(timer); readyResolve() }
      onLine(line)
    }
  })
  ready.catch(() => {})
  return { proc, ready }
}
