/**
 * Issue 9, people who are offline: a file offered to someone with no device online waits for
 * them at the rendezvous node, sealed to their account key (never in clear on the node's disk),
 * within their quota; the upload survives a restart of the sender; the recipient fetches it when
 * back and the node's copy goes. Also the auto-get setting (contacts' offers fetched without
 * being asked) and downloads that wait for a direct connection, retried when one appears.
 * Real rendezvous node and clients (Harness), temp folders, no fixed sleeps.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { readdirSync } from 'node:fs'
import { readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import { Harness, EventLog, eventually } from '../../src/testing/index.js'
import { MIN_CHUNK_SIZE } from '../../src/protocol/index.js'
import { FILE_STORE_WINDOW, listSealed } from '../../src/client/file-archive.js'
import { autoGetCandidate, AUTO_GET_MAX_AGE_MS } from '../../src/client/index.js'
import type { MeshClient } from '../../src/client/index.js'

const KiB = 1024
const MiB = 1024 * KiB
const MARKER = 'MESHCHAT-OFFLINE-PLAINTEXT-MARKER-41c9'

/** A file of `size` bytes that repeats a known marker (to look for on the node's disk). */
function fileOf (size: number, seed = 0): Buffer {
  const text = Buffer.from(`${MARKER} ${seed} `)
  const out = Buffer.alloc(size)
  for (let at = 0; at < size; at += text.length) text.copy(out, at, 0, Math.min(text.length, size - at))
  return out
}

function sha256 (bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

/** Every file under `dir`, recursively. */
async function filesUnder (dir: string): Promise<string[]> {
  const out: string[] = []
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) out.push(...await filesUnder(path))
    else if (entry.isFile()) out.push(path)
  }
  return out
}

/** Fails when any file under `dir` holds `data`'s marker or its first bytes. */
async function assertNoPlaintext (dir: string, data: Buffer): Promise<void> {
  for (const f of await filesUnder(dir)) {
    if ((await stat(f)).isSocket()) continue
    const bytes = await readFile(f).catch(() => Buffer.alloc(0))
    assert.equal(bytes.includes(MARKER), false, `${f} holds the plaintext`)
    assert.equal(bytes.includes(data.subarray(0, 64)), false, `${f} holds the plaintext`)
  }
}

/** Files in the download folder that look received (not the hidden partial and shared folders). */
function visible (home: string): string[] {
  try {
    return readdirSync(join(home, 'files')).filter(n => !n.startsWith('.'))
  } catch {
    return []
  }
}

async function offline (watcher: MeshClient, user: string): Promise<void> {
  await eventually(async () => (await watcher.users()).find(u => u.user === user)?.online === false, 10_000, `${user} offline at ${watcher.user}`)
}

async function offerKnown (client: MeshClient, id: string): Promise<void> {
  await eventually(async () => (await client.files()).some(f => f.id === id), 15_000, `offer ${id} at ${client.user}`)
}

