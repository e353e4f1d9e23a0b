/**
 * Rendezvous capacity: `meshchat serve` in its own process (real scrypt cost, memory read from
 * /proc), and many light devices in the bench process. A light device is what a MeshClient is to
 * the node, without a history store: its own key, a createMeshNode node subscribed to the global
 * room, a certificate from register or login, and a session (hello, welcome, heartbeats, every
 * frame read). The reference is a bare createMeshNode node in a child process holding the same
 * devices' connections.
 */
import { readdirSync, readlinkSync } from 'node:fs'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { LOOPBACK_GOSSIP, TEST_PASSWORD, TEST_SCRYPT } from '../src/testing/index.js'
import { authRequest } from '../src/client/index.js'
import { DEFAULT_SCRYPT, generateAccountKey, hashPassword, wrapAccountKey } from '../src/crypto/index.js'
import { DEFAULT_PING_INTERVAL_MS, createMeshNode, frameStream, readFrame, writeFrame } from '../src/net/index.js'
import { GLOBAL_ROOM, SESSION_PROTOCOL, encodeFrame, roomTopic, sessionServerFrame } from '../src/protocol/index.js'
import { DEFAULT_HEARTBEAT_MS, DEFAULT_PRESENCE_WRITES_PER_SECOND, MAX_CONCURRENT_HASHES, PRESENCE_FLUSH_MS } from '../src/rendezvous/constants.js'
import { ChildGroup } from './children.js'
import { processGroup, startServer } from './cluster.js'
import { BenchTimeoutError, Deadline, KiB, MiB, cpuMsOf, median, now, pool, rssOf, sleep } from './stats.js'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Stream } from '@libp2p/interface'
import type { Certificate, DirectoryVersion } from '../src/protocol/index.js'
import type { FrameStream, MeshNode } from '../src/net/index.js'
import type { Report } from './report.js'
import type { BenchConfig } from './config.js'

class LightDevice {
  cert?: Certificate
  /** The directory version of the last welcome, shown in the next hello as a device's session does. */
  private dir?: DirectoryVersion
  /** Users in the last welcome's first page: the whole directory, or the changes since `dir`. */
  welcomeUsers = 0
  private stream?: Stream
  private beat?: NodeJS.Timeout
  frames = 0

  private constructor (readonly node: MeshNode) {}

  static async create (): Promise<LightDevice> {
    const node = await createMeshNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], gossip: LOOPBACK_GOSSIP })
    node.services.pubsub.subscribe(roomTopic(GLOBAL_ROOM))
    return new LightDevice(node)
  }

  async register (server: Multiaddr, user: string, accountKey: { publicKey: string, wrapped: unknown }): Promise<void> {
    const res = await authRequest(this.node, server, { op: 'register', user, password: TEST_PASSWORD, accountKey }, { signal: AbortSignal.timeout(60_000) })
    this.cert = res.cert
  }

  async login (server: Multiaddr, user: string): Promise<void> {
    const res = await authRequest(this.node, server, { op: 'login', user, password: TEST_PASSWORD }, { signal: AbortSignal.timeout(60_000) })
    this.cert = res.cert
  }

  /** Dials (if needed) and opens a session; resolves at the welcome. */
  async connect (server: Multiaddr): Promise<void> {
    const signal = AbortSignal.timeout(30_000)
    const stream = await this.node.dialProtocol(server, SESSION_PROTOCOL, { signal })
    const lp: FrameStream = frameStream(stream)
    let heartbeatMs: number
    try {
      await writeFrame(lp, { t: 'hello', cert: this.cert, addrs: this.node.getMultiaddrs().map(a => a.toString()).slice(0, 16), ...(this.dir == null ? {} : { since: this.dir }) }, { signal })
      const welcome = await readFrame(lp, sessionServerFrame, { signal })
      if (welcome.t !== 'welcome') throw new Error(`session refused: ${JSON.stringify(welcome).slice(0, 200)}`)
      this.cert = welcome.cert
      if (welcome.dir != null) this.dir = welcome.dir
      this.welcomeUsers = welcome.users.length
      heartbeatMs = welcome.heartbeatMs
    } catch (err) {
      stream.abort(err as Error)
      throw err
    }
    this.stream = stream
    let n = 0
    // beats as often as the node's welcome says, as a device's session does
    this.beat = setInterval(() => { void lp.write(encodeFrame({ t: 'ping', n: n++ })).catch(() => {}) }, heartbeatMs)
    void (async () => {
      // read (and drop) every frame: a device that stops reading is dropped as too slow
      for (;;) {
        const frame = (await lp.read()).subarray()
        this.frames++
        // the directory version a batch's last event carries (`…,"v":N}`), as a device's session keeps it
        if (this.dir != null && frame[frame.length - 1] === 0x7d) {
          const v = /,"v":(\d+)\}$/.exec(Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength).toString('latin1', Math.max(0, frame.length - 24)))
          if (v != null) this.dir = { epoch: this.dir.epoch, v: Number(v[1]) }
        }
      }
    })().catch(() => {})
  }

  async disconnect (server: Multiaddr): Promise<void> {
    clearInterval(this.beat)
    this.stream?.abort(new Error('bench reconnect'))
    this.stream = undefined
    await this.node.hangUp(server).catch(() => {})
  }

  async stop (): Promise<void> {
    clearInterval(this.beat)
    await Promise.resolve(this.node.stop()).catch(() => {})
  }
}

