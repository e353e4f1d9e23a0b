/**
 * File transfer (issue 9): alice offers a BENCH_FILE_MIB file (1 GiB by default: random bytes,
 * written once to a temp folder, so nothing is sparse or compressible) to bob, and bob fetches
 * it. Both devices are `meshchat listen --json` processes, driven through their stdin commands
 * (`send-file`, `get-file`) as the control socket and the TUI drive them; the node is `meshchat
 * serve`. Figures: throughput of the fetch (chunks verified and fsynced, then the whole file's
 * sha256 checked), the peak RSS of sender and receiver while it runs (from /proc), and the time
 * to offer it — each next to its floor in the same run: TCP and bare-libp2p-stream bulk
 * throughput (the floor group's, or measured here when that group did not run), and a plain
 * sha256 of the same file in the bench process.
 */
import { createHash, randomFillSync } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { open, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { createMeshNode } from '../src/net/index.js'
import { DEFAULT_FILE_WINDOW } from '../src/client/file-transfer.js'
import { ChildGroup } from './children.js'
import { connectPair, processGroup, registerUser, spawnListen, startClient, startServer } from './cluster.js'
import { libp2pBulk, tcpBulk } from './floor.js'
import { BenchTimeoutError, MiB, cpuMsOf, now, rssOf, until } from './stats.js'
import type { ChildProcess } from 'node:child_process'
import type { MeshNode } from '../src/net/index.js'
import type { Report } from './report.js'
import type { BenchConfig } from './config.js'

type Line = Record<string, unknown>

/** A `meshchat listen --json` device whose stdin takes commands; answers are matched by id. */
class Device {
  private nextId = 0
  private readonly waiting = new Map<number, (line: Line) => void>()
  private readonly watchers = new Set<(line: Line) => void>()
  private exited = false
  proc!: ChildProcess

  get pid (): number { return this.proc.pid! }

  /** The process behind it; commands still waiting when it exits fail at once. */
  attach (proc: ChildProcess): void {
    this.proc = proc
    proc.once('exit', code => {
      this.exited = true
      for (const done of this.waiting.values()) done({ type: 'result', ok: false, error: { name: 'Error', message: `the listen process exited (${code ?? 'signal'})` } })
      this.waiting.clear()
    })
  }

  onLine (line: Line): void {
    if (line.type === 'result' && typeof line.id === 'number') {
      const done = this.waiting.get(line.id)
      this.waiting.delete(line.id)
      done?.(line)
    }
    for (const w of [...this.watchers]) w(line)
  }

  /** Runs one command; resolves to its result, rejects with its error or past `ms`. */
  async command (cmd: Record<string, unknown>, ms: number): Promise<unknown> {
    if (this.exited) throw new Error(`${String(cmd.cmd)}: the listen process has exited`)
    const id = ++this.nextId
    const answer = new Promise<Line>((resolve, reject) => {
      const timer = setTimeout(() => { this.waiting.delete(id); reject(new BenchTimeoutError(`${String(cmd.cmd)} had no answer in ${ms} ms`)) }, ms)
      this.waiting.set(id, line => { clearTimeout(timer); resolve(line) })
    })
    this.proc.stdin!.write(`${JSON.stringify({ ...cmd, id })}\n`)
    const line = await answer
    if (line.ok !== true) {
      const e = line.error as { name?: string, message?: string } | undefined
      const err = new Error(`${String(cmd.cmd)}: ${e?.message ?? 'failed'}`)
      err.name = e?.name ?? 'Error'
      throw err
    }
    return line.result
  }

  /** Resolves with the first line (from now on) matching `pred`, within `ms`. */
  async waitLine (pred: (line: Line) => boolean, ms: number, what: string): Promise<Line> {
    return await new Promise((resolve, reject) => {
      const watch = (line: Line): void => { if (pred(line)) { done(); resolve(line) } }
      const timer = setTimeout(() => { done(); reject(new BenchTimeoutError(`timed out after ${ms} ms waiting for ${what}`)) }, ms)
      const done = (): void => { clearTimeout(timer); this.watchers.delete(watch) }
      this.watchers.add(watch)
    })
  }

  watch (fn: (line: Line) => void): () => void {
    this.watchers.add(fn)
    return () => { this.watchers.delete(fn) }
  }
}

/** RSS before, at peak and after, and CPU, of some processes while something runs. */
class Sampler {
  private readonly before: number[]
  private readonly peak: number[]
  private readonly cpu0: number[]
  private readonly timer: NodeJS.Timeout
  private readonly t0 = now()
  /** Every sample: ms since the start, and each process's RSS. */
  private readonly series: Array<{ at: number, rss: number[] }> = []

  constructor (private readonly pids: number[], everyMs = 100) {
    this.before = pids.map(p => rssOf(p))
    this.peak = [...this.before]
    this.cpu0 = pids.map(p => cpuMsOf(p))
    this.timer = setInterval(() => { this.sample() }, everyMs)
  }

  get samples (): number { return this.series.length }

  private sample (): void {
    try {
      const rss = this.pids.map(p => rssOf(p))
      rss.forEach((r, i) => { this.peak[i] = Math.max(this.peak[i]!, r) })
      this.series.push({ at: now() - this.t0, rss })
    } catch { /* a process ended: its command reports why */ }
  }

  /**
   * Per process: RSS before, peak, after; the peak of the first half of the time (a footprint
   * that is flat reaches its level early; one that grows with the bytes moved keeps rising into
   * the second half); and CPU used.
   */
  stop (): Array<{ before: number, peak: number, firstHalfPeak: number, after: number, cpuMs: number }> {
    clearInterval(this.timer)
    this.sample()
    const half = (now() - this.t0) / 2
    return this.pids.map((p, i) => {
      let after = Number.NaN
      let cpuMs = Number.NaN
      try { after = rssOf(p); cpuMs = cpuMsOf(p) - this.cpu0[i]! } catch { /* gone */ }
      const firstHalfPeak = Math.max(this.before[i]!, ...this.series.filter(s => s.at <= half).map(s => s.rss[i]!))
      return { before: this.before[i]!, peak: this.peak[i]!, firstHalfPeak, after, cpuMs }
    })
  }
}

/** Random bytes, 4 MiB at a time, so the file is neither sparse nor compressible. */
async function makeFile (path: string, size: number): Promise<void> {
  const fd = await open(path, 'w')
  const block = Buffer.allocUnsafe(4 * MiB)
  try {
    for (let at = 0; at < size; at += block.length) {
      const n = Math.min(block.length, size - at)
      randomFillSync(block, 0, n)
      await fd.write(block, 0, n, at)
    }
  } finally {
    await fd.close()
  }
}

async function sha256Of (path: string): Promise<string> {
  const h = createHash('sha256')
  for await (const chunk of createReadStream(path, { highWaterMark: MiB })) h.update(chunk as Buffer)
  return h.digest('hex')
}

/**
 * What the receiver's disk allows: the file's first `bytes` written 1 MiB at a time with an
 * fdatasync after each, as a fetch stores every verified chunk before it asks for the next.
 */
async function diskFloor (from: string, to: string, bytes: number): Promise<number> {
  const src = await open(from, 'r')
  const dst = await open(to, 'w')
  const buf = Buffer.allocUnsafe(MiB)
  let written = 0
  let ms = 0
  try {
    while (written < bytes) {
      const { bytesRead } = await src.read(buf, 0, Math.min(MiB, bytes - written), written)
      if (bytesRead === 0) break
      const t = now()
      await dst.write(buf, 0, bytesRead, written)
      await dst.datasync()
      ms += now() - t
      written += bytesRead
    }
  } finally {
    await src.close()
    await dst.close()
    await rm(to, { force: true })
  }
  return written / MiB / (ms / 1000)
}

/** TCP and bare-libp2p bulk throughput, as the floor group measures them, when it did not run. */
async function bulkFloors (report: Report): Promise<void> {
  if (report.get('floor.tcp.bulk') != null && report.get('floor.libp2p.bulk') != null) return
  const children = new ChildGroup()
  let node: MeshNode | undefined
  try {
    const child = children.fork('echo-child')
    const ready = await child.waitFor(m => m.type === 'ready', 20_000, 'the echo child')
    const note = 'measured by the files group (the floor group did not run); 64 KiB writes for 2 s into a counting sink in another process'
    report.add({ id: 'floor.tcp.bulk', group: 'floor', label: 'TCP bulk throughput', value: await tcpBulk(ready.tcpSink as number, 2_000, 8 * 1024 * MiB), unit: 'MiB/s', note })
    node = await createMeshNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'] })
    const peer = multiaddr((ready.addrs as string[])[0]!)
    report.add({ id: 'floor.libp2p.bulk', group: 'floor', label: 'libp2p stream bulk throughput', value: await libp2pBulk(node, peer, 2_000, 4 * 1024 * MiB), unit: 'MiB/s', refs: ['floor.tcp.bulk'], note })
  } finally {
    if (node != null) await Promise.resolve(node.stop()).catch(() => {})
    await children.stopAll()
  }
}

export async function filesBench (report: Report, config: BenchConfig): Promise<void> {
  const group = 'files'
  const size = config.fileMiB * MiB
  const sizeLabel = config.fileMiB % 1024 === 0 ? `${config.fileMiB / 1024} GiB` : `${config.fileMiB} MiB`
  await bulkFloors(report)

  const procs = processGroup()
  try {
    // the file, and the floor for offering it: one sha256 pass over it (from the page cache, as
    // the file was just written; so is the offer's read below)
    const dir = await procs.tempDir('bench-file')
    const path = join(dir, `random-${config.fileMiB}MiB.bin`)
    const m0 = now()
    await makeFile(path, size)
    report.facts.fileWriteSeconds = Number(((now() - m0) / 1000).toFixed(2))
    const h0 = now()
    const sha256 = await sha256Of(path)
    const hashSeconds = (now() - h0) / 1000
    report.add({ id: 'files.hash.floor', group, label: `sha256 of the ${sizeLabel} file (bench process)`, value: hashSeconds, unit: 's', note: `${(config.fileMiB / hashSeconds).toFixed(0)} MiB/s: node:crypto over 1 MiB reads, from the page cache; the floor for offering a file` })
    const diskMiB = Math.min(config.fileMiB, 256)
    report.add({ id: 'files.disk.floor', group, label: 'disk: 1 MiB writes, each fdatasynced (bench process)', value: await diskFloor(path, join(dir, 'disk-floor.bin'), diskMiB * MiB), unit: 'MiB/s', note: `the first ${diskMiB} MiB of the file copied 1 MiB at a time with an fdatasync after each write (time in write + fdatasync only), as the receiver stores each verified chunk before it asks for the next` })

    const server = await startServer(procs)
    const aliceHome = await registerUser(procs, server, 'alice')
    const bobHome = await registerUser(procs, server, 'bob')
    // a direct chat must be accepted before a file can be offered in it
    {
      const a = await startClient(aliceHome)
      const b = await startClient(bobHome)
      try {
        await connectPair(a, b)
      } finally {
        await a.stop()
        await b.stop()
      }
    }
    const alice = new Device()
    const bob = new Device()
    const aliceListen = spawnListen(procs, aliceHome, line => { alice.onLine(line) })
    const bobListen = spawnListen(procs, bobHome, line => { bob.onLine(line) })
    alice.attach(aliceListen.proc)
    bob.attach(bobListen.proc)
    await Promise.all([aliceListen.ready, bobListen.ready])
    const online = async (d: Device, user: string): Promise<boolean> => {
      const users = await d.command({ cmd: 'users' }, 10_000) as Array<{ user: string, online: boolean, devices: unknown[] }>
      return users.some(u => u.user === user && u.online && u.devices.length > 0)
    }
    await until(async () => await online(alice, 'bob') && await online(bob, 'alice'), 20_000, 'alice and bob to see each other online', 200)

    // the offer: alice's device hashes the file chunk by chunk and sends the offer message
    const offerSampler = new Sampler([alice.pid])
    const o0 = now()
    const offered = bob.waitLine(l => l.type === 'message' && l.from === 'alice', 30_000 + size / (20 * MiB) * 1000, 'the offer at bob')
    offered.catch(() => {})
    const sent = await alice.command({ cmd: 'send-file', to: 'bob', path }, 30_000 + size / (20 * MiB) * 1000) as { id: string, offer: { sha256: string, chunkSize: number, chunks: number } }
    const offerSeconds = (now() - o0) / 1000
    const [offerMem] = offerSampler.stop()
    if (sent.offer.sha256 !== sha256) throw new Error(`alice's offer names sha256 ${sent.offer.sha256}, the file is ${sha256}`)
    await offered
    report.add({ id: 'files.offer', group, label: `offer the ${sizeLabel} file (send-file at alice's device)`, value: offerSeconds, unit: 's', refs: ['files.hash.floor'], note: `read the file once (${sent.offer.chunks} chunks of ${sent.offer.chunkSize / MiB} MiB), hashing every byte twice (each chunk's sha256 and the whole file's), keep the chunk list, share the file, send the offer message to bob; alice's RSS ${(offerMem!.before / MiB).toFixed(0)} → peak ${(offerMem!.peak / MiB).toFixed(0)} MiB meanwhile` })

    // the fetch: bob's device pulls the chunks from alice's, verifies and fsyncs each, then the whole file
    let lastBytes = 0
    let allInAt = Number.NaN
    const stopWatching = bob.watch(line => {
      const f = line.type === 'file' ? line.file as { id?: string, bytes?: number } : undefined
      if (f?.id === sent.id && typeof f.bytes === 'number') {
        lastBytes = Math.max(lastBytes, f.bytes)
        if (f.bytes >= size && Number.isNaN(allInAt)) allInAt = now()
      }
    })
    const sampler = new Sampler([alice.pid, bob.pid])
    const limitMs = 30_000 + size / (10 * MiB) * 1000
    const t0 = now()
    let got: { size: number, sha256: string, resumedFrom: number } | undefined
    let cut: Error | undefined
    try {
      got = await bob.command({ cmd: 'get-file', file: sent.id }, limitMs) as { size: number, sha256: string, resumedFrom: number }
    } catch (err) {
      if ((err as Error).name !== 'BenchTimeoutError') throw err
      cut = err as Error
    }
    const seconds = (now() - t0) / 1000
    const [aMem, bMem] = sampler.stop()
    stopWatching()
    if (got != null && (got.size !== size || got.sha256 !== sha256 || got.resumedFrom !== 0)) {
      throw new Error(`bob got ${got.size} bytes, sha256 ${got.sha256}, resumed from ${got.resumedFrom}: not the file`)
    }
    const bytes = got != null ? size : lastBytes
    const rate = bytes / MiB / seconds
    const tail = Number.isNaN(allInAt) ? '' : ` (the last chunk was in after ${((allInAt - t0) / 1000).toFixed(1)} s, ${(size / MiB / ((allInAt - t0) / 1000)).toFixed(0)} MiB/s; the whole-file check and the move took the rest)`
    report.add({
      id: 'files.throughput', group, label: `file transfer throughput, ${sizeLabel} (get-file at bob's device)`, value: rate, unit: 'MiB/s', refs: ['floor.libp2p.bulk', 'floor.tcp.bulk', 'files.disk.floor'],
      note: `${got != null ? `${sizeLabel} in ${seconds.toFixed(1)} s, sha256 verified${tail}` : `CUT: ${(bytes / MiB).toFixed(0)} MiB in ${seconds.toFixed(0)} s, not done`}: from the command to its answer, i.e. chunk requests to alice's device, each ${sent.offer.chunkSize / MiB} MiB chunk hashed against the offer, written and fdatasynced, with at most ${DEFAULT_FILE_WINDOW} chunk${DEFAULT_FILE_WINDOW === 1 ? '' : 's'} sent ahead of what bob has stored (the default window), then the whole file's sha256 and the move into place. Both processes are ` +
        `\`meshchat listen\`; CPU meanwhile: alice ${(aMem!.cpuMs / seconds / 10).toFixed(0)}%, bob ${(bMem!.cpuMs / seconds / 10).toFixed(0)}% of one core`
    })
    const mem = (id: string, who: string, m: { before: number, peak: number, firstHalfPeak: number, after: number }): void => {
      report.add({ id: `files.rss.${id}`, group, label: `peak RSS of the ${who} during the transfer`, value: m.peak / MiB, unit: 'MiB', target: 'flat for a 1 GiB file (issue 9)', note: `before ${(m.before / MiB).toFixed(1)} MiB, peak ${(m.peak / MiB).toFixed(1)} MiB (+${((m.peak - m.before) / MiB).toFixed(1)}; +${((m.firstHalfPeak - m.before) / MiB).toFixed(1)} by half time, so +${((m.peak - m.firstHalfPeak) / MiB).toFixed(1)} in the second half), after ${(m.after / MiB).toFixed(1)} MiB; /proc VmRSS every 100 ms (${sampler.samples} samples)` })
      report.add({ id: `files.rss.${id}.growth`, group, label: `RSS growth of the ${who} during the transfer`, value: (m.peak - m.before) / MiB, unit: 'MiB', target: 'flat for a 1 GiB file (issue 9)', pass: m.peak - m.before < 64 * MiB, note: 'peak minus before; "flat" read as under 64 MiB, the bound the 256 MiB integration test uses' })
    }
    mem('sender', 'sender (alice\'s listen)', aMem!)
    mem('receiver', 'receiver (bob\'s listen)', bMem!)
    report.facts.files = { sizeMiB: config.fileMiB, chunkSize: sent.offer.chunkSize, chunks: sent.offer.chunks, transferSeconds: Number(seconds.toFixed(2)), offerSeconds: Number(offerSeconds.toFixed(2)), hashSeconds: Number(hashSeconds.toFixed(2)), rssSamples: sampler.samples }
    if (cut != null) throw cut
  } finally {
    await procs.stopAll()
  }
}
