/**
 * History: the first page of a long conversation in a device's own store (ClientStore, LevelDB),
 * and the full backfill of a sealed archive to a brand-new device through catchUp, with the
 * rendezvous node (`meshchat serve`) in its own process.
 */
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { MeshClient, LOOPBACK_GOSSIP, TEST_PASSWORD, TEST_SCRYPT } from '../src/testing/index.js'
import { History, Home, login } from '../src/client/index.js'
import { ClientStore, LevelRendezvousState } from '../src/store/index.js'
import { signEnvelope, seal, EnvelopeChain } from '../src/crypto/index.js'
import { MAX_ENVELOPE_BYTES, dmConversation, encodeFrame } from '../src/protocol/index.js'
import { processGroup, registerUser, startServer } from './cluster.js'
import { Deadline, cpuMsOf, now, summarize } from './stats.js'
import type { StoredMessage } from '../src/store/index.js'
import type { ProcessGroup } from '../src/testing/index.js'
import type { Report } from './report.js'
import type { BenchConfig } from './config.js'

const TEXT = 'x'.repeat(100)
const BATCH = 1_000

function id (i: number, salt: number): string {
  return (salt.toString(16).padStart(8, '0') + i.toString(16).padStart(24, '0')).slice(0, 32)
}

/** Writes `size` messages, alternating authors, in batches of 1,000; returns messages a second. */
async function seedStore (store: ClientStore, conv: string, peer: string, size: number, devices: { me: string, peer: string }, salt: number): Promise<number> {
  const base = Date.now() - size * 1000
  const seqs = { me: 0, peer: 0 }
  const t0 = now()
  for (let start = 0; start < size; start += BATCH) {
    const batch: StoredMessage[] = []
    for (let i = start; i < Math.min(size, start + BATCH); i++) {
      const mine = i % 2 === 0
      batch.push({
        id: id(i, salt), conv, author: mine ? 'alice' : peer, device: mine ? devices.me : devices.peer, sentAt: base + i * 1000,
        text: `${i} ${TEXT}`, receivedAt: base + i * 1000 + 5, n: mine ? ++seqs.me : ++seqs.peer, ...(mine ? { status: 'delivered' as const } : {})
      })
    }
    await store.addMessages(batch)
  }
  return size / ((now() - t0) / 1000)
}

async function pageTimes (fn: (i: number) => Promise<unknown>, count: number, ms: number): Promise<number[]> {
  const out: number[] = []
  const deadline = new Deadline(ms)
  for (let i = 0; i < count && !deadline.passed; i++) {
    const t = now()
    await fn(i)
    out.push(now() - t)
  }
  return out
}

