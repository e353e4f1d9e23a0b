/**
 * Room fan-out: one sender, N receivers in the global room, each receiver its own OS process
 * (`meshchat listen --json`, as people run it), a steady rate. Latency per delivery is the
 * receiver's receivedAt minus the sender's sentAt (one machine, one clock, 1 ms resolution).
 * Then, in the same run, bare gossipsub in the same shape as the reference (STACK-FACTS.md).
 */
import { availableParallelism } from 'node:os'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createMeshNode } from '../src/net/index.js'
import { LOOPBACK_GOSSIP } from '../src/testing/index.js'
import { ChildGroup, BARE_TOPIC } from './children.js'
import { processGroup, registerUser, spawnListen, startClient, startServer } from './cluster.js'
import { Deadline, MiB, cpuMsOf, now, pool, rssOf, sleep, summarize, until, writeCallsOf } from './stats.js'
import type { MeshClient } from '../src/testing/index.js'
import type { MeshNode } from '../src/net/index.js'
import type { Report } from './report.js'
import type { BenchConfig } from './config.js'

interface Arrival { sentAt: number, receivedAt: number }

interface RoomRun {
  /** Per receiver: message id → arrival. */
  arrivals: Array<Map<string, Arrival>>
  /** Sends one message; resolves with its id. */
  send: (text: string) => Promise<string>
  /** Processes whose CPU the run uses (receivers, node, this one). */
  pids: number[]
  /** What each of `pids` is. */
  roles: Role[]
}

type Role = 'receiver' | 'node' | 'sender'

/** Per message, above idle, by role: CPU ms (per receiver: the mean of one) and write system calls of one receiver. */
interface RoleCosts { receiverMs: number, nodeMs?: number, senderMs: number, receiverWrites?: number }

interface RoomResult {
  rate: number
  seconds: number
  latencies: number[]
  expected: number
  lost: number
  /** Per receiver that missed some: which messages. */
  missing: string[]
  /** CPU of every process of the run while it sent, as a share of the machine's cores (0..1). */
  machineBusy: number
  /** CPU of every process per message sent, above their idle use. */
  cpuMsPerMessage: number
  byRole: RoleCosts
}

interface RoomRuns {
  warmupSends: number
  /** CPU share with the room formed and nothing sent. */
  idleBusy: number
  /** One per rate of the plan, in order. */
  results: RoomResult[]
}

/** The rates to measure: the configured one, and 2 msg/s first when that is higher (latency without a saturated machine). */
function plan (config: BenchConfig): Array<{ rate: number, seconds: number }> {
  const main = { rate: config.fanoutRate, seconds: config.fanoutSeconds }
  return config.fanoutRate > 2 ? [{ rate: 2, seconds: 10 }, main] : [main]
}

