/**
 * The rendezvous node's sealed file store (issue 9, "to someone offline"): a file left for an
 * account, sealed chunk by chunk to its account key, fetched by a device of that account; quotas;
 * the node's disk never holding the file in clear; an upload cut by the node stopping, resumed.
 */
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { peerIdFromString } from '@libp2p/peer-id'
import { lpStream } from '@libp2p/utils'
import { Harness, eventually } from '../../src/testing/index.js'
import { uploadSealed, downloadSealed, listSealed, deleteSealed, sealedUploadStatus } from '../../src/client/file-archive.js'
import { sealedFileBytes, sealedPartBytes, FILE_STORE_PROTOCOL } from '../../src/protocol/index.js'
import { openStream } from '../../src/net/index.js'
import type { SealedUpload } from '../../src/client/file-archive.js'
import type { MeshClient } from '../../src/client/index.js'
import type { Certificate } from '../../src/protocol/index.js'
import type { AccountKeyPair } from '../../src/crypto/index.js'
import type { HarnessInit } from '../../src/testing/index.js'

const KiB = 1024
const MARKER = 'MESHCHAT-PLAINTEXT-MARKER-7f3a'

function sha256 (bytes: Uint8Array): Buffer {
  return createHash('sha256').update(bytes).digest()
}

/** A file of `size` bytes that repeats a known marker (to look for on the node's disk). */
function fileOf (size: number, seed = 0): Uint8Array {
  const text = Buffer.from(`${MARKER} ${seed} `)
  const out = Buffer.alloc(size)
  for (let at = 0; at < size; at += text.length) text.copy(out, at, 0, Math.min(text.length, size - at))
  return new Uint8Array(out)
}

