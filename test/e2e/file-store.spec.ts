/**
 * The sealed file store of a real `meshchat serve` process (issue 9, "to someone offline"): the
 * node killed with SIGKILL in the middle of an upload keeps every part it acknowledged, and the
 * upload resumes with only the missing parts; `--file-quota` and `--file-sender-quota` are honoured.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { peerIdFromString } from '@libp2p/peer-id'
import { Harness, ProcessGroup, eventually, TEST_PASSWORD, TEST_SCRYPT } from '../../src/testing/index.js'
import { register } from '../../src/client/index.js'
import { uploadSealed, downloadSealed, sealedUploadStatus } from '../../src/client/file-archive.js'
import type { SealedUpload } from '../../src/client/file-archive.js'
import type { ServeProcess } from '../../src/testing/index.js'

const KiB = 1024
const MARKER = 'MESHCHAT-E2E-PLAINTEXT-5c1d'
const SERVE_ARGS = ['--registrations-per-second', '100', '--file-quota', '2MiB', '--file-sender-quota', '2MiB', '--log-level', 'warn']

function sha256 (bytes: Uint8Array): Buffer {
  return createHash('sha256').update(bytes).digest()
}

function fileOf (size: number): Uint8Array {
  const text = Buffer.from(`${MARKER} `)
  const out = Buffer.alloc(size)
  for (let at = 0; at < size; at += text.length) text.copy(out, at, 0, Math.min(text.length, size - at))
  return new Uint8Array(out)
}

function uploadOf (data: Uint8Array, to: string, recipientKey: string, chunkSize = 64 * KiB): SealedUpload {
  const chunks = Math.ceil(data.length / chunkSize)
  const hashes = []
  for (let i = 0; i < chunks; i++) hashes.push(sha256(data.subarray(i * chunkSize, (i + 1) * chunkSize)))
  return { to, recipientKey, sha256: sha256(data).toString('hex'), size: data.length, chunkSize, chunks, manifest: new Uint8Array(Buffer.concat(hashes)), readChunk: async i => data.subarray(i * chunkSize, (i + 1) * chunkSize) }
}

async function filesUnder (dir: string): Promise<string[]> {
  const out: string[] = []
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) out.push(...await filesUnder(path))
    else if (entry.isFile()) out.push(path)
  }
  return out
}

describe('file store under SIGKILL', function () {
  this.timeout(120_000)
  const group = new ProcessGroup()
  const h = new Harness()
  afterEach(async () => {
    await h.stop()
    await group.stopAll()
  })

  it('keeps every acknowledged part when the node is killed mid-upload, and the upload resumes with the rest', async () => {
    let server: ServeProcess = await group.startServe({ args: SERVE_ARGS })
    const { port, dataDir } = server
    const homes: Record<string, string> = {}
    for (const user of ['alice', 'bob']) {
      homes[user] = await h.tempDir(`fs-${user}`)
      await register({ home: homes[user]!, server: server.address, user, password: TEST_PASSWORD, wrapScrypt: TEST_SCRYPT })
    }
    const alice = await h.startClient(homes.alice!)
    const bob = await h.startClient(homes.bob!)
    const aliceCert = (await alice.home.requireLogin()).cert
    const bobCert = (await bob.home.requireLogin()).cert
    const bobKey = (await bob.home.readAccountKey())!
    const peer = peerIdFromString(server.peerId)

    const data = fileOf(24 * 64 * KiB + 1000)
    const plan = uploadOf(data, 'bob', bobKey.publicKey)
    const window = 3
    let acked = 0
    let killed: Promise<void> | undefined
    await assert.rejects(uploadSealed(alice.libp2p, peer, aliceCert, plan, {
      window,
      onProgress: p => {
        if (killed == null) acked = p.stored
        if (p.stored >= 10 && killed == null) killed = server.kill('SIGKILL')
      }
    }))
    await killed
    assert.ok(acked >= 10)

    server = await group.startServe({ args: SERVE_ARGS, port, dataDir })
    await eventually(async () => await sealedUploadStatus(alice.libp2p, peer, aliceCert, 'bob', plan.sha256).then(() => true, () => false), 20_000, 'the node to serve again')
    const resumed = await uploadSealed(alice.libp2p, peer, aliceCert, plan, { window })
    // nothing acknowledged was lost; at most the parts in flight were stored without their answer
    assert.ok(resumed.skipped >= acked, `${resumed.skipped} parts kept, ${acked} acknowledged`)
    assert.ok(resumed.skipped <= acked + window)
    assert.equal(resumed.skipped + resumed.sent, plan.chunks + 1)
    assert.equal(resumed.file.complete, true)

    const got: Uint8Array[] = []
    await downloadSealed(bob.libp2p, peer, bobCert, bobKey, plan.sha256, { sender: 'alice', manifestSha256: sha256(plan.manifest).toString('hex'), onChunk: (i, b) => { got[i] = b } })
    assert.ok(Buffer.from(data).equals(Buffer.concat(got)))

    // --file-quota 2MiB: another 1 MiB does not fit next to the 1.5 MiB waiting
    await assert.rejects(uploadSealed(alice.libp2p, peer, aliceCert, uploadOf(fileOf(1024 * KiB), 'bob', bobKey.publicKey)), { name: 'QuotaExceededError' })

    // the node's folder holds no part in clear, and no temporary file
    const all = await filesUnder(dataDir)
    assert.ok(all.length > 0)
    assert.equal(all.some(f => f.includes('.tmp-')), false)
    for (const f of all) assert.equal((await readFile(f)).includes(MARKER), false, `${f} holds the plaintext`)
  })
})