/** Warms the mesh up until three messages in a row reach every receiver, then sends at each steady rate. */
async function measureRoom (run: RoomRun, config: BenchConfig, prefix: string): Promise<RoomRuns> {
  const n = run.arrivals.length
  const reached = (id: string): number => run.arrivals.filter(m => m.has(id)).length
  let streak = 0
  let warmupSends = 0
  const warm = new Deadline(60_000)
  while (streak < 3 && !warm.passed) {
    const id = await run.send(`${prefix} warm-up ${warmupSends++}`)
    try {
      await until(() => reached(id) === n, 3_000, 'a warm-up message at every receiver', 10)
      streak++
    } catch {
      streak = 0
    }
    await sleep(100)
  }
  if (streak < 3) throw new Error(`the room did not reach all ${n} receivers within 60 s of warm-up (${warmupSends} sends)`)

  const idle0 = run.pids.map(p => cpuMsOf(p))
  const idleWrites0 = run.pids.map(p => writeCallsOf(p))
  const i0 = now()
  await sleep(2_000)
  const idleWall = now() - i0
  // per process, per ms of wall time: CPU ms and write calls with the room idle
  const idleCpu = run.pids.map((p, i) => (cpuMsOf(p) - idle0[i]!) / idleWall)
  const idleWrites = run.pids.map((p, i) => { const w = writeCallsOf(p); const w0 = idleWrites0[i]; return w == null || w0 == null ? undefined : (w - w0) / idleWall })
  const idleBusy = idleCpu.reduce((a, b) => a + b, 0) / availableParallelism()

  const results: RoomResult[] = []
  for (const { rate, seconds } of plan(config)) {
    const count = rate * seconds
    const interval = 1000 / rate
    const ids: string[] = []
    const cpu0 = run.pids.map(p => cpuMsOf(p))
    const writes0 = run.pids.map(p => writeCallsOf(p))
    const t0 = now()
    for (let i = 0; i < count; i++) {
      const wait = t0 + i * interval - now()
      if (wait > 0) await sleep(wait)
      ids.push(await run.send(`${prefix} ${rate}/s ${i} ${'x'.repeat(60)}`))
    }
    // late is not lost: stragglers of a saturated machine get 30 s
    await until(() => ids.every(id => reached(id) === n), 30_000, 'every message at every receiver', 20).catch(() => {})
    const cpuEach = run.pids.map((p, i) => cpuMsOf(p) - cpu0[i]!)
    const writesEach = run.pids.map((p, i) => { const w = writeCallsOf(p); const w0 = writes0[i]; return w == null || w0 == null ? undefined : w - w0 })
    const cpu = cpuEach.reduce((a, b) => a + b, 0)
    const wall = now() - t0
    const latencies: number[] = []
    let lost = 0
    // where the losses are: receiver → the indexes of the messages it never printed
    const missing: string[] = []
    run.arrivals.forEach((m, r) => {
      const gone: number[] = []
      ids.forEach((id, i) => {
        const a = m.get(id)
        if (a == null) gone.push(i)
        else latencies.push(a.receivedAt - a.sentAt)
      })
      lost += gone.length
      if (gone.length > 0) missing.push(`receiver ${r + 1}: #${gone.join(', #')}`)
    })
    // per message above what the same processes burn idle (heartbeats, sessions)
    const above = cpu - idleBusy * availableParallelism() * wall
    results.push({ rate, seconds, latencies, expected: ids.length * n, lost, missing, machineBusy: cpu / wall / availableParallelism(), cpuMsPerMessage: Math.max(0, above) / ids.length, byRole: costsByRole(run.roles, cpuEach.map((c, i) => c - idleCpu[i]! * wall), writesEach.map((w, i) => w == null || idleWrites[i] == null ? undefined : w - idleWrites[i]! * wall), ids.length) })
  }
  return { warmupSends, idleBusy, results }
}

/** Above-idle CPU (ms) and write calls of each process of a run, per message, summed by role (receivers: the mean of one). */
function costsByRole (roles: Role[], cpu: number[], writes: Array<number | undefined>, messages: number): RoleCosts {
  const of = (role: Role, values: Array<number | undefined>): number[] => values.flatMap((v, i) => roles[i] === role && v != null ? [Math.max(0, v) / messages] : [])
  const mean = (xs: number[]): number | undefined => xs.length === 0 ? undefined : xs.reduce((a, b) => a + b, 0) / xs.length
  const node = of('node', cpu)
  const receiverWrites = of('receiver', writes)
  return {
    receiverMs: mean(of('receiver', cpu)) ?? 0,
    ...(node.length === 0 ? {} : { nodeMs: node[0] }),
    senderMs: mean(of('sender', cpu)) ?? 0,
    ...(receiverWrites.length === roles.filter(r => r === 'receiver').length ? { receiverWrites: mean(receiverWrites) } : {})
  }
}

