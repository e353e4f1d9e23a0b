/**
 * The floors every other figure is read against, measured against a child process (bench/echo-
 * child.ts) so that each round trip crosses a process boundary as a DM between two devices does:
 * plain node:net TCP on 127.0.0.1, and a bare libp2p stream between two createMeshNode nodes
 * (tcp + noise + yamux), one 100-byte message in flight.
 */
import { connect } from 'node:net'
import { once } from 'node:events'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { createMeshNode } from '../src/net/index.js'
import { ChildGroup, ECHO_PROTOCOL, SINK_PROTOCOL } from './children.js'
import { Deadline, MiB, cpuMsOf, now, sleep, summarize, withTimeout } from './stats.js'
import type { Socket } from 'node:net'
import type { Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { MeshNode } from '../src/net/index.js'
import type { Report } from './report.js'
import type { BenchConfig } from './config.js'

const MSG = 100
const PAYLOAD = new Uint8Array(MSG).fill(7)

async function tcpConnect (port: number): Promise<Socket> {
  const sock = connect({ port, host: '127.0.0.1', noDelay: true })
  await once(sock, 'connect')
  return sock
}

/** A request/response pump over anything that delivers bytes: resolves one waiter per 100 bytes. */
class Replies {
  private got = 0
  private readonly waiters: Array<() => void> = []

  data (n: number): void {
    this.got += n
    while (this.got >= MSG && this.waiters.length > 0) {
      this.got -= MSG
      this.waiters.shift()!()
    }
  }

  async next (): Promise<void> {
    await new Promise<void>(resolve => { this.waiters.push(resolve); this.data(0) })
  }
}

/**
 * The pause before each round trip of the spaced floors, as between the spaced DMs (dm.ts): on a
 * machine idle between messages each hop wakes a sleeping process, which a back-to-back loop
 * never pays (on the 2-core VMs here a TCP round trip took 54 µs back to back, 291 µs after 30 ms).
 */
export const SPACED_GAP_MS = 30

/** One 100-byte message in flight over one TCP connection: round trips in ms (`gapMs` idle before each). */
export async function tcpRtt (port: number, count: number, warmup: number, ms: number, gapMs = 0): Promise<number[]> {
  const sock = await tcpConnect(port)
  const replies = new Replies()
  sock.on('data', (b: Buffer) => { replies.data(b.length) })
  const samples: number[] = []
  const deadline = new Deadline(ms)
  try {
    for (let i = 0; i < warmup + count && !deadline.passed; i++) {
      if (gapMs > 0) await sleep(gapMs)
      const t0 = now()
      const reply = replies.next()
      sock.write(PAYLOAD)
      await reply
      if (i >= warmup) samples.push(now() - t0)
    }
  } finally {
    sock.destroy()
  }
  return samples
}

/** `window` 100-byte messages in flight over one TCP connection: messages a second. */
export async function tcpWindowRate (port: number, window: number, ms: number): Promise<number> {
  const sock = await tcpConnect(port)
  const replies = new Replies()
  sock.on('data', (b: Buffer) => { replies.data(b.length) })
  let done = 0
  const deadline = new Deadline(ms)
  const t0 = now()
  try {
    await Promise.all(Array.from({ length: window }, async () => {
      while (!deadline.passed) {
        const reply = replies.next()
        sock.write(PAYLOAD)
        await reply
        done++
      }
    }))
  } finally {
    sock.destroy()
  }
  return done / ((now() - t0) / 1000)
}

/** Bulk throughput into a sink: bytes the far end counted, over the time until it said so. */
export async function tcpBulk (port: number, ms: number, maxBytes: number): Promise<number> {
  const sock = await tcpConnect(port)
  const chunk = Buffer.alloc(64 * 1024, 1)
  let reply = ''
  sock.setEncoding('utf8').on('data', (s: string) => { reply += s })
  const ended = once(sock, 'end')
  const deadline = new Deadline(ms)
  const t0 = now()
  let sent = 0
  while (!deadline.passed && sent < maxBytes) {
    sent += chunk.length
    if (!sock.write(chunk)) await once(sock, 'drain')
  }
  sock.end()
  await ended
  const elapsed = now() - t0
  sock.destroy()
  const bytes = (JSON.parse(reply) as { bytes: number }).bytes
  return bytes / MiB / (elapsed / 1000)
}

function pumpStream (stream: Stream): Replies {
  const replies = new Replies()
  stream.addEventListener('message', evt => { replies.data(evt.data.byteLength) })
  return replies
}

async function sendAll (stream: Stream, data: Uint8Array): Promise<void> {
  if (!stream.send(data)) await stream.onDrain()
}

/**
 * Bulk writes must pace themselves: @libp2p/yamux 8 leaves a stream's maxWriteBufferLength at
 * Infinity, so send() never returns false and a fast writer only grows the buffer.
 */
async function sendPaced (stream: Stream, data: Uint8Array): Promise<void> {
  await sendAll(stream, data)
  if (stream.writeBufferLength > 1024 * 1024) {
    while (stream.writeBufferLength > 256 * 1024 && stream.status === 'open') await new Promise(resolve => setTimeout(resolve, 1))
  }
}

/** One 100-byte message in flight over one libp2p stream (`gapMs` idle before each). */
export async function libp2pRtt (node: MeshNode, peer: Multiaddr, count: number, warmup: number, ms: number, gapMs = 0): Promise<number[]> {
  const stream = await node.dialProtocol(peer, ECHO_PROTOCOL, { signal: AbortSignal.timeout(10_000) })
  const replies = pumpStream(stream)
  const samples: number[] = []
  const deadline = new Deadline(ms)
  try {
    for (let i = 0; i < warmup + count && !deadline.passed; i++) {
      if (gapMs > 0) await sleep(gapMs)
      const t0 = now()
      const reply = replies.next()
      await sendAll(stream, PAYLOAD)
      await reply
      if (i >= warmup) samples.push(now() - t0)
    }
    await stream.close({ signal: AbortSignal.timeout(5_000) }).catch(() => {})
  } catch (err) {
    stream.abort(err as Error)
    throw err
  }
  return samples
}

/** What meshchat's request() does per message: a new stream, 100 bytes each way, close. */
async function newStreamRequest (node: MeshNode, peer: Multiaddr): Promise<number> {
  const t0 = now()
  const stream = await node.dialProtocol(peer, ECHO_PROTOCOL, { signal: AbortSignal.timeout(10_000), maxOutboundStreams: 1_024 })
  const replies = pumpStream(stream)
  const reply = replies.next()
  await sendAll(stream, PAYLOAD)
  await reply
  const rtt = now() - t0
  await stream.close({ signal: AbortSignal.timeout(5_000) }).catch(() => { stream.abort(new Error('close timed out')) })
  return rtt
}

export async function libp2pNewStreamRtt (node: MeshNode, peer: Multiaddr, count: number, warmup: number, ms: number): Promise<number[]> {
  const samples: number[] = []
  const deadline = new Deadline(ms)
  for (let i = 0; i < warmup + count && !deadline.passed; i++) {
    const rtt = await newStreamRequest(node, peer)
    if (i >= warmup) samples.push(rtt)
  }
  return samples
}

export async function libp2pWindowRate (node: MeshNode, peer: Multiaddr, window: number, ms: number): Promise<number> {
  let done = 0
  const deadline = new Deadline(ms)
  const t0 = now()
  await Promise.all(Array.from({ length: window }, async () => {
    while (!deadline.passed) {
      await newStreamRequest(node, peer)
      done++
    }
  }))
  return done / ((now() - t0) / 1000)
}

/**
 * `window` 100-byte messages in flight on one long-lived libp2p stream, each answered in order:
 * the shape of meshchat's request channels (src/net/channel.ts), which DMs ride.
 */
export async function libp2pPipelinedRate (node: MeshNode, peer: Multiaddr, window: number, ms: number): Promise<number> {
  const stream = await node.dialProtocol(peer, ECHO_PROTOCOL, { signal: AbortSignal.timeout(10_000) })
  const replies = pumpStream(stream)
  let done = 0
  const deadline = new Deadline(ms)
  const t0 = now()
  try {
    await Promise.all(Array.from({ length: window }, async () => {
      while (!deadline.passed) {
        const reply = replies.next()
        await sendAll(stream, PAYLOAD)
        await reply
        done++
      }
    }))
    await stream.close({ signal: AbortSignal.timeout(5_000) }).catch(() => {})
  } catch (err) {
    stream.abort(err as Error)
    throw err
  }
  return done / ((now() - t0) / 1000)
}

export async function libp2pBulk (node: MeshNode, peer: Multiaddr, ms: number, maxBytes: number): Promise<number> {
  const stream = await node.dialProtocol(peer, SINK_PROTOCOL, { signal: AbortSignal.timeout(10_000) })
  let reply = ''
  const answered = new Promise<void>(resolve => {
    stream.addEventListener('message', evt => { reply += new TextDecoder().decode(evt.data.subarray()); if (reply.endsWith('}')) resolve() })
  })
  const chunk = new Uint8Array(64 * 1024).fill(1)
  const deadline = new Deadline(ms)
  const t0 = now()
  let sent = 0
  while (!deadline.passed && sent < maxBytes) {
    sent += chunk.length
    await sendPaced(stream, chunk)
  }
  await stream.close({ signal: AbortSignal.timeout(10_000) })
  await withTimeout(answered, 10_000, 'the libp2p sink\'s count')
  const elapsed = now() - t0
  const bytes = (JSON.parse(reply) as { bytes: number }).bytes
  return bytes / MiB / (elapsed / 1000)
}

export async function floorBench (report: Report, config: BenchConfig): Promise<void> {
  const group = 'floor'
  const children = new ChildGroup()
  let node: MeshNode | undefined
  try {
    const child = children.fork('echo-child')
    const ready = await child.waitFor(m => m.type === 'ready', 20_000, 'the echo child')
    const tcpEcho = ready.tcpEcho as number
    const tcpSink = ready.tcpSink as number
    const peer = multiaddr((ready.addrs as string[])[0]!)

    const tcp = summarize(await tcpRtt(tcpEcho, config.rttCount, 200, 20_000))
    report.add({ id: 'floor.tcp.p50', group, label: 'TCP round trip p50 (100 B)', value: tcp.p50, unit: 'ms', note: `${tcp.n} round trips, node:net, 127.0.0.1, echo in another process` })
    report.add({ id: 'floor.tcp.p99', group, label: 'TCP round trip p99', value: tcp.p99, unit: 'ms' })
    const tcpSpaced = summarize(await tcpRtt(tcpEcho, 200, 10, 12_000, SPACED_GAP_MS))
    report.add({ id: 'floor.tcp.spaced.p50', group, label: `TCP round trip p50, ${SPACED_GAP_MS} ms between`, value: tcpSpaced.p50, unit: 'ms', refs: ['floor.tcp.p50'], note: `${tcpSpaced.n} round trips, each after ${SPACED_GAP_MS} ms idle: both processes wake for it` })
    report.add({ id: 'floor.tcp.spaced.p99', group, label: `TCP round trip p99, ${SPACED_GAP_MS} ms between`, value: tcpSpaced.p99, unit: 'ms', refs: ['floor.tcp.p99'] })
    report.add({ id: 'floor.tcp.bulk', group, label: 'TCP bulk throughput', value: await tcpBulk(tcpSink, 2_000, 8 * 1024 * MiB), unit: 'MiB/s', note: '64 KiB writes for 2 s into a counting sink' })
    report.add({ id: 'floor.tcp.window', group, label: `TCP request/response, ${config.dmWindow} in flight`, value: await tcpWindowRate(tcpEcho, config.dmWindow, 2_000), unit: 'msg/s', note: 'one connection, 100 B each way' })

    node = await createMeshNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'] })
    const lp = summarize(await libp2pRtt(node, peer, config.rttCount, 200, 20_000))
    report.add({ id: 'floor.libp2p.p50', group, label: 'libp2p stream round trip p50', value: lp.p50, unit: 'ms', refs: ['floor.tcp.p50'], note: `${lp.n} round trips over one stream, tcp + noise + yamux (createMeshNode)` })
    report.add({ id: 'floor.libp2p.p99', group, label: 'libp2p stream round trip p99', value: lp.p99, unit: 'ms', refs: ['floor.tcp.p99'] })
    const lpSpaced = summarize(await libp2pRtt(node, peer, 200, 10, 12_000, SPACED_GAP_MS))
    report.add({ id: 'floor.libp2p.spaced.p50', group, label: `libp2p stream round trip p50, ${SPACED_GAP_MS} ms between`, value: lpSpaced.p50, unit: 'ms', refs: ['floor.tcp.spaced.p50', 'floor.libp2p.p50'], note: `${lpSpaced.n} round trips over one stream, each after ${SPACED_GAP_MS} ms idle (the reference for DMs sent the same way)` })
    report.add({ id: 'floor.libp2p.spaced.p99', group, label: `libp2p stream round trip p99, ${SPACED_GAP_MS} ms between`, value: lpSpaced.p99, unit: 'ms', refs: ['floor.tcp.spaced.p99', 'floor.libp2p.p99'] })
    const ns = summarize(await libp2pNewStreamRtt(node, peer, Math.min(config.rttCount, 1_000), 100, 20_000))
    report.add({ id: 'floor.libp2p.newstream.p50', group, label: 'libp2p new stream per request p50', value: ns.p50, unit: 'ms', refs: ['floor.tcp.p50', 'floor.libp2p.p50'], note: `${ns.n} requests; open stream + 100 B each way (what meshchat's request() does per message)` })
    report.add({ id: 'floor.libp2p.newstream.p99', group, label: 'libp2p new stream per request p99', value: ns.p99, unit: 'ms', refs: ['floor.tcp.p99', 'floor.libp2p.p99'] })
    const cpu0 = cpuMsOf() + cpuMsOf(child.pid)
    const t0 = now()
    const rate = await libp2pWindowRate(node, peer, config.dmWindow, 3_000)
    const requests = rate * (now() - t0) / 1000
    report.add({ id: 'floor.libp2p.window', group, label: `libp2p new-stream requests, ${config.dmWindow} in flight`, value: rate, unit: 'msg/s', refs: ['floor.tcp.window'], note: 'a new stream per request, 100 B each way, closed after the answer' })
    report.add({ id: 'floor.libp2p.window.cpu', group, label: 'CPU per new-stream request, both ends', value: (cpuMsOf() + cpuMsOf(child.pid) - cpu0) / requests, unit: 'ms', note: 'the bench process and the echo child during the run above (10 ms clock ticks)' })
    const pcpu0 = cpuMsOf() + cpuMsOf(child.pid)
    const p0 = now()
    const piped = await libp2pPipelinedRate(node, peer, config.dmWindow, 3_000)
    const pipedRequests = piped * (now() - p0) / 1000
    report.add({ id: 'floor.libp2p.pipelined', group, label: `libp2p one stream, ${config.dmWindow} in flight`, value: piped, unit: 'msg/s', refs: ['floor.tcp.window'], note: 'one long-lived stream, 100 B each way, answered in order: the shape DMs ride (src/net/channel.ts)' })
    report.add({ id: 'floor.libp2p.pipelined.cpu', group, label: 'CPU per pipelined request, both ends', value: (cpuMsOf() + cpuMsOf(child.pid) - pcpu0) / pipedRequests, unit: 'ms', note: 'the bench process and the echo child during the run above (10 ms clock ticks)' })
    report.add({ id: 'floor.libp2p.bulk', group, label: 'libp2p stream bulk throughput', value: await libp2pBulk(node, peer, 2_000, 4 * 1024 * MiB), unit: 'MiB/s', refs: ['floor.tcp.bulk'] })
  } finally {
    if (node != null) await Promise.resolve(node.stop()).catch(() => {})
    await children.stopAll()
  }
}