/** What uploadSealed needs for `data` going to `to`. */
function uploadOf (data: Uint8Array, to: string, recipientKey: string, chunkSize = 64 * KiB): SealedUpload {
  const chunks = Math.ceil(data.length / chunkSize)
  const hashes = []
  for (let i = 0; i < chunks; i++) hashes.push(sha256(data.subarray(i * chunkSize, (i + 1) * chunkSize)))
  return {
    to,
    recipientKey,
    sha256: sha256(data).toString('hex'),
    size: data.length,
    chunkSize,
    chunks,
    manifest: new Uint8Array(Buffer.concat(hashes)),
    readChunk: async i => data.subarray(i * chunkSize, (i + 1) * chunkSize)
  }
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

interface Device {
  client: MeshClient
  cert: Certificate
  key: AccountKeyPair
}

describe('file store at the rendezvous node', function () {
  this.timeout(60_000)
  let h: Harness

  async function start (init: HarnessInit['rendezvous'] = {}): Promise<void> {
    h = new Harness({ rendezvous: init })
    await h.startRendezvous()
  }

  afterEach(async () => { await h.stop() })

  const server = (): ReturnType<typeof peerIdFromString> => peerIdFromString(h.rendezvous!.peerId)

  async function device (client: MeshClient): Promise<Device> {
    const login = await client.home.requireLogin()
    const key = await client.home.readAccountKey()
    assert.ok(key != null)
    return { client, cert: login.cert, key }
  }

  async function people (...users: string[]): Promise<Device[]> {
    return await Promise.all((await h.clientsFor(users)).map(device))
  }

  async function upload (from: Device, to: Device, data: Uint8Array, options: Parameters<typeof uploadSealed>[4] = {}): Promise<Awaited<ReturnType<typeof uploadSealed>>> {
    return await uploadSealed(from.client.libp2p, server(), from.cert, uploadOf(data, to.cert.user, to.key.publicKey), options)
  }

  async function download (by: Device, sha: string, options: { sender?: string, from?: number, manifestSha256?: string } = {}): Promise<Buffer> {
    const chunks: Uint8Array[] = []
    await downloadSealed(by.client.libp2p, server(), by.cert, by.key, sha, { ...options, onChunk: (i, bytes) => { chunks[i] = bytes } })
    return Buffer.concat(chunks.slice(options.from ?? 0))
  }

  it('a device of the recipient fetches what the sender left, byte for byte, and deletes it', async () => {
    await start()
    const [alice, bob] = await people('alice', 'bob')
    const data = fileOf(300 * KiB + 123)
    const plan = uploadOf(data, 'bob', bob!.key.publicKey)
    const progress: number[] = []
    const result = await upload(alice!, bob!, data, { onProgress: p => { progress.push(p.stored) } })
    assert.equal(result.sent, plan.chunks + 1)
    assert.equal(result.skipped, 0)
    assert.equal(result.file.complete, true)
    assert.equal(progress.at(-1), plan.chunks + 1)

    const waiting = await listSealed(bob!.client.libp2p, server(), bob!.cert)
    assert.equal(waiting.length, 1)
    assert.deepEqual({ from: waiting[0]!.from, sha256: waiting[0]!.sha256, size: waiting[0]!.size, complete: waiting[0]!.complete }, { from: 'alice', sha256: plan.sha256, size: data.length, complete: true })
    assert.equal(waiting[0]!.bytes, sealedFileBytes(plan))

    const manifestSha256 = sha256(plan.manifest).toString('hex')
    assert.ok(Buffer.from(data).equals(await download(bob!, plan.sha256, { sender: 'alice', manifestSha256 })))
    // resuming from a chunk gives the rest
    assert.ok(Buffer.from(data.subarray(3 * 64 * KiB)).equals(await download(bob!, plan.sha256, { sender: 'alice', from: 3 })))
    // without naming the sender the node picks the complete upload
    assert.ok(Buffer.from(data).equals(await download(bob!, plan.sha256)))
    // a manifest that is not the offer's is refused
    await assert.rejects(download(bob!, plan.sha256, { manifestSha256: '0'.repeat(64) }), { name: 'FileVerificationError' })

    // an empty file too
    const empty = uploadOf(new Uint8Array(0), 'bob', bob!.key.publicKey)
    await uploadSealed(alice!.client.libp2p, server(), alice!.cert, empty)
    assert.equal((await download(bob!, empty.sha256, { sender: 'alice' })).length, 0)

    assert.equal(await deleteSealed(bob!.client.libp2p, server(), bob!.cert, { sha256: plan.sha256, sender: 'alice' }), 1)
    assert.equal(await deleteSealed(bob!.client.libp2p, server(), bob!.cert, { sha256: empty.sha256 }), 1)
    assert.deepEqual(await listSealed(bob!.client.libp2p, server(), bob!.cert), [])
    assert.deepEqual(await h.rendezvous!.store.files.usage('bob'), { inbound: 0, files: 0, outbound: 0 })
    assert.deepEqual(await h.rendezvous!.store.files.usage('alice'), { inbound: 0, files: 0, outbound: 0 })
    assert.deepEqual(await filesUnder(join(h.rendezvousDataDir, 'files')), [])
    await assert.rejects(download(bob!, plan.sha256), { name: 'UnknownFileError' })
  })

  it('another account can neither list, get nor delete it, and the sender cannot get it', async () => {
    await start()
    const [alice, bob, carol] = await people('alice', 'bob', 'carol')
    const data = fileOf(100 * KiB)
    const plan = uploadOf(data, 'bob', bob!.key.publicKey)
    await upload(alice!, bob!, data)

    assert.deepEqual(await listSealed(carol!.client.libp2p, server(), carol!.cert), [])
    await assert.rejects(download(carol!, plan.sha256, { sender: 'alice' }), { name: 'UnknownFileError' })
    await assert.rejects(download(carol!, plan.sha256), { name: 'UnknownFileError' })
    assert.equal(await deleteSealed(carol!.client.libp2p, server(), carol!.cert, { sha256: plan.sha256, sender: 'alice' }), 0)
    // naming bob as the recipient makes carol the sender: of nothing
    assert.equal(await deleteSealed(carol!.client.libp2p, server(), carol!.cert, { sha256: plan.sha256, to: 'bob' }), 0)
    // the sender left it for bob; it is not alice's to read
    await assert.rejects(download(alice!, plan.sha256, { sender: 'alice' }), { name: 'UnknownFileError' })
    // a certificate of bob presented from carol's device is refused
    await assert.rejects(listSealed(carol!.client.libp2p, server(), bob!.cert), { name: 'InvalidCertificateError' })
    await assert.rejects(downloadSealed(carol!.client.libp2p, server(), bob!.cert, carol!.key, plan.sha256, { onChunk: () => {} }), { name: 'InvalidCertificateError' })
    // carol's key cannot open bob's parts even if she had them: the file is still there, whole, for bob
    const waiting = await listSealed(bob!.client.libp2p, server(), bob!.cert)
    assert.equal(waiting.length, 1)
    assert.equal(waiting[0]!.complete, true)
    assert.ok(Buffer.from(data).equals(await download(bob!, plan.sha256)))
    // putting to an account that does not exist is refused
    await assert.rejects(uploadSealed(alice!.client.libp2p, server(), alice!.cert, uploadOf(data, 'nobody', bob!.key.publicKey)), { name: 'UnknownUserError' })
  })

  it('refuses malformed puts from a logged-in device, keeps nothing of them, and serves on', async () => {
    await start()
    const [alice, bob] = await people('alice', 'bob')
    /** One put as a device would send it, with whatever body; the node's answer. */
    const rawPut = async (header: Record<string, unknown>, body: Uint8Array): Promise<{ ok: boolean, error?: { name: string } }> => {
      const stream = await openStream(alice!.client.libp2p, server(), FILE_STORE_PROTOCOL)
      const lp = lpStream(stream, { maxDataLength: 64 * KiB })
      const answer = lp.read()
      await lp.writeV([Buffer.from(JSON.stringify({ op: 'put', cert: alice!.cert, ...header })), body]).catch(() => {})
      const res = JSON.parse(Buffer.from((await answer).subarray()).toString('utf8')) as { ok: boolean, error?: { name: string } }
      stream.abort(new Error('done'))
      return res
    }
    const shape = { to: 'bob', sha256: 'ab'.repeat(32), size: 100 * KiB, chunkSize: 64 * KiB, chunks: 2 }
    const due = sealedPartBytes(shape, 0)
    assert.equal((await rawPut({ ...shape, part: 0 }, new Uint8Array(due - 1))).error?.name, 'InvalidInputError')
    assert.equal((await rawPut({ ...shape, part: 0 }, new Uint8Array(due + 10))).error?.name, 'InvalidMessageError')
    assert.equal((await rawPut({ ...shape, chunks: 3, part: 0 }, new Uint8Array(due))).error?.name, 'InvalidInputError')
    assert.equal((await rawPut({ ...shape, part: 2 }, new Uint8Array(due))).error?.name, 'InvalidInputError')
    assert.equal((await rawPut({ ...shape, to: 'nobody', part: 0 }, new Uint8Array(due))).error?.name, 'UnknownUserError')
    assert.deepEqual(await h.rendezvous!.store.files.listAll(), [])
    assert.deepEqual(await h.rendezvous!.store.files.usage('bob'), { inbound: 0, files: 0, outbound: 0 })
    assert.deepEqual(await filesUnder(join(h.rendezvousDataDir, 'files')), [])
    // a well-formed upload still goes through
    const data = fileOf(70 * KiB)
    await upload(alice!, bob!, data)
    assert.ok(Buffer.from(data).equals(await download(bob!, uploadOf(data, 'bob', bob!.key.publicKey).sha256)))
  })

  it('refuses past the recipient\'s quota and a sender\'s share, storing nothing', async () => {
    await start({ fileQuotaBytes: 300 * KiB, fileSenderQuotaBytes: 250 * KiB, fileMaxBytes: 1024 * KiB })
    const [alice, bob, carol] = await people('alice', 'bob', 'carol')
    const files = join(h.rendezvousDataDir, 'files')

    // over bob's quota at once: refused before a byte is stored
    await assert.rejects(upload(alice!, bob!, fileOf(400 * KiB)), (err: Error) => {
      assert.equal(err.name, 'QuotaExceededError')
      assert.match(err.message, /bob/)
      return true
    })
    assert.deepEqual(await filesUnder(files), [])
    assert.deepEqual(await h.rendezvous!.store.files.usage('bob'), { inbound: 0, files: 0, outbound: 0 })
    assert.deepEqual(await listSealed(bob!.client.libp2p, server(), bob!.cert), [])

    // one that fits, then a second that does not fit what is left
    await upload(alice!, bob!, fileOf(200 * KiB, 1))
    const used = (await h.rendezvous!.store.files.usage('bob')).inbound
    await assert.rejects(upload(carol!, bob!, fileOf(200 * KiB, 2)), { name: 'QuotaExceededError' })
    assert.equal((await h.rendezvous!.store.files.usage('bob')).inbound, used)
    assert.equal((await listSealed(bob!.client.libp2p, server(), bob!.cert)).length, 1)
    assert.equal((await filesUnder(files)).length, Math.ceil(200 / 64) + 1)

    // alice's share (250 KiB for all her recipients) is mostly used by the file for bob
    await assert.rejects(upload(alice!, carol!, fileOf(100 * KiB, 3)), (err: Error) => {
      assert.equal(err.name, 'QuotaExceededError')
      assert.match(err.message, /you already have/)
      return true
    })
    assert.deepEqual(await listSealed(carol!.client.libp2p, server(), carol!.cert), [])
    // bob may send to carol: his share is his own
    await upload(bob!, carol!, fileOf(100 * KiB, 4))
  })

  it('refuses a file over the node\'s largest size', async () => {
    await start({ fileMaxBytes: 100 * KiB })
    const [alice, bob] = await people('alice', 'bob')
    await assert.rejects(upload(alice!, bob!, fileOf(101 * KiB)), { name: 'FileTooLargeError' })
    assert.deepEqual(await filesUnder(join(h.rendezvousDataDir, 'files')), [])
  })

  it('never holds the file in clear on the node\'s disk', async () => {
    await start()
    const [alice, bob] = await people('alice', 'bob')
    const data = fileOf(260 * KiB)
    await upload(alice!, bob!, data)
    assert.ok(Buffer.from(data).includes(MARKER))
    const all = await filesUnder(h.rendezvousDataDir)
    assert.ok(all.some(f => f.includes(`${join('files', 'bob', 'alice')}`)), 'the sealed parts are on disk')
    for (const f of all) {
      if ((await stat(f)).isSocket()) continue
      const bytes = await readFile(f).catch(() => Buffer.alloc(0))
      assert.equal(bytes.includes(MARKER), false, `${f} holds the plaintext`)
      assert.equal(bytes.includes(Buffer.from(data.subarray(0, 64))), false, `${f} holds the plaintext`)
    }
  })

  it('resumes an upload cut by the node stopping: only the missing parts go again', async () => {
    await start()
    const [alice, bob] = await people('alice', 'bob')
    const data = fileOf(20 * 64 * KiB + 5, 9)
    const plan = uploadOf(data, 'bob', bob!.key.publicKey)
    let stopping: Promise<void> | undefined
    await assert.rejects(upload(alice!, bob!, data, {
      window: 1,
      onProgress: p => { if (p.stored >= 8 && stopping == null) stopping = h.stopRendezvous() }
    }))
    await stopping
    // what a crash mid-write can leave behind: a temporary file and a part no record names
    const dir = join(h.rendezvousDataDir, 'files', 'bob', 'alice', plan.sha256)
    await writeFile(join(dir, `19.tmp-deadbeef`), 'half a part')
    await writeFile(join(dir, '19'), 'a part written but never recorded')
    await mkdir(join(h.rendezvousDataDir, 'files', 'bob', 'carol', 'f'.repeat(64)), { recursive: true })
    await h.startRendezvous()

    const status = await eventually(async () => {
      try { await sealedUploadStatus(alice!.client.libp2p, server(), alice!.cert, 'bob', plan.sha256); return true } catch { return false }
    }, 10_000, 'the node to serve again').then(async () => await sealedUploadStatus(alice!.client.libp2p, server(), alice!.cert, 'bob', plan.sha256))
    const before = (status.manifest ? 1 : 0) + status.chunks.size
    assert.ok(before >= 8, `the node kept ${before} parts`)
    assert.equal(status.chunks.has(19), false, 'the unrecorded part was dropped')
    const names = await readdir(dir)
    assert.equal(names.some(n => n.includes('.tmp-')), false)
    assert.equal(names.length, before)
    assert.deepEqual(await readdir(join(h.rendezvousDataDir, 'files', 'bob')), ['alice'])

    const resumed = await upload(alice!, bob!, data)
    assert.equal(resumed.skipped, before)
    assert.equal(resumed.sent, plan.chunks + 1 - before)
    assert.equal(resumed.file.complete, true)
    assert.equal((await h.rendezvous!.store.files.usage('bob')).inbound, sealedFileBytes(plan))
    assert.ok(Buffer.from(data).equals(await download(bob!, plan.sha256, { sender: 'alice' })))
  })

  it('deletes files past the retention when the node starts', async () => {
    // a retention of 0 days: whatever is there when the node starts is past it
    await start({ fileRetentionDays: 0 })
    const [alice, bob] = await people('alice', 'bob')
    await upload(alice!, bob!, fileOf(10 * KiB))
    assert.equal((await listSealed(bob!.client.libp2p, server(), bob!.cert)).length, 1)
    await h.stopRendezvous()
    await h.startRendezvous()
    assert.deepEqual(await h.rendezvous!.store.files.listAll(), [])
    assert.deepEqual(await filesUnder(join(h.rendezvousDataDir, 'files')), [])
    assert.deepEqual(await h.rendezvous!.store.files.usage('bob'), { inbound: 0, files: 0, outbound: 0 })
    assert.deepEqual(await h.rendezvous!.store.files.usage('alice'), { inbound: 0, files: 0, outbound: 0 })
  })

  it('answers a full disk with ServerBusyError and counts nothing partial', async function () {
    await start()
    const [alice, bob] = await people('alice', 'bob')
    const files = join(h.rendezvousDataDir, 'files')
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=192k', 'tmpfs', files], { stdio: 'ignore' })
    } catch {
      this.skip()
    }
    try {
      const data = fileOf(512 * KiB, 5)
      const plan = uploadOf(data, 'bob', bob!.key.publicKey)
      await assert.rejects(upload(alice!, bob!, data, { window: 1 }), (err: Error) => {
        assert.equal(err.name, 'ServerBusyError')
        assert.match(err.message, /disk is full/)
        return true
      })
      const status = await sealedUploadStatus(alice!.client.libp2p, server(), alice!.cert, 'bob', plan.sha256)
      const names = await readdir(join(files, 'bob', 'alice', plan.sha256))
      assert.equal(names.some(n => n.includes('.tmp-')), false, 'no half-written part is left')
      assert.equal(names.length, (status.manifest ? 1 : 0) + status.chunks.size, 'every part on disk is recorded and no other')
      assert.ok(status.chunks.size < plan.chunks)
      // the node serves on
      await assert.rejects(download(bob!, plan.sha256), { name: 'OfflineError' })
      assert.equal((await listSealed(bob!.client.libp2p, server(), bob!.cert))[0]?.complete, false)
    } finally {
      await h.stopRendezvous()
      execFileSync('umount', [files])
    }
  })
})