/** Figures of one room (meshchat or bare), one set per rate; `ids` is `fanout` or `fanout.bare`. */
function reportRoom (report: Report, config: BenchConfig, runs: RoomRuns, ids: string, what: string, shape: string, rssMiB: number): void {
  const group = `room fan-out 1 → ${config.fanout}`
  const bare = ids !== 'fanout'
  const at50 = config.fanout >= 50
  const targetNote = at50 ? '' : ' (for 1 → 50)'
  for (const r of runs.results) {
    const lat = summarize(r.latencies)
    const key = `${ids}.${r.rate}`
    const busy = `machine ${(r.machineBusy * 100).toFixed(0)}% busy (${(runs.idleBusy * 100).toFixed(0)}% with the room idle), ${r.cpuMsPerMessage.toFixed(0)} ms of CPU per message across all processes above their idle use (at a low rate this also carries gossip rounds that do not shrink with the rate)`
    report.add({
      id: `${key}.p50`, group, label: `${what}, ${r.rate} msg/s: delivery p50`, value: lat.p50, unit: 'ms', refs: bare ? ['floor.tcp.p50'] : ['floor.tcp.p50', `fanout.bare.${r.rate}.p50`],
      ...(bare ? {} : { target: `≤ 2 ms${targetNote}`, pass: at50 ? lat.p50 <= 2 : undefined }),
      note: `${r.rate} msg/s for ${r.seconds} s, ${lat.n} deliveries; ${shape}; ${busy}`
    })
    report.add({
      id: `${key}.p99`, group, label: `${what}, ${r.rate} msg/s: delivery p99`, value: lat.p99, unit: 'ms', refs: bare ? ['floor.tcp.p99'] : ['floor.tcp.p99', `fanout.bare.${r.rate}.p99`],
      ...(bare ? {} : { target: `≤ 10 ms${targetNote}`, pass: at50 ? lat.p99 <= 10 : undefined }),
      note: `max ${lat.max} ms`
    })
    report.add({
      id: `${key}.lost`, group, label: `${what}, ${r.rate} msg/s: lost`, value: r.lost, unit: 'count',
      ...(bare ? {} : { target: '0', pass: r.lost === 0 }),
      note: `of ${r.expected} deliveries, waiting up to 30 s after the last send${r.missing.length === 0 ? '' : `; missing at ${r.missing.join('; ').slice(0, 300)}`}`
    })
    report.add({ id: `${key}.cpu`, group, label: `${what}, ${r.rate} msg/s: CPU per message (all processes, above idle)`, value: r.cpuMsPerMessage, unit: 'ms', ...(bare ? {} : { refs: [`fanout.bare.${r.rate}.cpu`] }), note: busy })
    const b = r.byRole
    report.add({
      id: `${key}.cpu.receiver`, group, label: `${what}, ${r.rate} msg/s: CPU per message of one receiver (above idle)`, value: b.receiverMs, unit: 'ms', ...(bare ? {} : { refs: [`fanout.bare.${r.rate}.cpu.receiver`] }),
      note: `the mean over the ${config.fanout} receiver processes${b.nodeMs == null ? '' : `; the rendezvous node (a member of the room's mesh, which also keeps its history) ${b.nodeMs.toFixed(1)} ms`}; the bench process (the sender, and reading the receivers' output) ${b.senderMs.toFixed(1)} ms${b.receiverWrites == null ? '' : `; ${b.receiverWrites.toFixed(1)} write system calls per message per receiver (${bare ? 'sockets and its IPC channel to the bench' : 'sockets, its JSON output, its store\'s log and libuv\'s wake-ups'})`}`
    })
  }
  report.add({ id: `${ids}.rss`, group, label: `${what}: RSS per receiver process`, value: rssMiB, unit: 'MiB', ...(bare ? {} : { refs: ['fanout.bare.rss'] }), note: `mean over the ${config.fanout} receivers at the end; ${runs.warmupSends} warm-up sends before the steady runs` })
}

async function meshchatRoom (report: Report, config: BenchConfig): Promise<void> {
  const procs = processGroup()
  let sender: MeshClient | undefined
  try {
    const server = await startServer(procs)
    const names = Array.from({ length: config.fanout }, (_v, i) => `recv${i + 1}`)
    const senderHome = await registerUser(procs, server, 'sender')
    const homes = await pool(names, 4, async name => await registerUser(procs, server, name))
    const arrivals = names.map(() => new Map<string, Arrival>())
    const t0 = now()
    const listeners = await pool(homes, 4, async (home, i) => {
      const l = spawnListen(procs, home, line => {
        if (line.type === 'message' && line.room === 'global') arrivals[i]!.set(String(line.id), { sentAt: Number(line.sentAt), receivedAt: Number(line.receivedAt) })
      }, 90_000)
      await l.ready
      return l
    })
    report.facts.fanoutStartSeconds = (now() - t0) / 1000
    sender = await startClient(senderHome)
    const s = sender
    const pids = [server.proc.pid!, process.pid, ...listeners.map(l => l.proc.pid!)]
    const roles: Role[] = ['node', 'sender', ...listeners.map(() => 'receiver' as const)]
    const runs = await measureRoom({ arrivals, pids, roles, send: async text => (await s.sendRoom('global', text)).id }, config, 'room')
    const rss = listeners.map(l => rssOf(l.proc.pid!))
    reportRoom(report, config, runs, 'fanout', 'meshchat room', `${config.fanout} \`meshchat listen --json\` processes and the rendezvous node (\`meshchat serve\`); sentAt is set when the sender signs, receivedAt when a receiver has validated it and hands it to its store (1 ms clock); the node forwards a valid message at once and writes its room history behind it`, rss.reduce((x, y) => x + y, 0) / rss.length / MiB)
  } finally {
    await sender?.stop().catch(() => {})
    await procs.stopAll()
  }
}

async function bareRoom (report: Report, config: BenchConfig): Promise<void> {
  const children = new ChildGroup()
  let publisher: MeshNode | undefined
  try {
    publisher = await createMeshNode({
      privateKey: await generateKeyPair('Ed25519'),
      listen: ['/ip4/127.0.0.1/tcp/0'],
      maxConnections: 1_000,
      inboundConnectionThreshold: 100_000,
      maxIncomingPendingConnections: 1_000,
      gossip: LOOPBACK_GOSSIP
    })
    publisher.services.pubsub.subscribe(BARE_TOPIC)
    const pubAddr = publisher.getMultiaddrs()[0]!.toString()
    const arrivals = Array.from({ length: config.fanout }, () => new Map<string, Arrival>())
    const addrs: string[] = []
    await pool(arrivals, 4, async (m, i) => {
      // the shape of STACK-FACTS.md: each receiver dials the publisher and up to 4 others
      const others = [...addrs].sort(() => Math.random() - 0.5).slice(0, 4)
      const child = children.fork('gossip-child', [JSON.stringify([pubAddr, ...others])])
      child.proc.on('message', (msg: { type?: string, i?: string, sentAt?: number, receivedAt?: number }) => {
        if (msg.type === 'msg') m.set(String(msg.i), { sentAt: msg.sentAt!, receivedAt: msg.receivedAt! })
      })
      const ready = await child.waitFor(x => x.type === 'ready', 60_000, `bare gossipsub receiver ${i}`)
      addrs.push(String(ready.addr))
    })
    const pub = publisher
    let seq = 0
    const pids = [process.pid, ...children.children.map(c => c.pid)]
    const runs = await measureRoom({
      arrivals,
      pids,
      roles: ['sender', ...children.children.map(() => 'receiver' as const)],
      send: async text => {
        const i = `b${seq++}`
        const body = JSON.stringify({ i, sentAt: Date.now(), text })
        await pub.services.pubsub.publish(BARE_TOPIC, new TextEncoder().encode(body))
        return i
      }
    }, config, 'bare')
    const rss = children.children.map(c => rssOf(c.pid))
    reportRoom(report, config, runs, 'fanout.bare', 'bare gossipsub', `${config.fanout} gossip-child processes, each dialing the publisher and up to 4 others; StrictSign, no meshchat validation or storage`, rss.reduce((x, y) => x + y, 0) / rss.length / MiB)
  } finally {
    if (publisher != null) await Promise.resolve(publisher.stop()).catch(() => {})
    await children.stopAll()
  }
}

export async function fanoutBench (report: Report, config: BenchConfig): Promise<void> {
  let failure: unknown
  try {
    await meshchatRoom(report, config)
  } catch (err) {
    failure = err
  }
  if (config.bareGossip) await bareRoom(report, config)
  if (failure != null) throw failure
}