describe('files: to someone offline, auto-get, retries', function () {
  this.timeout(180_000)
  let h: Harness
  let dir: string
  afterEach(async () => { await h.stop() })

  async function start (init: ConstructorParameters<typeof Harness>[0] = {}): Promise<void> {
    h = new Harness(init)
    await h.startRendezvous()
    dir = await h.tempDir('files-offline')
  }

  /** alice (small chunks) and bob, chatting; bob's device stopped. Returns bob's home. */
  async function bobAway (): Promise<{ alice: MeshClient, bobHome: string }> {
    const alice = await h.client('alice', { init: { files: { chunkSize: MIN_CHUNK_SIZE } } })
    const bob = await h.client('bob')
    await h.connect(alice, bob)
    const bobHome = bob.home.dir
    await bob.stop()
    await offline(alice, 'bob')
    return { alice, bobHome }
  }

  it('an offline recipient fetches later from the node: never in clear there, nothing looks received before it is verified, the copy goes after', async () => {
    await start()
    const { alice, bobHome } = await bobAway()
    const data = fileOf(2 * MiB + 777)
    const path = join(dir, 'for bob.bin')
    await writeFile(path, data)
    const aliceLog = new EventLog(alice)

    const sent = await alice.sendFile('bob', path)
    assert.equal(sent.status, 'sent')
    assert.deepEqual(sent.deliveredTo, [])
    assert.ok(sent.sealed != null && ['uploading', 'stored'].includes(sent.sealed.state), JSON.stringify(sent.sealed))
    assert.equal(sent.sealed.to, 'bob')
    // a running device uploads in the background; the file list and events follow it
    await eventually(async () => (await alice.files()).find(f => f.id === sent.id)?.sealed?.state === 'stored', 30_000, 'the copy stored at the node')
    const entry = (await alice.files()).find(f => f.id === sent.id)
    assert.deepEqual(entry?.sealed, { to: 'bob', state: 'stored', bytes: data.length })
    assert.equal(entry?.state, 'shared')
    await aliceLog.waitFor(e => e.type === 'file' && e.file.id === sent.id && e.file.sealed?.state === 'stored', 5_000, 'a file event with the stored copy')
    // while it went up, the sender's card had it as a transfer to the node for bob; once stored, no more
    const events = aliceLog.events.flatMap(e => e.type === 'file' && e.file.id === sent.id ? [e.file] : [])
    const up = events.flatMap(f => f.serving ?? [])
    assert.ok(up.length > 0 && up.every(s => s.to === 'bob' && s.via === 'node' && s.total === data.length && s.bytes <= data.length), JSON.stringify(up))
    assert.equal(events.find(f => f.sealed?.state === 'stored')?.serving, undefined)
    assert.equal(entry?.serving, undefined)
    assert.equal(alice.fileList.stats.uploaded.get(sent.offer.sha256), sent.offer.chunks, 'every chunk went once')
    // the node holds it sealed, within bob's quota, never in clear
    assert.ok((await h.rendezvous!.store.files.usage('bob')).inbound > data.length)
    assert.ok((await filesUnder(join(h.rendezvousDataDir, 'files', 'bob'))).length > 0)
    await assertNoPlaintext(h.rendezvousDataDir, data)

    // alice leaves; bob comes back and fetches it from the node
    await alice.stop()
    const bob = await h.startClient(bobHome, true, { files: { autoGet: 'none' } })
    await offerKnown(bob, sent.id)
    await offline(bob, 'alice')
    const seen: string[][] = []
    const got = await bob.getFile(sent.id, { onProgress: () => { seen.push(visible(bobHome)) } })
    assert.ok(seen.length > 0)
    assert.ok(seen.every(names => names.length === 0), `something looked received before it was verified: ${JSON.stringify(seen.find(n => n.length > 0))}`)
    assert.equal(got.path, join(bobHome, 'files', 'for bob.bin'))
    assert.ok((await readFile(got.path)).equals(data))
    assert.equal(bob.fileList.stats.received.get(sent.offer.sha256), sent.offer.chunks)
    assert.deepEqual(visible(bobHome), ['for bob.bin'])

    // fetched and verified: the node's copy is gone, bob's quota free again
    const login = await bob.home.requireLogin()
    assert.deepEqual(await listSealed(bob.libp2p, peerIdFromString(h.rendezvous!.peerId), login.cert), [])
    assert.deepEqual(await h.rendezvous!.store.files.usage('bob'), { inbound: 0, files: 0, outbound: 0 })
    assert.deepEqual(await filesUnder(join(h.rendezvousDataDir, 'files', 'bob')), [])
    // alice's device, back, learns from the node that the copy is gone
    const aliceHome = alice.home.dir
    const alice2 = await h.startClient(aliceHome)
    await eventually(async () => (await alice2.files()).find(f => f.id === sent.id)?.sealed == null, 10_000, 'the stored copy forgotten at alice')
  })

  it('over the recipient\'s quota: a clear error at send-file, nothing counted at the node, and the offer stands for a direct transfer', async () => {
    await start({ rendezvous: { fileQuotaBytes: 300 * KiB } })
    const { alice, bobHome } = await bobAway()
    const data = fileOf(400 * KiB, 1)
    const path = join(dir, 'too much.bin')
    await writeFile(path, data)
    await assert.rejects(alice.sendFile('bob', path), (err: Error) => {
      assert.equal(err.name, 'QuotaExceededError')
      assert.match(err.message, /^bob is offline and too much\.bin cannot wait for them at the rendezvous node: .*quota.*The offer stands: bob can fetch it from this device when both are online \(file id [0-9a-f]{32}\)$/s)
      return true
    })
    assert.deepEqual(await h.rendezvous!.store.files.usage('bob'), { inbound: 0, files: 0, outbound: 0 })
    assert.deepEqual(await h.rendezvous!.store.files.usage('alice'), { inbound: 0, files: 0, outbound: 0 })
    assert.deepEqual(await filesUnder(join(h.rendezvousDataDir, 'files')), [])
    const [entry] = await alice.files()
    assert.equal(entry?.state, 'shared')
    assert.equal(entry?.sealed?.state, 'failed')
    assert.equal(entry?.sealed?.error?.name, 'QuotaExceededError')

    // bob comes back while alice runs: the offer is there, and the bytes come from alice's device
    const bob = await h.startClient(bobHome, true, { files: { autoGet: 'none' } })
    await offerKnown(bob, entry.id)
    const got = await bob.getFile(entry.id)
    assert.ok((await readFile(got.path)).equals(data))
  })

  it('a sender stopped mid-upload goes on when it starts again: at most the parts in flight go twice', async () => {
    await start()
    const { alice, bobHome } = await bobAway()
    const data = fileOf(400 * MIN_CHUNK_SIZE + 5, 2)
    const path = join(dir, 'long.bin')
    await writeFile(path, data)
    const sent = await alice.sendFile('bob', path)
    const sha = sent.offer.sha256
    await eventually(() => (alice.fileList.stats.uploaded.get(sha) ?? 0) >= 40, 30_000, 'part of the upload')
    const aliceHome = alice.home.dir
    await alice.stop()
    const before = alice.fileList.stats.uploaded.get(sha) ?? 0
    assert.ok(before < sent.offer.chunks, `the upload was cut (${before} of ${sent.offer.chunks} chunks sent)`)

    const alice2 = await h.startClient(aliceHome, true, { files: { chunkSize: MIN_CHUNK_SIZE } })
    await eventually(async () => (await alice2.files()).find(f => f.id === sent.id)?.sealed?.state === 'stored', 60_000, 'the upload finished after the restart')
    const after = alice2.fileList.stats.uploaded.get(sha) ?? 0
    assert.ok(after > 0 && after < sent.offer.chunks, `resumed, not begun again (${after} chunks after the restart)`)
    assert.ok(before + after <= sent.offer.chunks + FILE_STORE_WINDOW, `${before} + ${after} chunk puts for ${sent.offer.chunks} chunks`)
    await assertNoPlaintext(h.rendezvousDataDir, data)

    // bob fetches it from the node, every byte right
    await alice2.stop()
    const bob = await h.startClient(bobHome, true, { files: { autoGet: 'none' } })
    await offerKnown(bob, sent.id)
    await offline(bob, 'alice')
    const got = await bob.getFile(sent.id)
    assert.ok((await readFile(got.path)).equals(data))
    assert.deepEqual(await h.rendezvous!.store.files.usage('bob'), { inbound: 0, files: 0, outbound: 0 })
  })

  it('the recipient\'s other device fetches from the first one once the node\'s copy is gone; the sender\'s devices never need the copy', async () => {
    await start()
    const { alice, bobHome } = await bobAway()
    const bobHome2 = await h.tempDir('home-bob-2')
    const bob2 = await h.client('bob', { existing: true, home: bobHome2 })
    await bob2.stop()
    await offline(alice, 'bob')
    const data = fileOf(MiB + 3, 3)
    const path = join(dir, 'twice.bin')
    await writeFile(path, data)
    const sent = await alice.sendFile('bob', path)
    await eventually(async () => (await alice.files()).find(f => f.id === sent.id)?.sealed?.state === 'stored', 30_000, 'the copy stored at the node')
    await alice.stop()

    const bob = await h.startClient(bobHome, true, { files: { autoGet: 'none' } })
    await offerKnown(bob, sent.id)
    await offline(bob, 'alice')
    await bob.getFile(sent.id)
    assert.deepEqual(await h.rendezvous!.store.files.usage('bob'), { inbound: 0, files: 0, outbound: 0 })
    const again = await h.startClient(bobHome2, true, { files: { autoGet: 'none' } })
    await offerKnown(again, sent.id)
    const got = await again.getFile(sent.id)
    assert.ok((await readFile(got.path)).equals(data))
    assert.equal(bob.fileList.stats.served.get(sent.offer.sha256), sent.offer.chunks, 'bob\'s first device served it')
  })

  it('auto-get: a contact\'s offers are fetched without being asked, one at a time, up to a size; a stranger\'s are not', async () => {
    await start()
    const alice = await h.client('alice', { init: { files: { chunkSize: MIN_CHUNK_SIZE } } })
    const carol = await h.client('carol')
    const bob = await h.client('bob', { init: { files: { autoGetMax: MiB } } })
    await h.connect(alice, bob)
    await h.connect(carol, bob)
    await bob.addContact('alice')
    let seed = 10
    const send = async (from: MeshClient, name: string, size: number): Promise<string> => {
      const path = join(dir, name)
      await writeFile(path, fileOf(size, seed++))
      const sent = await from.sendFile('bob', path)
      await offerKnown(bob, sent.id)
      return sent.id
    }
    const state = async (id: string): Promise<string | undefined> => (await bob.files()).find(f => f.id === id)?.state

    const first = await send(alice, 'from alice.txt', 1000)
    await eventually(async () => await state(first) === 'done', 15_000, 'alice\'s file fetched by itself')
    assert.deepEqual(visible(bob.home.dir), ['from alice.txt'])
    const stranger = await send(carol, 'from carol.txt', 1000)
    const big = await send(alice, 'too big.bin', MiB + 1)
    const several = [await send(alice, 'b1.bin', 300 * KiB), await send(alice, 'b2.bin', 300 * KiB), await send(alice, 'b3.bin', 300 * KiB)]
    for (const id of several) await eventually(async () => await state(id) === 'done', 15_000, `${id} fetched by itself`)
    // by now bob's device has long decided on carol's offer and the big one (events come in order)
    assert.equal(await state(stranger), 'offered')
    assert.equal(await state(big), 'offered')
    assert.equal(bob.fileList.autoFetches, 4)
    // one automatic fetch at a time per sender: each began after the one before was done
    const offers = await bob.files()
    const transfers = await Promise.all(several.map(async id => await bob.fileList.transfer(id)))
    const order = transfers.map(t => t!).sort((a, b) => a.startedAt - b.startedAt)
    for (let i = 1; i < order.length; i++) assert.ok(order[i]!.startedAt >= order[i - 1]!.updatedAt, `${order[i]!.name} began while ${order[i - 1]!.name} was moving`)
    assert.ok(offers.filter(f => f.state === 'done').every(f => f.from === 'alice'))
  })

  it('auto-get decides by setting, size and age', () => {
    const now = Date.now()
    const m = { from: 'alice', sentAt: now, file: { name: 'a', size: 10, sha256: 'a'.repeat(64), chunkSize: MIN_CHUNK_SIZE, chunks: 1, manifest: 'b'.repeat(64) } }
    assert.equal(autoGetCandidate(m, 'contacts', 100, 'bob', now), true)
    assert.equal(autoGetCandidate(m, 'all', 100, 'bob', now), true)
    assert.equal(autoGetCandidate(m, 'none', 100, 'bob', now), false)
    assert.equal(autoGetCandidate(m, 'all', 9, 'bob', now), false, 'over the size')
    assert.equal(autoGetCandidate(m, 'all', 100, 'alice', now), false, 'this account\'s own offer')
    assert.equal(autoGetCandidate({ ...m, sentAt: now - AUTO_GET_MAX_AGE_MS - 1 }, 'all', 100, 'bob', now), false, 'too old')
    assert.equal(autoGetCandidate({ from: 'alice', sentAt: now }, 'all', 100, 'bob', now), false, 'not a file')
  })

  it('a download waiting for a direct connection goes by itself once one appears', async () => {
    await start()
    // alice's device listens on nothing but its relay slot at the rendezvous node, and dials no one
    const alice = await h.client('alice', { init: { listen: [], relay: 'always', peerDials: 0 } })
    const bob = await h.client('bob', { init: { files: { attempts: 1, autoGet: 'none' } } })
    await eventually(async () => (await bob.users()).find(u => u.user === 'alice')?.devices[0]?.addrs.some(a => a.includes('/p2p-circuit')) === true, 20_000, 'alice reachable through the relay')
    await h.connect(alice, bob)
    const path = join(dir, 'direct only.bin')
    await writeFile(path, fileOf(200 * KiB, 4))
    const sent = await alice.sendFile('bob', path)
    await offerKnown(bob, sent.id)
    const alicePeer = peerIdFromString(alice.peerId)
    // hole punching may have made a direct connection already: close it, so the file must wait
    await Promise.all(bob.libp2p.getConnections(alicePeer).filter(c => !c.remoteAddr.toString().includes('/p2p-circuit')).map(async c => { await c.close() }))
    const first = await bob.getFile(sent.id).then(() => 'done', (e: Error) => e.name)
    if (first === 'done') {
      console.log('      (a direct connection came before the file could wait: the retry was not exercised)')
      return
    }
    assert.equal(first, 'RelayOnlyError')
    assert.equal((await bob.files()).find(f => f.id === sent.id)?.state, 'waiting-direct')
    // a direct connection appears (alice dials bob's own address): bob's device tries again by itself
    const bobAddr = bob.libp2p.getMultiaddrs().find(a => a.toString().startsWith('/ip4/127.0.0.1/tcp/') && !a.toString().includes('/p2p-circuit'))
    assert.ok(bobAddr != null)
    await alice.libp2p.dial(multiaddr(bobAddr.toString()))
    await eventually(async () => (await bob.files()).find(f => f.id === sent.id)?.state === 'done', 20_000, 'the file fetched by itself over the direct connection')
    assert.equal(sha256(await readFile(join(bob.home.dir, 'files', 'direct only.bin'))), sent.offer.sha256)
  })
})