async function firstPage (report: Report, config: BenchConfig, procs: ProcessGroup, group: string): Promise<void> {
  const dir = await procs.tempDir('bench-store')
  const size = config.historySize
  const devices = { me: peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString(), peer: peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString() }
  let store = await ClientStore.open(dir, 'alice')
  let seedRate: number
  try {
    seedRate = await seedStore(store, dmConversation('alice', 'bob'), 'bob', size, devices, 1)
    await seedStore(store, dmConversation('alice', 'carol'), 'carol', 1_000, devices, 2)
  } finally {
    await store.close()
  }
  const t0 = now()
  store = await ClientStore.open(dir, 'alice')
  const openMs = now() - t0
  try {
    const history = new History(store, 'alice', { sendReceipt: async () => {}, emit: () => {} })
    const tc = now()
    const cold = await history.page('bob')
    const coldMs = now() - tc
    if (cold.messages.length !== 10) throw new Error(`first page has ${cold.messages.length} messages, not 10`)
    const warm = summarize(await pageTimes(async () => await history.page('bob'), 500, 20_000))
    const small = summarize(await pageTimes(async () => await history.page('carol'), 500, 20_000))
    const deep = summarize(await pageTimes(async () => await history.page('bob', { before: id(Math.floor(Math.random() * size), 1) }), 300, 20_000))
    const big = size.toLocaleString('en-US')
    report.add({ id: 'history.page.cold', group, label: `first page (10) of a ${big}-message chat, store just opened`, value: coldMs, unit: 'ms', target: '≤ 5 ms whatever its size', pass: coldMs <= 5, note: `History.page (store page + gap check + events shape); opening the store took ${openMs.toFixed(1)} ms more; seeded with addMessages batches of ${BATCH} at ${Math.round(seedRate).toLocaleString('en-US')} msg/s` })
    report.add({ id: 'history.page.p50', group, label: 'first page, warm, p50', value: warm.p50, unit: 'ms', refs: ['history.page.small.p50'], target: '≤ 5 ms whatever its size', pass: warm.p50 <= 5, note: `${warm.n} reads; the reference is a 1,000-message chat in the same store` })
    report.add({ id: 'history.page.p99', group, label: 'first page, warm, p99', value: warm.p99, unit: 'ms', refs: ['history.page.small.p99'], target: '≤ 5 ms whatever its size', pass: warm.p99 <= 5 })
    report.add({ id: 'history.page.small.p50', group, label: 'first page of a 1,000-message chat, p50', value: small.p50, unit: 'ms' })
    report.add({ id: 'history.page.small.p99', group, label: 'first page of a 1,000-message chat, p99', value: small.p99, unit: 'ms' })
    report.add({ id: 'history.page.deep.p50', group, label: 'a page at a random position, p50', value: deep.p50, unit: 'ms', refs: ['history.page.p50'], note: `${deep.n} reads of 10 messages before a random message of the ${big}` })
    report.add({ id: 'history.page.deep.p99', group, label: 'a page at a random position, p99', value: deep.p99, unit: 'ms', refs: ['history.page.p99'] })

    // one message at a time, as a device stores each DM it sends or receives (a floor for DM throughput)
    const single: number[] = []
    const conv = dmConversation('alice', 'dave')
    const base = Date.now()
    const ts = now()
    await Promise.all(Array.from({ length: 16 }, async (_v, w) => {
      for (let i = w; i < 2_000 && now() - ts < 20_000; i += 16) {
        const t = now()
        await store.addMessages([{ id: id(i, 3), conv, author: 'dave', device: devices.peer, sentAt: base + i, text: TEXT, receivedAt: base + i, n: i + 1 }])
        single.push(now() - t)
      }
    }))
    const singleRate = single.length / ((now() - ts) / 1000)
    report.add({ id: 'history.store.single', group, label: 'ClientStore: one-message writes/s, 16 at once', value: singleRate, unit: 'msg/s', note: `${single.length} addMessages([one]) calls; the store serialises its read-then-write transactions, so 16 callers queue (p50 ${summarize(single).p50.toFixed(2)} ms each in the queue). Every DM is written this way at both ends, and once more (found and skipped) when its archive copy arrives` })
  } finally {
    await store.close()
  }
}