/** Sockets a process holds (its connections and listeners), from /proc. */
function socketsOf (pid: number): number {
  let n = 0
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) n++
    } catch { /* closed meanwhile */ }
  }
  return n
}

/** Waits until the process holds at most `max` sockets (connections really gone), within `ms`. */
async function socketsDown (pid: number, max: number, ms: number): Promise<void> {
  const deadline = new Deadline(ms)
  while (socketsOf(pid) > max) {
    if (deadline.passed) throw new BenchTimeoutError(`process ${pid} still holds ${socketsOf(pid)} sockets after ${ms} ms (want ≤ ${max})`)
    await sleep(50)
  }
}

/**
 * Waits until the process uses under 15% of a core for two 500 ms windows in a row (the burst of
 * work drained; holding 200 idle devices costs 5–10%), within `ms`.
 */
async function quiet (pid: number, ms: number): Promise<void> {
  const deadline = new Deadline(ms)
  let last = cpuMsOf(pid)
  let calm = 0
  while (!deadline.passed && calm < 2) {
    await sleep(500)
    const cpu = cpuMsOf(pid)
    calm = cpu - last < 75 ? calm + 1 : 0
    last = cpu
  }
}

interface RoundResult { rate: number, serverCpuMs: number, benchCpuMs: number }

function meanRound (rounds: RoundResult[]): RoundResult {
  const mean = (f: (r: RoundResult) => number): number => rounds.reduce((a, r) => a + f(r), 0) / rounds.length
  return { rate: mean(r => r.rate), serverCpuMs: mean(r => r.serverCpuMs), benchCpuMs: mean(r => r.benchCpuMs) }
}

/** The median of three RSS readings 300 ms apart (one reading can catch a GC half done). */
async function settledRss (pid: number): Promise<number> {
  const readings: number[] = []
  for (let i = 0; i < 3; i++) {
    if (i > 0) await sleep(300)
    readings.push(rssOf(pid))
  }
  return median(readings)
}

/** CPU a process uses per second while nothing is asked of it, over `ms`. */
async function idleCpu (pid: number, ms: number): Promise<number> {
  const c0 = cpuMsOf(pid)
  const t0 = now()
  await sleep(ms)
  return (cpuMsOf(pid) - c0) / ((now() - t0) / 1000)
}

/** Connects every device with `concurrency` at once; the rate and the CPU both sides spent. */
async function connectAll (devices: LightDevice[], concurrency: number, serverPid: number, fn: (d: LightDevice) => Promise<void>): Promise<RoundResult> {
  const cpuS = cpuMsOf(serverPid)
  const cpuB = cpuMsOf()
  const t0 = now()
  await pool(devices, concurrency, fn)
  const secs = (now() - t0) / 1000
  return { rate: devices.length / secs, serverCpuMs: (cpuMsOf(serverPid) - cpuS) / devices.length, benchCpuMs: (cpuMsOf() - cpuB) / devices.length }
}

/**
 * A steady trickle of reconnects while the other devices stay: `perSecond` devices a second (in
 * tenths of a second, spread over the devices) disconnect and connect again, for `seconds`. The
 * node's CPU over the trickle, less what holding the devices idle costs (`idleMsPerSecond`), per
 * reconnect.
 */
