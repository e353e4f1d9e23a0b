/**
 * Issue 9, device to device: file offers as messages, bytes over FILE_PROTOCOL in verified
 * chunks, resume after a cut on either side, hostile chunks refused, limits, relay policy.
 * Real rendezvous node and clients (Harness), temp folders, no fixed sleeps.
 */
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdir, open, readFile, readdir, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { lpStream } from '@libp2p/utils'
import { peerIdFromString } from '@libp2p/peer-id'
import { Harness, EventLog, eventually } from '../../src/testing/index.js'
import {
  FILE_PROTOCOL, FILE_FRAME_DATA, MIN_CHUNK_SIZE, encodeFrame, decodeFrame, fileRequest, fileAnswer, chunkLength, fileOffer
} from '../../src/protocol/index.js'
import { choosePath } from '../../src/client/file-transfer.js'
import type { ClientEvent, MeshClient } from '../../src/client/index.js'
import type { FileOffer } from '../../src/protocol/index.js'

const MiB = 1024 * 1024

/** Unsigned LEB128, the length prefix of length-prefixed frames. */
function varint (n: number): Uint8Array {
  const out: number[] = []
  let v = n
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80)
    v = Math.floor(v / 0x80)
  }
  out.push(v)
  return new Uint8Array(out)
}

/** Writes `size` random bytes to `path`, 1 MiB at a time. */
async function makeFile (path: string, size: number): Promise<void> {
  const fd = await open(path, 'w')
  try {
    for (let at = 0; at < size; at += MiB) await fd.write(randomBytes(Math.min(MiB, size - at)))
  } finally {
    await fd.close()
  }
}

async function sha256Of (path: string): Promise<string> {
  const h = createHash('sha256')
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer)
  return h.digest('hex')
}

const isOffer = (name: string) => (e: ClientEvent): boolean => e.type === 'message' && e.message.file?.name === name

/** The offer message's id once `client` has it. */
async function offerAt (log: EventLog, name: string, timeoutMs = 10_000): Promise<{ id: string, offer: FileOffer }> {
  const ev = await log.waitFor(isOffer(name), timeoutMs, `the offer of ${name}`)
  if (ev.type !== 'message' || ev.message.file == null) throw new Error('not an offer')
  return { id: ev.message.id, offer: ev.message.file }
}