async function backfill (report: Report, config: BenchConfig, procs: ProcessGroup, group: string): Promise<void> {
  const size = config.backfillSize
  let server = await startServer(procs)
  const aliceHome = new Home(await registerUser(procs, server, 'alice'))
  const bobHome = new Home(await registerUser(procs, server, 'bob'))
  const key = await aliceHome.deviceKey()
  const cert = (await aliceHome.requireLogin()).cert
  const bobKey = (await bobHome.readAccountKey())!.publicKey
  // sealed as a device seals: with its account as the sender (one ephemeral key for many items)
  const aliceAccount = (await aliceHome.readAccountKey())!.publicKey

  // seed the node's archive directly, while it is stopped: envelopes signed by alice's real
  // device and sealed to bob's account key, exactly what sendDirect leaves there
  await server.kill('SIGTERM')
  const state = await LevelRendezvousState.open(join(server.dataDir, 'db'))
  const conv = dmConversation('alice', 'bob')
  const base = Date.now() - size
  // direct messages need an accepted chat: alice's request and bob's acceptance, sent before the
  // chat began, come first in bob's archive, as they would have
  const asked = await signEnvelope(key, cert, { conv, kind: 'request', body: {}, sentAt: base - 2 })
  const accepted = await signEnvelope(await bobHome.deviceKey(), (await bobHome.requireLogin()).cert, { conv, kind: 'accept', body: {}, sentAt: base - 1 })
  const controls = [
    { to: 'bob', from: 'alice', sealed: seal(bobKey, encodeFrame(asked, MAX_ENVELOPE_BYTES), aliceAccount), at: Date.now() },
    { to: 'bob', from: 'bob', sealed: seal(bobKey, encodeFrame(accepted, MAX_ENVELOPE_BYTES), bobKey), at: Date.now() }
  ]
  // numbered and chained as MeshClient.sendDirect signs them (each carries its predecessor's hash)
  const chain = new EnvelopeChain()
  let t0 = now()
  try {
    await state.appendArchive(controls)
    t0 = now()
    for (let start = 0; start < size; start += BATCH) {
      const items = []
      for (let i = start; i < Math.min(size, start + BATCH); i++) {
        const env = await signEnvelope(key, cert, { conv, kind: 'text', body: { text: `${i} ${TEXT}` }, n: i + 1, sentAt: base + i }, { chain })
        items.push({ to: 'bob', from: 'alice', sealed: seal(bobKey, encodeFrame(env, MAX_ENVELOPE_BYTES), aliceAccount), at: Date.now() })
      }
      await state.appendArchive(items)
    }
  } finally {
    await state.close()
  }
  const seedRate = size / ((now() - t0) / 1000)
  server = await startServer(procs, { dataDir: server.dataDir, port: server.port })

  // a brand-new device of bob: log in, then catch up from nothing
  const home = await procs.tempDir('bench-bob-new')
  await login({ home, server: server.address, user: 'bob', password: TEST_PASSWORD, wrapScrypt: TEST_SCRYPT }, { signal: AbortSignal.timeout(30_000) })
  const client = new MeshClient({ home, listen: ['/ip4/127.0.0.1/tcp/0'], gossip: LOOPBACK_GOSSIP, session: false })
  try {
    await client.start({ signal: AbortSignal.timeout(30_000) })
    const cpu0 = { client: cpuMsOf(), node: cpuMsOf(server.proc.pid!) }
    const t = now()
    await client.catchUp({ signal: AbortSignal.timeout(120_000) })
    const secs = (now() - t) / 1000
    const cpu = { client: cpuMsOf() - cpu0.client, node: cpuMsOf(server.proc.pid!) - cpu0.node }
    const got = (await client.history.conversations()).find(c => c.target === 'alice')?.count ?? 0
    if (got !== size) throw new Error(`backfill stored ${got} of ${size} messages`)
    const n = size.toLocaleString('en-US')
    report.add({ id: 'history.backfill.rate', group, label: `backfill of a ${n}-message archive to a new device`, value: size / secs, unit: 'msg/s', target: '100k in ≤ 10 s', pass: size >= 100_000 ? secs <= 10 : undefined, note: `catchUp(): pages of up to 500, the next asked for at once; three pages in hand (one stored in one batch while two are opened in worker threads and checked: the archive's messages are chained as a device signs them, so a page's run of them costs one signature check and a hash each); delivered receipts go out meanwhile. CPU: this device ${(cpu.client / 1000).toFixed(1)} s (main thread and workers), the node ${(cpu.node / 1000).toFixed(1)} s. ${n} messages measured, nothing extrapolated; archive seeded at ${Math.round(seedRate).toLocaleString('en-US')} msg/s (sign + seal + appendArchive)` })
    report.add({ id: 'history.backfill.seconds', group, label: `backfill time, ${n} messages`, value: secs, unit: 's' })
  } finally {
    await client.stop().catch(() => {})
  }
}

export async function historyBench (report: Report, config: BenchConfig): Promise<void> {
  const group = 'history'
  const procs = processGroup()
  try {
    await firstPage(report, config, procs, group)
    await backfill(report, config, procs, group)
  } finally {
    await procs.stopAll()
  }
}