async function churn (devices: LightDevice[], server: Multiaddr, pid: number, perSecond: number, seconds: number, idleMsPerSecond: number): Promise<{ cpuMs: number, count: number, failed: number, welcomeUsers: number }> {
  const cpu0 = cpuMsOf(pid)
  const t0 = now()
  const jobs: Array<Promise<void>> = []
  let failed = 0
  let welcomed = 0
  let k = 0
  for (let tick = 0; tick < seconds * 10; tick++) {
    for (let j = 0; j < perSecond / 10; j++) {
      const d = devices[(k++ * 7919) % devices.length]!
      jobs.push(d.disconnect(server).then(async () => { await d.connect(server); welcomed += d.welcomeUsers }).catch(() => { failed++ }))
    }
    await sleep(100)
  }
  await Promise.all(jobs)
  await quiet(pid, 10_000)
  const wall = (now() - t0) / 1000
  return { cpuMs: (cpuMsOf(pid) - cpu0 - idleMsPerSecond * wall) / jobs.length, count: jobs.length, failed, welcomeUsers: welcomed / Math.max(1, jobs.length - failed) }
}

interface HeldRss {
  /** Settled RSS idle, with the first half of the devices, with all of them. */
  idle: number
  half: number
  all: number
  /** Growth per device over the second half: what each further device costs. */
  perDevice: number
}

/**
 * Connects the devices in two halves and reads the process's settled RSS before, between and
 * after. The figure per device is the second half's growth: the first devices also pay what a
 * process allocates once (code compiled on first use, buffer pools, caches), which a node holding
 * 10,000 devices does not pay again per device, and which depends on how much of it the process
 * had already done while idle (the bundled `meshchat serve` starts with less loaded than a
 * process of separate modules, and so grew more over its first devices).
 */
async function connectInHalves (devices: LightDevice[], concurrency: number, pid: number, quietMs: number, fn: (d: LightDevice) => Promise<void>): Promise<{ round: RoundResult, rss: HeldRss }> {
  const idle = await settledRss(pid)
  const cut = Math.floor(devices.length / 2)
  const first = await connectAll(devices.slice(0, cut), concurrency, pid, fn)
  await quiet(pid, quietMs)
  const half = await settledRss(pid)
  const second = await connectAll(devices.slice(cut), concurrency, pid, fn)
  await quiet(pid, quietMs)
  const all = await settledRss(pid)
  const secs = cut / first.rate + (devices.length - cut) / second.rate
  const weighted = (f: (r: RoundResult) => number): number => (f(first) * cut + f(second) * (devices.length - cut)) / devices.length
  return {
    round: { rate: devices.length / secs, serverCpuMs: weighted(r => r.serverCpuMs), benchCpuMs: weighted(r => r.benchCpuMs) },
    rss: { idle, half, all, perDevice: (all - half) / (devices.length - cut) }
  }
}

/** How the RSS figure came about, for its note. */
function rssNote (rss: HeldRss, devices: number): string {
  const mib = (b: number): string => (b / MiB).toFixed(0)
  return `growth over the second ${devices - Math.floor(devices / 2)} devices (RSS idle ${mib(rss.idle)} → ${mib(rss.half)} MiB with half of the ${devices} → ${mib(rss.all)} MiB with all; from idle ${((rss.all - rss.idle) / devices / KiB).toFixed(0)} KiB per device, which includes what the process allocates once; GC timing moves each reading by a few MiB)`
}

