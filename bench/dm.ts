/**
 * Direct messages alice → bob through the client core, as people run it: the rendezvous node is
 * `meshchat serve`, bob is `meshchat listen --json`, each its own process; alice is a MeshClient
 * in the bench process so that each sendDirect can be timed.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { seal, signEnvelope } from '../src/crypto/index.js'
import { RequestChannels } from '../src/net/index.js'
import { ARCHIVE_PROTOCOL, DM_PROTOCOL, MAX_ARCHIVE_FRAME_BYTES, MAX_ENVELOPE_BYTES, archiveResponse, dmAck, dmConversation, encodeFrame } from '../src/protocol/index.js'
import { connectPair, processGroup, registerUser, spawnListen, startClient, startServer } from './cluster.js'
import { SPACED_GAP_MS } from './floor.js'
import { Deadline, MiB, cpuMsOf, median, now, rssOf, sleep, summarize, until } from './stats.js'
import type { MeshClient } from '../src/testing/index.js'
import type { Report } from './report.js'
import type { BenchConfig } from './config.js'

const TEXT = 'x'.repeat(100)

export async function dmBench (report: Report, config: BenchConfig): Promise<void> {
  const group = 'direct messages'
  const procs = processGroup()
  let alice: MeshClient | undefined
  try {
    const server = await startServer(procs)
    const [aliceHome, bobHome, carolHome] = [await registerUser(procs, server, 'alice'), await registerUser(procs, server, 'bob'), await registerUser(procs, server, 'carol')]
    alice = await startClient(aliceHome!)
    const a = alice
    // direct messages need an accepted chat: alice and carol each with bob, through devices of
    // theirs in this process on the same homes (bob's listen process below is that same device)
    {
      const bobNow = await startClient(bobHome!)
      const carol = await startClient(carolHome!)
      try {
        await connectPair(a, bobNow)
        await connectPair(carol, bobNow)
      } finally {
        await carol.stop()
        await bobNow.stop()
      }
      await until(async () => (await a.users()).find(u => u.user === 'bob')?.online === false, 10_000, 'bob\'s in-process device offline')
    }
    let bobGot = 0
    const bob = spawnListen(procs, bobHome!, line => { if (line.type === 'message' && line.from === 'alice') bobGot++ })
    await bob.ready
    await until(async () => ((await a.users()).find(u => u.user === 'bob')?.devices.length ?? 0) > 0, 10_000, 'bob online in alice\'s directory')

    // one at a time, end to end
    for (let i = 0; i < 100; i++) await a.sendDirect('bob', TEXT)
    const latencies: number[] = []
    let delivered = 0
    const deadline = new Deadline(90_000)
    for (let i = 0; i < config.dmCount && !deadline.passed; i++) {
      const t0 = now()
      const res = await a.sendDirect('bob', TEXT)
      latencies.push(now() - t0)
      if (res.status === 'delivered') delivered++
    }
    const lat = summarize(latencies)
    const libp2pP50 = report.value('floor.libp2p.p50')
    const libp2pP99 = report.value('floor.libp2p.p99')
    report.add({
      id: 'dm.latency.p50', group, label: 'DM latency p50 (sendDirect, end to end)', value: lat.p50, unit: 'ms', refs: ['floor.tcp.p50', 'floor.libp2p.p50'],
      target: '≤ 1.5× libp2p p50', pass: Number.isFinite(libp2pP50) ? lat.p50 <= 1.5 * libp2pP50 : undefined,
      note: `${lat.n} messages one at a time, ${delivered} acked by bob's device. Sign and store at alice, then in parallel the stream to bob (he verifies certificate and signature, stores, acks) and the copy sealed to both accounts put at the node (certificate check, LevelDB batch, a mail notice to both accounts' sessions, which then fetch); resolves at bob's ack, while the sealed copy, its mail notices and bob's delivered receipt still run on the same 2 cores`
    })
    report.add({
      id: 'dm.latency.p99', group, label: 'DM latency p99', value: lat.p99, unit: 'ms', refs: ['floor.tcp.p99', 'floor.libp2p.p99'],
      target: '≤ 1.5× libp2p p99 and ≤ 3 ms', pass: Number.isFinite(libp2pP99) ? lat.p99 <= 1.5 * libp2pP99 && lat.p99 <= 3 : undefined
    })
    report.add({ id: 'dm.latency.max', group, label: 'DM latency max', value: lat.max, unit: 'ms', refs: ['floor.tcp.p99'] })

    // the same, with a pause after each send long enough for the work it left behind (the archive
    // copy, the fetches its mail notices prompt, receipts) to finish: what one message alone costs
    const spaced: number[] = []
    const spacedDeadline = new Deadline(20_000)
    for (let i = 0; i < 300 && !spacedDeadline.passed; i++) {
      await sleep(SPACED_GAP_MS)
      const t0 = now()
      await a.sendDirect('bob', TEXT)
      spaced.push(now() - t0)
    }
    const sp = summarize(spaced)
    const spacedP50 = report.value('floor.libp2p.spaced.p50')
    report.add({ id: 'dm.spaced.p50', group, label: `DM latency p50, ${SPACED_GAP_MS} ms between sends`, value: sp.p50, unit: 'ms', refs: ['floor.libp2p.spaced.p50', 'floor.libp2p.p50', 'floor.libp2p.newstream.p50'], target: '≤ 1.5× libp2p p50 spaced the same', pass: Number.isFinite(spacedP50) ? sp.p50 <= 1.5 * spacedP50 : undefined, note: `${sp.n} sendDirect calls, each after a ${SPACED_GAP_MS} ms pause: the latency of a message that does not queue behind the previous one's background work, but wakes sleeping processes and threads at every hop (read it against the libp2p round trip spaced the same)` })
    report.add({ id: 'dm.spaced.p99', group, label: `DM latency p99, ${SPACED_GAP_MS} ms between sends`, value: sp.p99, unit: 'ms', refs: ['floor.libp2p.spaced.p99', 'floor.libp2p.p99', 'floor.libp2p.newstream.p99'], target: '≤ 3 ms', pass: sp.p99 <= 3 })

    // the direct path alone: a signed envelope over DM_PROTOCOL to bob's device, without the archive copy
    const key = await a.home.deviceKey()
    const login = await a.home.requireLogin()
    const bobPeer = peerIdFromString((await a.users()).find(u => u.user === 'bob')!.devices[0]!.peer)
    const conv = dmConversation('alice', 'bob')
    const direct: number[] = []
    const directDeadline = new Deadline(30_000)
    // as the client sends them: one long-lived stream to bob's device (net/channel.ts)
    const dmChannel = new RequestChannels(a.libp2p, DM_PROTOCOL, dmAck)
    const archiveChannel = new RequestChannels(a.libp2p, ARCHIVE_PROTOCOL, archiveResponse, { maxFrameBytes: MAX_ARCHIVE_FRAME_BYTES })
    for (let i = 0; i < 100 + Math.min(config.dmCount, 1_000) && !directDeadline.passed; i++) {
      const t0 = now()
      const env = await signEnvelope(key, login.cert, { conv, kind: 'text', body: { text: TEXT } })
      await dmChannel.request(bobPeer, env, { signal: AbortSignal.timeout(10_000) })
      if (i >= 100) direct.push(now() - t0)
    }
    const d = summarize(direct)
    report.add({ id: 'dm.direct.p50', group, label: 'DM direct path only p50 (no archive copy)', value: d.p50, unit: 'ms', refs: ['floor.libp2p.p50', 'floor.libp2p.newstream.p50'], note: `${d.n} envelopes signed by alice's device and sent on the open DM stream: sign, bob verifies (cert + signature), checks the chat is open, stores, acks` })
    report.add({ id: 'dm.direct.p99', group, label: 'DM direct path only p99', value: d.p99, unit: 'ms', refs: ['floor.libp2p.p99', 'floor.libp2p.newstream.p99'] })

    // the archive path alone: the same envelope sealed to both accounts and put at the node
    const bobAccount = (await a.users()).find(u => u.user === 'bob')!.accountKey!
    const aliceAccount = (await a.home.readAccountKey())!.publicKey
    const node = peerIdFromString(multiaddr(server.address).getComponents().find(c => c.name === 'p2p')!.value!)
    const archive: number[] = []
    const archiveDeadline = new Deadline(30_000)
    for (let i = 0; i < 100 + Math.min(config.dmCount, 1_000) && !archiveDeadline.passed; i++) {
      const t0 = now()
      const env = await signEnvelope(key, login.cert, { conv, kind: 'text', body: { text: TEXT } })
      const plain = encodeFrame(env, MAX_ENVELOPE_BYTES)
      const items = [{ to: 'bob', sealed: seal(bobAccount, plain, aliceAccount) }, { to: 'alice', sealed: seal(aliceAccount, plain, aliceAccount) }]
      await archiveChannel.request(node, { op: 'put', cert: login.cert, items }, { signal: AbortSignal.timeout(10_000) })
      if (i >= 100) archive.push(now() - t0)
    }
    const ar = summarize(archive)
    report.add({ id: 'dm.archive.p50', group, label: 'DM archive path only p50 (no stream to bob)', value: ar.p50, unit: 'ms', refs: ['floor.libp2p.p50', 'floor.libp2p.newstream.p50'], note: `${ar.n} envelopes signed, sealed to both accounts and put at the node on the open archive stream: the node checks the certificate, both accounts, appends in one LevelDB batch and notifies both accounts' sessions (which then fetch)` })
    report.add({ id: 'dm.archive.p99', group, label: 'DM archive path only p99', value: ar.p99, unit: 'ms', refs: ['floor.libp2p.p99', 'floor.libp2p.newstream.p99'] })
    dmChannel.close()
    archiveChannel.close()

    // throughput with acks: a bounded window of sends in flight
    const pids = { server: server.proc.pid!, bob: bob.proc.pid! }
    const rssBefore = { alice: rssOf(), bob: rssOf(pids.bob), server: rssOf(pids.server) }
    const cpuBefore = { alice: cpuMsOf(), bob: cpuMsOf(pids.bob), server: cpuMsOf(pids.server) }
    // every process's RSS twice a second, to tell growth from GC's sawtooth over the run
    const samples: Array<{ at: number, alice: number, bob: number, server: number }> = []
    const sampleStart = now()
    const sampler = setInterval(() => {
      try {
        samples.push({ at: (now() - sampleStart) / 1000, alice: rssOf(), bob: rssOf(pids.bob), server: rssOf(pids.server) })
      } catch { /* a process ended: the run reports its error */ }
    }, 500)
    let acked = 0
    let sentOnly = 0
    let failed = 0
    let firstError = ''
    const perSecond: number[] = []
    const tpDeadline = new Deadline(config.dmSeconds * 1000)
    const t0 = now()
    await Promise.all(Array.from({ length: config.dmWindow }, async () => {
      while (!tpDeadline.passed) {
        try {
          const res = await a.sendDirect('bob', TEXT)
          if (res.status === 'delivered') {
            acked++
            const s = Math.floor((now() - t0) / 1000)
            perSecond[s] = (perSecond[s] ?? 0) + 1
          } else sentOnly++
        } catch (err) {
          failed++
          firstError ||= `${(err as Error).name}: ${(err as Error).message}`
        }
      }
    }))
    const elapsed = (now() - t0) / 1000
    clearInterval(sampler)
    const rate = acked / elapsed
    const cpu = { alice: cpuMsOf() - cpuBefore.alice, bob: cpuMsOf(pids.bob) - cpuBefore.bob, server: cpuMsOf(pids.server) - cpuBefore.server }
    const rssAfter = { alice: rssOf(), bob: rssOf(pids.bob), server: rssOf(pids.server) }
    const full = perSecond.slice(0, Math.floor(elapsed)).map(n => n ?? 0)
    const cpuPerDm = (cpu.alice + cpu.bob + cpu.server) / Math.max(1, acked + sentOnly)
    report.add({ id: 'dm.cpu', group, label: 'CPU per DM under load, sender + receiver + node', value: cpuPerDm, unit: 'ms', refs: ['floor.libp2p.pipelined.cpu', 'floor.libp2p.window.cpu'], note: `during the throughput run: alice ${(cpu.alice / elapsed / 10).toFixed(0)}%, bob ${(cpu.bob / elapsed / 10).toFixed(0)}%, node ${(cpu.server / elapsed / 10).toFixed(0)}% of one core; the references are one bare request on a pipelined stream and on a new stream, both ends` })
    report.add({
      id: 'dm.throughput', group, label: `DM throughput with acks, ${config.dmWindow} in flight`, value: rate, unit: 'msg/s', refs: ['floor.libp2p.pipelined', 'floor.libp2p.window', 'floor.tcp.window'],
      target: '≥ 10,000 msg/s per pair', pass: rate >= 10_000,
      note: `${acked} acked in ${elapsed.toFixed(1)} s (slowest whole second ${Math.min(...full)} msg/s, fastest ${Math.max(...full)}); ${sentOnly} only archived, ${failed} failed${firstError === '' ? '' : ` (${firstError.slice(0, 160)})`}. Receipts, archive fetches prompted by the node's mail notices and bob's output all run meanwhile, as they do for real`
    })
    // flat: the mean RSS of the run's last sixth no more than 10% (and 8 MiB) above that of its
    // second sixth (the first sixth is warm-up: stores, caches and pools filling)
    const sixth = config.dmSeconds / 6
    const meanOver = (who: 'alice' | 'bob' | 'server', from: number, to: number): number => {
      const xs = samples.filter(x => x.at >= from && x.at < to).map(x => x[who])
      return xs.length === 0 ? NaN : xs.reduce((a, b) => a + b, 0) / xs.length
    }
    const mem = (who: 'alice' | 'bob' | 'server', label: string): void => {
      const early = meanOver(who, sixth, 2 * sixth)
      const late = meanOver(who, 5 * sixth, 6 * sixth)
      const growth = (late - early) / MiB
      const peak = Math.max(rssBefore[who], ...samples.map(x => x[who]))
      const judged = config.dmSeconds >= 60 && Number.isFinite(growth)
      report.add({
        id: `dm.rss.${who}`, group, label: `RSS growth of the ${label} under load, second to last sixth of ${config.dmSeconds} s`, value: growth, unit: 'MiB',
        target: 'flat over 1 minute (≤ 10% and ≤ 8 MiB)', pass: judged ? growth <= Math.min(8, 0.1 * early / MiB) : undefined,
        note: `mean RSS ${(early / MiB).toFixed(1)} MiB over ${sixth.toFixed(0)}–${(2 * sixth).toFixed(0)} s, ${(late / MiB).toFixed(1)} MiB over ${(5 * sixth).toFixed(0)}–${(6 * sixth).toFixed(0)} s; before the run ${(rssBefore[who] / MiB).toFixed(1)}, peak ${(peak / MiB).toFixed(1)}, after ${(rssAfter[who] / MiB).toFixed(1)} MiB${judged ? '' : ` (a ${config.dmSeconds} s run cannot judge 1 minute: BENCH_DM_SECONDS=60)`}`
      })
    }
    mem('alice', 'sender (bench process)')
    mem('bob', 'receiver (listen process)')
    mem('server', 'rendezvous node')
    await until(() => bobGot >= 100 + lat.n + acked, 10_000, 'bob to print every acked message').catch(() => {})
    report.facts.dmPrintedByBob = { printed: bobGot, acked: 100 + lat.n + acked }

    // one-shot `meshchat send` while bob listens
    const walls: number[] = []
    for (let i = 0; i < 3; i++) {
      const t = now()
      const res = await procs.run(['send', 'bob', `one-shot ${i}`, '--home', carolHome!], { env: { MESHCHAT_IP_COLOCATION_WHITELIST: '127.0.0.1' }, timeoutMs: 20_000 })
      if (res.code !== 0) throw new Error(`meshchat send exited ${res.code ?? res.signal}: ${res.stderr.slice(-300)}`)
      walls.push((now() - t) / 1000)
    }
    const wall = median(walls)
    report.add({ id: 'dm.oneshot', group, label: 'one-shot `meshchat send` wall time (median of 3)', value: wall, unit: 's', target: '≤ 1.2 s', pass: wall <= 1.2, note: `runs: ${walls.map(w => w.toFixed(2)).join(', ')} s; process start, imports, node start, catch-up, send, stop` })
  } finally {
    await alice?.stop().catch(() => {})
    await procs.stopAll()
  }
}