describe('files: device to device', function () {
  this.timeout(120_000)
  let h: Harness
  let dir: string
  beforeEach(async () => {
    h = new Harness()
    await h.startRendezvous()
    dir = await h.tempDir('files')
  })
  afterEach(async () => { await h.stop() })

  async function pair (): Promise<[MeshClient, MeshClient, EventLog]> {
    const [alice, bob] = await h.clientsFor(['alice', 'bob'])
    await h.connect(alice!, bob!)
    return [alice!, bob!, new EventLog(bob!)]
  }

  it('sends small, empty and multi-chunk files: same bytes, same sha256, shown as messages', async () => {
    const [alice, bob, bobLog] = await pair()
    const files: Array<[string, number]> = [['hello.txt', 11], ['empty.bin', 0], ['multi chunk.bin', 3 * MiB + 12345], ['exact.bin', 2 * MiB]]
    for (const [name, size] of files) {
      const path = join(dir, name)
      await makeFile(path, size)
      const sent = await alice.sendFile('bob', path)
      assert.equal(sent.offer.size, size)
      assert.equal(sent.offer.sha256, await sha256Of(path))
      assert.equal(sent.offer.chunks, Math.ceil(size / sent.offer.chunkSize))
      const { id, offer } = await offerAt(bobLog, name)
      assert.equal(id, sent.id)
      assert.deepEqual(offer, sent.offer)
      const got = await bob.getFile(id)
      assert.equal(got.size, size)
      assert.equal(got.already, false)
      assert.equal(got.path, join(bob.home.dir, 'files', name))
      assert.equal(await sha256Of(got.path), sent.offer.sha256)
      assert.ok((await readFile(got.path)).equals(await readFile(path)), `${name}: bytes equal`)
    }
    // offers are messages: in history with a describing text, and listed with their state
    const page = await bob.history.page('alice', { limit: 10 })
    assert.deepEqual(page.messages.filter(m => m.file != null).map(m => m.text), ['📎 hello.txt (11 B)', '📎 empty.bin (0 B)', '📎 multi chunk.bin (3.0 MiB)', '📎 exact.bin (2.0 MiB)'])
    const list = await bob.files()
    assert.equal(list.length, 4)
    assert.ok(list.every(f => f.state === 'done' && f.direction === 'in' && f.from === 'alice' && f.bytes === f.size))
    const out = await alice.files()
    assert.ok(out.every(f => f.state === 'shared' && f.direction === 'out' && f.target === 'bob'))
    // asked again: it is here already, nothing moves
    const again = await bob.getFile(list[0]!.id)
    assert.equal(again.already, true)
    // the UI follows transfers through events: progress, then done
    const fileEvents = bobLog.events.flatMap(e => e.type === 'file' && e.file.name === 'multi chunk.bin' ? [e.file] : [])
    assert.ok(fileEvents.some(f => f.state === 'downloading'), 'a downloading event')
    assert.equal(fileEvents.at(-1)?.state, 'done')
    assert.equal(fileEvents.at(-1)?.bytes, 3 * MiB + 12345)
  })

  it('the sender follows a file it serves: file events with growing sent bytes while bob fetches it, then "sent to bob"', async () => {
    const alice = await h.client('alice', { init: { files: { chunkSize: MIN_CHUNK_SIZE } } })
    const bob = await h.client('bob')
    await h.connect(alice, bob)
    const aliceLog = new EventLog(alice)
    const bobLog = new EventLog(bob)
    const path = join(dir, 'served.bin')
    const size = 4 * MiB + 777
    await makeFile(path, size)
    const sent = await alice.sendFile('bob', path)
    assert.ok(sent.offer.chunks > 60, `${sent.offer.chunks} chunks`)
    const { id } = await offerAt(bobLog, 'served.bin')
    const before = (await alice.files()).find(f => f.id === id)
    assert.equal(before?.serving, undefined, 'nothing moves before bob asks')
    assert.equal(before?.sentTo, undefined)
    await bob.getFile(id)
    const mine = (e: ClientEvent): boolean => e.type === 'file' && e.file.id === id
    // the last event says it went to bob, and no transfer of it runs any more
    await eventually(() => {
      const last = aliceLog.events.filter(mine).at(-1)
      return last?.type === 'file' && last.file.serving == null && last.file.sentTo?.[0] === 'bob'
    }, 10_000, 'the final "sent to bob" event')
    const entries = aliceLog.events.flatMap(e => e.type === 'file' && e.file.id === id ? [e.file] : [])
    const moving = entries.flatMap(f => f.serving ?? [])
    assert.ok(moving.length >= 2, `${moving.length} events while it moved`)
    assert.ok(moving.every(s => s.to === 'bob' && s.via === 'device' && s.total === size))
    for (let i = 1; i < moving.length; i++) assert.ok(moving[i]!.bytes >= moving[i - 1]!.bytes, 'sent bytes only grow')
    assert.ok(moving[0]!.bytes < size, 'the first event is from before the end')
    assert.equal(moving.at(-1)!.bytes, size, 'the last one while it moved counts every byte')
    const final = entries.at(-1)!
    assert.equal(final.direction, 'out')
    assert.equal(final.state, 'shared')
    assert.deepEqual(final.sentTo, ['bob'])
    // the list says the same
    const listed = (await alice.files()).find(f => f.id === id)
    assert.equal(listed?.serving, undefined)
    assert.deepEqual(listed?.sentTo, ['bob'])
  })

  it('never overwrites a file in the download folder, and puts a file where it is told', async () => {
    const [alice, bob, bobLog] = await pair()
    const path = join(dir, 'notes.txt')
    await writeFile(path, 'first version')
    await mkdir(join(bob.home.dir, 'files'), { recursive: true })
    await writeFile(join(bob.home.dir, 'files', 'notes.txt'), 'bob\'s own notes')
    await alice.sendFile('bob', path)
    const got = await bob.getFile((await offerAt(bobLog, 'notes.txt')).id)
    assert.equal(got.path, join(bob.home.dir, 'files', 'notes (1).txt'))
    assert.equal(await readFile(join(bob.home.dir, 'files', 'notes.txt'), 'utf8'), 'bob\'s own notes')
    assert.equal(await readFile(got.path, 'utf8'), 'first version')
    // into another folder
    const other = join(dir, 'elsewhere')
    await writeFile(path, 'second version')
    const sent = await alice.sendFile('bob', path)
    await eventually(async () => (await bob.files()).some(f => f.id === sent.id), 10_000, 'the second offer at bob')
    const second = await bob.getFile(sent.id, { to: other })
    assert.equal(second.path, join(other, 'notes.txt'))
    assert.equal(await readFile(second.path, 'utf8'), 'second version')
  })

  it('moves a 256 MiB file with memory flat (RSS and heap growth well under 64 MiB)', async function () {
    this.timeout(300_000)
    const [alice, bob, bobLog] = await pair()
    const size = 256 * MiB
    const path = join(dir, 'big.bin')
    await makeFile(path, size)
    const sent = await alice.sendFile('bob', path)
    const { id } = await offerAt(bobLog, 'big.bin')
    const base = process.memoryUsage()
    let maxRss = base.rss
    let maxHeap = base.heapUsed + base.external
    let samples = 0
    const timer = setInterval(() => {
      const m = process.memoryUsage()
      maxRss = Math.max(maxRss, m.rss)
      maxHeap = Math.max(maxHeap, m.heapUsed + m.external)
      samples++
    }, 25)
    let got
    try {
      got = await bob.getFile(id)
    } finally {
      clearInterval(timer)
    }
    assert.equal(await sha256Of(got.path), sent.offer.sha256)
    assert.equal((await stat(got.path)).size, size)
    const rssGrowth = (maxRss - base.rss) / MiB
    const heapGrowth = (maxHeap - base.heapUsed - base.external) / MiB
    console.log(`      256 MiB: ${samples} samples, RSS +${rssGrowth.toFixed(1)} MiB, heap+external +${heapGrowth.toFixed(1)} MiB`)
    assert.ok(samples > 10, 'memory was sampled during the transfer')
    assert.ok(rssGrowth < 64, `RSS grew ${rssGrowth.toFixed(1)} MiB`)
    assert.ok(heapGrowth < 64, `heap + external grew ${heapGrowth.toFixed(1)} MiB`)
  })

  /** alice offers a 16 MiB file in 64 KiB chunks (256 of them) to bob. */
  async function cutSetup (): Promise<{ alice: MeshClient, bob: MeshClient, id: string, offer: FileOffer, path: string }> {
    const files = { chunkSize: MIN_CHUNK_SIZE, attempts: 2 }
    const alice = await h.client('alice', { init: { files } })
    const bob = await h.client('bob', { init: { files } })
    await h.connect(alice, bob)
    const log = new EventLog(bob)
    const path = join(dir, 'cut.bin')
    await makeFile(path, 16 * MiB)
    const sent = await alice.sendFile('bob', path)
    assert.equal(sent.offer.chunks, 256)
    const { id } = await offerAt(log, 'cut.bin')
    return { alice, bob, id, offer: sent.offer, path }
  }

  it('resumes a transfer cut half-way on the sender side: at most one chunk is sent twice', async () => {
    const { alice, bob, id, offer } = await cutSetup()
    const first = bob.getFile(id)
    first.catch(() => {})
    await eventually(() => (bob.fileList.stats.received.get(offer.sha256) ?? 0) >= 100, 60_000, 'half the chunks at bob')
    const aliceHome = alice.home.dir
    await alice.stop()
    await assert.rejects(first, (e: Error) => e.name === 'OfflineError' && /paused at \d+%/.test(e.message))
    const servedBefore = alice.fileList.stats.served.get(offer.sha256) ?? 0
    const cut = await bob.fileList.transfer(id)
    assert.ok(cut != null && cut.done > 0 && cut.done < offer.chunks, `cut at ${cut?.done}`)
    assert.equal((await bob.files()).find(f => f.id === id)?.state, 'paused')
    assert.ok(!(await readdir(join(bob.home.dir, 'files'))).includes('cut.bin'), 'no file looks received')

    const alice2 = await h.startClient(aliceHome, true, { files: { chunkSize: MIN_CHUNK_SIZE } })
    const got = await bob.getFile(id)
    assert.equal(got.resumedFrom, cut.done * MIN_CHUNK_SIZE)
    assert.equal(await sha256Of(got.path), offer.sha256)
    const servedAfter = alice2.fileList.stats.served.get(offer.sha256) ?? 0
    assert.equal(servedAfter, offer.chunks - cut.done, 'the restarted sender sent only what was missing')
    assert.ok(servedBefore + servedAfter <= offer.chunks + 1, `served ${servedBefore} + ${servedAfter} for ${offer.chunks} chunks`)
    const received = bob.fileList.stats.received.get(offer.sha256) ?? 0
    assert.equal(received, offer.chunks, 'every chunk stored once')
  })

  it('resumes a transfer cut half-way on the receiver side: at most one chunk is sent twice', async () => {
    const { alice, bob, id, offer } = await cutSetup()
    const first = bob.getFile(id)
    first.catch(() => {})
    await eventually(() => (bob.fileList.stats.received.get(offer.sha256) ?? 0) >= 100, 60_000, 'half the chunks at bob')
    const bobHome = bob.home.dir
    await bob.stop()
    await assert.rejects(first)
    const receivedBefore = bob.fileList.stats.received.get(offer.sha256) ?? 0
    const bob2 = await h.startClient(bobHome, true, { files: { chunkSize: MIN_CHUNK_SIZE, autoResume: false } })
    const cut = await bob2.fileList.transfer(id)
    assert.ok(cut != null && cut.done >= 100 && cut.done < offer.chunks, `cut at ${cut?.done}`)
    assert.equal(cut.state, 'paused')
    const got = await bob2.getFile(id)
    assert.equal(await sha256Of(got.path), offer.sha256)
    assert.equal(got.resumedFrom, cut.done * MIN_CHUNK_SIZE)
    const served = alice.fileList.stats.served.get(offer.sha256) ?? 0
    assert.ok(served <= offer.chunks + 1, `alice sent ${served} chunks for ${offer.chunks}`)
    const receivedAfter = bob2.fileList.stats.received.get(offer.sha256) ?? 0
    assert.equal(receivedBefore + receivedAfter, offer.chunks)
  })

  it('refuses a corrupted chunk from a hostile serving device and never marks the file done', async () => {
    const files = { chunkSize: MIN_CHUNK_SIZE }
    const alice = await h.client('alice', { init: { files } })
    const bob = await h.client('bob')
    await h.connect(alice, bob)
    const log = new EventLog(bob)
    const path = join(dir, 'target.bin')
    await makeFile(path, 4 * MIN_CHUNK_SIZE + 100)
    const bytes = await readFile(path)
    const sent = await alice.sendFile('bob', path)
    const { id, offer } = await offerAt(log, 'target.bin')
    const hashes = Buffer.concat(Array.from({ length: offer.chunks }, (_, i) => createHash('sha256').update(bytes.subarray(i * offer.chunkSize, i * offer.chunkSize + chunkLength(offer, i))).digest()))
    // alice's device turns hostile: honest header and manifest, chunk 0 true, chunk 1 with a flipped byte
    await alice.libp2p.unhandle(FILE_PROTOCOL)
    let hostileServed = 0
    await alice.libp2p.handle(FILE_PROTOCOL, async stream => {
      const lp = lpStream(stream, { maxDataLength: 64 * 1024 })
      try {
        const req = decodeFrame((await lp.read()).subarray(), fileRequest)
        if (req.op !== 'get') return
        await lp.write(encodeFrame({ ok: true, size: offer.size, chunkSize: offer.chunkSize, chunks: offer.chunks }))
        if (req.manifest) await lp.write(Buffer.concat([Buffer.of(FILE_FRAME_DATA), hashes]))
        for (let i = req.from; i < offer.chunks; i++) {
          const chunk = Buffer.from(bytes.subarray(i * offer.chunkSize, i * offer.chunkSize + chunkLength(offer, i)))
          if (i === 1) chunk[7] = chunk[7]! ^ 0xff
          await lp.write(Buffer.concat([Buffer.of(FILE_FRAME_DATA), chunk]))
          hostileServed++
          if (i + 1 < offer.chunks) decodeFrame((await lp.read()).subarray(), fileRequest)
        }
      } catch {
        stream.abort(new Error('hostile done'))
      }
    }, { runOnLimitedConnection: true })
    await assert.rejects(bob.getFile(id), (e: Error) => e.name === 'FileVerificationError' && /chunk 1/.test(e.message))
    assert.equal(hostileServed, 2)
    const entry = (await bob.files()).find(f => f.id === id)
    assert.equal(entry?.state, 'failed')
    assert.equal(entry?.error?.name, 'FileVerificationError')
    assert.equal(entry?.bytes, offer.chunkSize, 'only the verified chunk counts')
    assert.equal(entry?.path, undefined)
    assert.deepEqual((await readdir(join(bob.home.dir, 'files'))).filter(n => !n.startsWith('.')), [], 'nothing looks received')
    // honest again: the fetch goes on from the last verified chunk
    await alice.libp2p.unhandle(FILE_PROTOCOL)
    await alice.fileList.start()
    const got = await bob.getFile(id)
    assert.equal(got.resumedFrom, offer.chunkSize)
    assert.equal(await sha256Of(got.path), sent.offer.sha256)
  })

  it('refuses a whole file whose bytes do not match the offer, even when every chunk matches its manifest', async () => {
    // a hostile sender signs an offer whose sha256 is not its bytes' (the manifest is): nothing is kept
    const alice = await h.client('alice')
    const bob = await h.client('bob')
    await h.connect(alice, bob)
    const log = new EventLog(bob)
    const path = join(dir, 'liar.bin')
    await makeFile(path, 3 * MIN_CHUNK_SIZE)
    const sent = await alice.sendFile('bob', path)
    const forged = { ...sent.offer, name: 'liar2.bin', sha256: createHash('sha256').update('something else').digest('hex') }
    const { signEnvelope } = await import('../../src/crypto/index.js')
    const { dmConversation, DM_PROTOCOL, dmAck } = await import('../../src/protocol/index.js')
    const { request } = await import('../../src/net/index.js')
    const login = await alice.home.requireLogin()
    const env = await signEnvelope(await alice.home.deviceKey(), login.cert, { conv: dmConversation('alice', 'bob'), kind: 'file', body: forged })
    await request(alice.libp2p, peerIdFromString(bob.peerId), DM_PROTOCOL, env, dmAck)
    // alice's device shares the forged sha256 with the true file behind it
    const share = await alice.fileList['deps'].store().files.share(sent.offer.sha256)
    await alice.fileList['deps'].store().files.putShare({ ...share!, sha256: forged.sha256 })
    const { copyFile } = await import('node:fs/promises')
    await copyFile(join(alice.home.dir, 'files', '.shared', `${sent.offer.sha256}.manifest`), join(alice.home.dir, 'files', '.shared', `${forged.sha256}.manifest`))
    const { id } = await offerAt(log, 'liar2.bin')
    await assert.rejects(bob.getFile(id), (e: Error) => e.name === 'FileVerificationError')
    const entry = (await bob.files()).find(f => f.id === id)
    assert.equal(entry?.state, 'failed')
    assert.deepEqual((await readdir(join(bob.home.dir, 'files'))).filter(n => !n.startsWith('.')), [])
    assert.deepEqual(await readdir(join(bob.home.dir, 'files', '.partial')), [], 'the partial file was deleted')
  })

  it('limits: the largest file is refused at offer and at get; a device serves a peer only so many transfers at once', async () => {
    const alice = await h.client('alice', { init: { files: { maxFileSize: 2 * MiB } } })
    const bob = await h.client('bob', { init: { files: { maxFileSize: MiB } } })
    await h.connect(alice, bob)
    const log = new EventLog(bob)
    const big = join(dir, 'big.bin')
    await makeFile(big, 2 * MiB + 1)
    await assert.rejects(alice.sendFile('bob', big), (e: Error) => e.name === 'FileTooLargeError' && /limit/.test(e.message))
    assert.deepEqual(await alice.files(), [], 'nothing was offered')
    const mid = join(dir, 'mid.bin')
    await makeFile(mid, MiB + 1)
    const sent = await alice.sendFile('bob', mid)
    const { id } = await offerAt(log, 'mid.bin')
    await assert.rejects(bob.getFile(id), (e: Error) => e.name === 'FileTooLargeError')
    assert.equal((await bob.files()).find(f => f.id === id)?.state, 'offered')

    // four streams from bob's device that take no chunk hold alice's four slots for it
    const small = join(dir, 'small.bin')
    await makeFile(small, 1000)
    const smallSent = await alice.sendFile('bob', small)
    const { id: smallId } = await offerAt(log, 'small.bin')
    const login = await bob.home.requireLogin()
    const alicePeer = peerIdFromString(alice.peerId)
    const held = []
    for (let i = 0; i < 4; i++) {
      const stream = await bob.libp2p.dialProtocol(alicePeer, FILE_PROTOCOL)
      const lp = lpStream(stream, { maxDataLength: 4 * MiB + 1 })
      await lp.write(encodeFrame({ op: 'get', cert: login.cert, sha256: sent.offer.sha256, from: 0, credit: 0, manifest: false }))
      const answer = decodeFrame((await lp.read()).subarray(), fileAnswer)
      assert.equal(answer.ok, true)
      held.push(stream)
    }
    const fifth = await bob.libp2p.dialProtocol(alicePeer, FILE_PROTOCOL)
    const lp5 = lpStream(fifth, { maxDataLength: 4 * MiB + 1 })
    await lp5.write(encodeFrame({ op: 'get', cert: login.cert, sha256: smallSent.offer.sha256, from: 0, credit: 1, manifest: true }))
    const refused = decodeFrame((await lp5.read()).subarray(), fileAnswer)
    assert.equal(refused.ok, false)
    assert.equal(!refused.ok && refused.error.name, 'ServerBusyError')
    // bob's own fetch is refused too, retries, and goes through once a slot is free
    const fetch = bob.getFile(smallId)
    await eventually(() => alice.fileList.stats.busy >= 2, 10_000, 'bob\'s fetch to be refused as busy')
    for (const s of held) s.abort(new Error('let go'))
    const got = await fetch
    assert.equal(await sha256Of(got.path), smallSent.offer.sha256)
  })

  it('serves a file only to accounts it was offered to', async () => {
    const [alice, bob, bobLog] = await pair()
    const carol = await h.client('carol')
    const path = join(dir, 'private.txt')
    await writeFile(path, 'for bob only')
    const sent = await alice.sendFile('bob', path)
    await offerAt(bobLog, 'private.txt')
    const login = await carol.home.requireLogin()
    const stream = await carol.libp2p.dialProtocol(peerIdFromString(alice.peerId), FILE_PROTOCOL)
    const lp = lpStream(stream, { maxDataLength: 4 * MiB + 1 })
    await lp.write(encodeFrame({ op: 'get', cert: login.cert, sha256: sent.offer.sha256, from: 0, credit: 1, manifest: true }))
    const answer = decodeFrame((await lp.read()).subarray(), fileAnswer)
    assert.equal(!answer.ok && answer.error.name, 'UnknownFileError')
    // someone else's certificate on carol's connection is refused as well
    const bobLogin = await bob.home.requireLogin()
    const stream2 = await carol.libp2p.dialProtocol(peerIdFromString(alice.peerId), FILE_PROTOCOL)
    const lp2 = lpStream(stream2, { maxDataLength: 4 * MiB + 1 })
    await lp2.write(encodeFrame({ op: 'get', cert: bobLogin.cert, sha256: sent.offer.sha256, from: 0, credit: 1, manifest: true }))
    const answer2 = decodeFrame((await lp2.read()).subarray(), fileAnswer)
    assert.equal(!answer2.ok && answer2.error.name, 'InvalidCertificateError')
  })

  it('a file offered in a room is fetched from the sender, and from a member who has it once the sender is gone', async () => {
    const [alice, bob, carol] = await h.clientsFor(['alice', 'bob', 'carol'])
    const bobLog = new EventLog(bob!)
    const carolLog = new EventLog(carol!)
    const path = join(dir, 'room.bin')
    await makeFile(path, 3 * MiB)
    await eventually(() => alice!.libp2p.services.pubsub.getSubscribers('/meshchat/room/global/1.0.0').length >= 2, 10_000, 'the room mesh')
    const sent = await alice!.sendFile('#global', path)
    const { id } = await offerAt(bobLog, 'room.bin')
    const { id: carolId } = await offerAt(carolLog, 'room.bin')
    assert.equal(carolId, id)
    const atBob = await bob!.getFile(id)
    assert.equal(await sha256Of(atBob.path), sent.offer.sha256)
    await alice!.stop()
    await eventually(async () => (await carol!.users()).find(u => u.user === 'alice')?.online === false, 10_000, 'alice offline at carol')
    const atCarol = await carol!.getFile(id)
    assert.equal(await sha256Of(atCarol.path), sent.offer.sha256)
    assert.equal(bob!.fileList.stats.served.get(sent.offer.sha256), sent.offer.chunks, 'bob served every chunk')
  })

  it('a full disk stops a download with a clear error; nothing looks received, and it resumes once there is room', async function () {
    if (process.getuid?.() !== 0) {
      console.log('      (disk-full test skipped: mounting a small tmpfs needs root)')
      this.skip()
    }
    const { execFileSync } = await import('node:child_process')
    const [alice, bob, bobLog] = await pair()
    const path = join(dir, 'roomy.bin')
    await makeFile(path, 3 * MiB)
    await alice.sendFile('bob', path)
    const { id } = await offerAt(bobLog, 'roomy.bin')
    const small = join(dir, 'small-disk')
    await mkdir(small)
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', small])
    try {
      await assert.rejects(bob.getFile(id, { to: small }), (e: Error) => e.name === 'DiskFullError' && /needs 3\.0 MiB/.test(e.message))
      const entry = (await bob.files()).find(f => f.id === id)
      assert.equal(entry?.state, 'paused')
      assert.equal(entry?.error?.name, 'DiskFullError')
      assert.deepEqual(await readdir(small), [])
      // a write that meets a full disk says so too
      const { writeFully } = await import('../../src/client/file-disk.js')
      const fd = await open(join(small, 'filler'), 'w')
      try {
        await assert.rejects(writeFully(fd, [Buffer.alloc(2 * MiB)], 0), (e: Error) => e.name === 'DiskFullError')
      } finally {
        await fd.close()
      }
      execFileSync('mount', ['-o', 'remount,size=16m', small])
      const got = await bob.getFile(id)
      assert.equal(got.path, join(small, 'roomy.bin'))
      assert.equal(await sha256Of(got.path), await sha256Of(path))
    } finally {
      execFileSync('umount', ['-l', small])
    }
  })

  it('garbage on the file protocol: every stream is closed, no serving slot leaks, the device serves on', async () => {
    const fc = (await import('fast-check')).default
    const { generateKeyPair } = await import('@libp2p/crypto/keys')
    const { createMeshNode } = await import('../../src/net/index.js')
    const [alice, bob, bobLog] = await pair()
    const path = join(dir, 'after.bin')
    await makeFile(path, 2 * MIN_CHUNK_SIZE + 5)
    const sent = await alice.sendFile('bob', path)
    const rogue = await createMeshNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'] })
    const bobCert = (await bob.home.requireLogin()).cert
    const lp = (b: Uint8Array): Uint8Array => Buffer.concat([Buffer.from(varint(b.length)), b])
    const json = (v: unknown): Uint8Array => Buffer.from(JSON.stringify(v))
    const attack = fc.oneof(
      fc.uint8Array({ minLength: 1, maxLength: 300 }),
      fc.uint8Array({ maxLength: 300 }).map(lp),
      fc.constantFrom(2 ** 20, 2 ** 31, 2 ** 40).map(n => Buffer.from(varint(n))),
      fc.jsonValue({ maxDepth: 3 }).map(v => lp(json(v))),
      // well-formed requests that must be refused: someone else's certificate, a credit first, odd numbers
      fc.record({ from: fc.integer({ min: -5, max: 2 ** 20 }), credit: fc.integer({ min: -5, max: 2 ** 20 }) })
        .map(({ from, credit }) => lp(json({ op: 'get', cert: bobCert, sha256: sent.offer.sha256, from, credit, manifest: true }))),
      fc.integer({ min: 0, max: 2 ** 20 }).map(upTo => lp(json({ op: 'credit', upTo }))),
      fc.constant(new Uint8Array(0))
    )
    try {
      const to = alice.libp2p.getMultiaddrs()[0]!
      await fc.assert(fc.asyncProperty(attack, async bytes => {
        const stream = await rogue.dialProtocol(to, FILE_PROTOCOL, { signal: AbortSignal.timeout(5_000) })
        const closed = new Promise<void>(resolve => { stream.addEventListener('close', () => { resolve() }, { once: true }) })
        try {
          if (bytes.length > 0 && !stream.send(bytes)) await stream.onDrain({ signal: AbortSignal.timeout(5_000) })
        } catch { /* reset while sending: a close */ }
        await stream.close({ signal: AbortSignal.timeout(5_000) }).catch(() => {})
        let timer: NodeJS.Timeout | undefined
        const hung = await Promise.race([closed.then(() => false), new Promise<boolean>(resolve => { timer = setTimeout(() => { resolve(true) }, 12_000) })])
        clearTimeout(timer)
        if (hung) stream.abort(new Error('hung'))
        assert.equal(hung, false, 'the stream was closed')
      }), { numRuns: 60, seed: 0x66696c65 })
    } finally {
      await rogue.stop()
    }
    await eventually(() => alice.fileList.servingNow === 0, 5_000, 'every serving slot free')
    const { id } = await offerAt(bobLog, 'after.bin')
    const got = await bob.getFile(id)
    assert.equal(await sha256Of(got.path), sent.offer.sha256)
  })

  it('chunks may come from another source: the sealed copy at the rendezvous node, when no device of the sender is online', async () => {
    const [alice, bob, bobLog] = await pair()
    const path = join(dir, 'left.bin')
    await makeFile(path, 2 * MiB + 99)
    const sent = await alice.sendFile('bob', path)
    const { id } = await offerAt(bobLog, 'left.bin')
    const { uploadSealed } = await import('../../src/client/file-archive.js')
    const server = peerIdFromString(h.serverAddress.split('/p2p/')[1]!)
    const bobKey = (await bob.home.readAccountKey())!
    const bytes = await readFile(path)
    const manifest = await readFile(join(alice.home.dir, 'files', '.shared', `${sent.offer.sha256}.manifest`))
    const { offer } = sent
    await uploadSealed(alice.libp2p, server, (await alice.home.requireLogin()).cert, {
      to: 'bob', recipientKey: bobKey.publicKey, sha256: offer.sha256, size: offer.size, chunkSize: offer.chunkSize, chunks: offer.chunks, manifest,
      readChunk: async i => bytes.subarray(i * offer.chunkSize, i * offer.chunkSize + chunkLength(offer, i))
    })
    await alice.stop()
    await eventually(async () => (await bob.users()).find(u => u.user === 'alice')?.online === false, 10_000, 'alice offline at bob')
    const got = await bob.getFile(id)
    assert.equal(await sha256Of(got.path), offer.sha256)
    assert.equal(bob.fileList.stats.received.get(offer.sha256), offer.chunks)
  })

  it('with only a relayed connection to the sender, the bytes wait (waiting-direct), and go when the person allows the relay', async () => {
    // alice's device listens on nothing but its relay slot at the rendezvous node, and dials no one
    const alice = await h.client('alice', { init: { listen: [], relay: 'always', peerDials: 0 } })
    // one round over the sources, and no retry by itself (files-offline.spec.ts has that)
    const bob = await h.client('bob', { init: { files: { attempts: 1, autoResume: false } } })
    await eventually(async () => (await bob.users()).find(u => u.user === 'alice')?.devices[0]?.addrs.some(a => a.includes('/p2p-circuit')) === true, 20_000, 'alice reachable through the relay')
    await h.connect(alice, bob)
    const log = new EventLog(bob)
    const path = join(dir, 'small.bin')
    await makeFile(path, 200 * 1024)
    const sent = await alice.sendFile('bob', path)
    const { id } = await offerAt(log, 'small.bin')
    // hole punching (DCUtR) may have made a direct connection from alice already: close it
    await Promise.all(bob.libp2p.getConnections(peerIdFromString(alice.peerId)).filter(c => !c.remoteAddr.toString().includes('/p2p-circuit')).map(async c => { await c.close() }))
    await assert.rejects(bob.getFile(id), (e: Error) => e.name === 'RelayOnlyError' && /--allow-relay/.test(e.message))
    const entry = (await bob.files()).find(f => f.id === id)
    assert.equal(entry?.state, 'waiting-direct')
    assert.equal(entry?.bytes, 0)
    assert.ok(bob.libp2p.getConnections(peerIdFromString(alice.peerId)).every(c => c.remoteAddr.toString().includes('/p2p-circuit')), 'only relayed connections')
    const got = await bob.getFile(id, { allowRelay: true })
    assert.equal(await sha256Of(got.path), sent.offer.sha256)
  })

  it('file bytes never take a relayed connection unless allowed (the path decision)', () => {
    const direct = { remoteAddr: '/ip4/10.0.0.2/tcp/4001/p2p/12D3KooWA', status: 'open' }
    const relayed = { remoteAddr: '/ip4/1.2.3.4/tcp/4001/p2p/12D3KooWR/p2p-circuit/p2p/12D3KooWA', status: 'open' }
    const closed = { remoteAddr: '/ip4/10.0.0.3/tcp/4001/p2p/12D3KooWA', status: 'closed' }
    assert.deepEqual(choosePath([relayed], false), { wait: 'relayed-only' })
    assert.deepEqual(choosePath([relayed], true), { use: relayed, relayed: true })
    assert.deepEqual(choosePath([relayed, direct], false), { use: direct, relayed: false })
    assert.deepEqual(choosePath([relayed, direct], true), { use: direct, relayed: false })
    assert.deepEqual(choosePath([closed], false), { dial: true })
    assert.deepEqual(choosePath([closed, relayed], false), { wait: 'relayed-only' })
    assert.deepEqual(choosePath([], true), { dial: true })
  })

  it('checks offers at the edge: names, sizes and chunk counts', () => {
    const good = { name: 'a.txt', size: 10, sha256: 'a'.repeat(64), chunkSize: MIN_CHUNK_SIZE, chunks: 1, manifest: 'b'.repeat(64) }
    assert.equal(fileOffer.safeParse(good).success, true)
    for (const bad of [
      { ...good, name: '../etc/passwd' }, { ...good, name: 'a\\b' }, { ...good, name: '..' }, { ...good, name: 'bell\u0007' }, { ...good, name: '' },
      { ...good, name: 'x'.repeat(256) }, { ...good, size: -1 }, { ...good, chunks: 2 }, { ...good, chunkSize: 1024 }, { ...good, sha256: 'A'.repeat(64) },
      { ...good, extra: true }
    ]) {
      assert.equal(fileOffer.safeParse(bad).success, false, JSON.stringify(bad).slice(0, 80))
    }
  })
})