export async function rendezvousBench (report: Report, config: BenchConfig): Promise<void> {
  const group = `rendezvous capacity (${config.devices} devices)`
  const procs = processGroup()
  const children = new ChildGroup()
  const devices: LightDevice[] = []
  try {
    // the password hash alone, at the node's cost
    const hashMs: number[] = []
    for (let i = 0; i < 5; i++) {
      const t = now()
      await hashPassword(TEST_PASSWORD, DEFAULT_SCRYPT)
      hashMs.push(now() - t)
    }
    const scryptMs = median(hashMs)
    report.add({ id: 'rdv.scrypt', group, label: `one password hash (scrypt N=2^${Math.log2(DEFAULT_SCRYPT.N)}, r=${DEFAULT_SCRYPT.r}, p=${DEFAULT_SCRYPT.p})`, value: scryptMs, unit: 'ms', note: `median of 5 in the bench process; the node runs ${MAX_CONCURRENT_HASHES} at once` })
    const bound = MAX_CONCURRENT_HASHES * 1000 / scryptMs
    report.add({ id: 'rdv.hashbound', group, label: 'logins/s the hash alone allows', value: bound, unit: '/s', note: `${MAX_CONCURRENT_HASHES} concurrent hashes / ${scryptMs.toFixed(0)} ms; the ceiling for first logins on 2 cores` })

    for (const d of await pool(Array.from({ length: config.devices }), 16, async () => await LightDevice.create())) devices.push(d)

    // reference: a bare createMeshNode node (child process) holding the same devices' connections.
    // Memory is measured the same way for both nodes (connectInHalves).
    const bare = children.fork('echo-child')
    const bareReady = await bare.waitFor(m => m.type === 'ready', 20_000, 'the bare node')
    const bareAddr = multiaddr((bareReady.addrs as string[])[0]!)
    await quiet(bare.pid, 5_000)
    const bareSockets = socketsOf(bare.pid)
    const dialBare = async (d: LightDevice): Promise<void> => { await d.node.dial(bareAddr, { signal: AbortSignal.timeout(30_000) }) }
    const { round: bareFirst, rss: bareRss } = await connectInHalves(devices, 32, bare.pid, 10_000, dialBare)
    const bareIdle = await idleCpu(bare.pid, 5_000)
    const bareRounds: RoundResult[] = []
    for (let r = 0; r < 2; r++) {
      await Promise.all(devices.map(async d => { await d.node.hangUp(bareAddr).catch(() => {}) }))
      await socketsDown(bare.pid, bareSockets, 20_000)
      await quiet(bare.pid, 5_000)
      bareRounds.push(await connectAll(devices, 64, bare.pid, dialBare))
      await quiet(bare.pid, 10_000)
    }
    await Promise.all(devices.map(async d => { await d.node.hangUp(bareAddr).catch(() => {}) }))
    await children.stopAll()
    const bareRe = meanRound(bareRounds)
    report.add({ id: 'rdv.bare.rss', group, label: 'bare libp2p node: RSS per connection', value: bareRss.perDevice / KiB, unit: 'KiB', note: `createMeshNode (tcp, noise, yamux, identify, ping, gossipsub subscribed to the room) in a fresh child process: ${rssNote(bareRss, config.devices)}` })
    report.add({ id: 'rdv.bare.idlecpu', group, label: `bare libp2p node: CPU holding ${config.devices} idle connections`, value: bareIdle, unit: 'ms/s', note: `over 5 s; libp2p pings every connection once every ${DEFAULT_PING_INTERVAL_MS / 1000} s (at both ends: a 5 s window holds a round of them or none), gossipsub heartbeats every second` })
    report.add({ id: 'rdv.bare.reconnect', group, label: 'bare libp2p node: reconnects/s', value: bareRe.rate, unit: '/s', note: `mean of 2 rounds (${bareRounds.map(r => r.rate.toFixed(0)).join(', ')}/s) of ${config.devices} dials, 64 at once (first connect ${bareFirst.rate.toFixed(0)}/s, 32 at once); bench-side CPU ${bareRe.benchCpuMs.toFixed(2)} ms per dial on the same cores` })
    report.add({ id: 'rdv.bare.cpu', group, label: 'bare libp2p node: CPU per reconnect', value: bareRe.serverCpuMs, unit: 'ms', note: 'tcp + noise handshake + yamux + identify both ways + gossipsub subscriptions' })

    // meshchat serve, real scrypt
    let server = await startServer(procs)
    const addr = multiaddr(server.address)
    await quiet(server.proc.pid!, 5_000)
    const perAccount = config.devicesPerAccount
    const accounts = Math.ceil(config.devices / perAccount)
    // device i belongs to account floor(i / perAccount); the first of each registers it
    const firsts = devices.filter((_d, i) => i % perAccount === 0)
    // round-robin over accounts: parallel logins to one account count as failures until they succeed
    const others = devices.flatMap((d, i) => i % perAccount === 0 ? [] : [{ d, account: Math.floor(i / perAccount), slot: i % perAccount }])
      .sort((a, b) => a.slot - b.slot || a.account - b.account)
    const keys = await Promise.all(firsts.map(async () => {
      const k = generateAccountKey()
      return { publicKey: k.publicKey, wrapped: await wrapAccountKey(k.privateKey, TEST_PASSWORD, TEST_SCRYPT) }
    }))
    let t = now()
    await pool(firsts, 8, async (d, i) => { await d.register(addr, `acct${i}`, keys[i]!) })
    const regRate = accounts / ((now() - t) / 1000)
    report.add({ id: 'rdv.register', group, label: 'registrations/s (account + its first device)', value: regRate, unit: '/s', refs: ['rdv.hashbound'], note: `${accounts} accounts, 8 at once, each one scrypt hash at the node plus a noise handshake` })
    t = now()
    await pool(others, 8, async o => { await o.d.login(addr, `acct${o.account}`) })
    report.add({ id: 'rdv.login', group, label: 'first logins/s of new devices', value: others.length / ((now() - t) / 1000), unit: '/s', refs: ['rdv.hashbound'], note: `${others.length} devices, 8 at once: dial + noise + one scrypt verify + certificate` })

    // a fresh node process on the same data (as after a restart), so that its memory growth is
    // that of the sessions alone, like the bare node's above
    await Promise.all(devices.map(async d => { await d.node.hangUp(addr).catch(() => {}) }))
    await server.kill('SIGTERM')
    server = await startServer(procs, { dataDir: server.dataDir, port: server.port })
    const pid = server.proc.pid!
    await quiet(pid, 5_000)
    const idleSockets = socketsOf(pid)
    const { round: first, rss } = await connectInHalves(devices, 32, pid, 15_000, async d => { await d.connect(addr) })
    const perDevice = rss.perDevice / KiB
    report.add({
      id: 'rdv.rss', group, label: 'node RSS per connected device', value: perDevice, unit: 'KiB', refs: ['rdv.bare.rss'],
      target: '≤ 50 KiB (at 10,000 devices)', pass: perDevice <= 50,
      note: `sessions (connection + session + gossipsub peer) on a freshly restarted node: ${rssNote(rss, config.devices)}. ${config.devices} devices cannot show the 10,000 target; BENCH_DEVICES raises it`
    })
    const held = await idleCpu(pid, 5_000)
    report.add({ id: 'rdv.idlecpu', group, label: `node CPU holding ${config.devices} idle devices`, value: held, unit: 'ms/s', refs: ['rdv.bare.idlecpu'], note: `over 5 s, ${(held / config.devices * 1000).toFixed(0)} µs/s per device; session heartbeats every ${DEFAULT_HEARTBEAT_MS} ms on top of libp2p's pings (every ${DEFAULT_PING_INTERVAL_MS / 1000} s) and gossipsub heartbeats` })

    // reconnects of devices already logged in: new connection + session, 64 at once
    const rounds: RoundResult[] = []
    for (let r = 0; r < 2; r++) {
      await Promise.all(devices.map(async d => { await d.disconnect(addr) }))
      await socketsDown(pid, idleSockets, 20_000)
      await quiet(pid, 15_000)
      rounds.push(await connectAll(devices, 64, pid, async d => { await d.connect(addr) }))
      await quiet(pid, 15_000)
    }
    const re = meanRound(rounds)
    report.add({
      id: 'rdv.reconnect', group, label: 'reconnects/s of logged-in devices', value: re.rate, unit: '/s', refs: ['rdv.bare.reconnect'],
      target: '≥ 1,000/s', pass: re.rate >= 1_000,
      note: `mean of 2 rounds (${rounds.map(r => r.rate.toFixed(0)).join(', ')}/s) of ${config.devices} devices, 64 at once: dial, noise, session hello → welcome (certificate check, the device's certificate handed back while under a day old, the directory's changes since the device's last welcome from the node's cache — here nearly all of it, since every device went offline —, a presence event to every session, batched per session every ${PRESENCE_FLUSH_MS} ms or less often past ${DEFAULT_PRESENCE_WRITES_PER_SECOND} writes a second). First connect after the restart: ${first.rate.toFixed(0)}/s (32 at once). Bench-side CPU ${re.benchCpuMs.toFixed(2)} ms per reconnect on the same 2 cores`
    })
    report.add({ id: 'rdv.reconnect.cpu', group, label: 'node CPU per reconnect', value: re.serverCpuMs, unit: 'ms', refs: ['rdv.bare.cpu'], note: `one core of the node alone could take ~${(1000 / re.serverCpuMs).toFixed(0)} reconnects/s with ${config.devices} devices online` })

    // what a node sees most of the time: a few devices at a time drop and come back while the
    // others stay (their welcomes carry only the directory's changes since their last one)
    await quiet(pid, 15_000)
    const trickle = await churn(devices, addr, pid, 20, 10, held)
    report.add({ id: 'rdv.churn.cpu', group, label: 'node CPU per reconnect, 20 a second while the others stay', value: trickle.cpuMs, unit: 'ms', refs: ['rdv.bare.cpu'], note: `${trickle.count} reconnects over 10 s (${trickle.failed} failed), ${config.devices} devices online, their welcomes ${trickle.welcomeUsers.toFixed(1)} users on average (a whole directory: ${accounts}); the node's CPU over them less ${held.toFixed(0)} ms/s of holding the devices idle. Presence goes out every ${PRESENCE_FLUSH_MS} ms, or every (sessions / ${DEFAULT_PRESENCE_WRITES_PER_SECOND}) s when that is longer` })
    report.facts.rendezvousFramesPerDevice = Math.round(devices.reduce((a, d) => a + d.frames, 0) / devices.length)
  } finally {
    await Promise.allSettled(devices.map(async d => { await d.stop() }))
    await children.stopAll()
    await procs.stopAll()
  }
}
