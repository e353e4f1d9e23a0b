/**
 * Issue 9 with the real binary: `send-file`, `files` and `get` between two people, each step a
 * separate `meshchat` process against a real `serve`, and a receiver killed with SIGKILL in the
 * middle of a transfer that resumes where it stopped. Runs dist/ (`npm run build` first).
 */
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { open, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { ProcessGroup, assertOk, commandsIn, waitForExit } from '../../src/testing/index.js'
import type { ServeProcess, TestPerson as Person } from '../../src/testing/index.js'

const PASSWORD = 'correct horse battery'
const ENV = { MESHCHAT_PASSWORD: PASSWORD, MESHCHAT_IP_COLOCATION_WHITELIST: '127.0.0.1' }
const SERVE_ARGS = ['--heartbeat-ms', '500', '--registrations-per-second', '100', '--address-free-failures', '100']
const MiB = 1024 * 1024

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

interface FileEntry { id: string, state: string, bytes: number, size: number, name: string, direction: string, path?: string }
interface Got { path: string, size: number, sha256: string, resumedFrom: number, already: boolean }

describe('meshchat send-file, files, get (separate processes)', function () {
  this.timeout(180_000)
  const suite = new ProcessGroup()
  const each = new ProcessGroup()
  let server: ServeProcess

  const commands = commandsIn(each, { env: ENV, timeoutMs: 60_000 })
  const { run, json, chatting } = commands
  const person = async (base: string): Promise<Person> => await commands.person(server.address, base)

  before(async function () {
    server = await suite.startServe({ args: SERVE_ARGS, env: ENV })
  })
  after(async function () { await suite.stopAll() })
  afterEach(async function () { await each.stopAll() })

  it('send-file offers a file, get fetches it with progress on stderr, files lists both sides', async function () {
    const [alice, bob] = await Promise.all([person('alice'), person('bob')])
    await chatting(alice, bob)
    const dir = await each.tempDir('files')
    const path = join(dir, 'report one.bin')
    await makeFile(path, 6 * MiB + 321)

    // over the device's own size limit (flag, MESHCHAT_MAX_FILE_SIZE or config): one clear line, nothing offered
    const tooBigOffer = await run(['send-file', '--home', alice.home, bob.user, path], { env: { MESHCHAT_MAX_FILE_SIZE: '1024' } })
    assert.equal(tooBigOffer.code, 15, tooBigOffer.stderr)
    assert.match(tooBigOffer.stderr, /^meshchat: report one\.bin is 6\.0 MiB, over the 1\.0 KiB limit for files\n$/)
    assert.equal(tooBigOffer.stdout, '')
    // no device of alice's runs: the offer goes, and she is told it is served while one runs
    const offered = await run(['send-file', '--home', alice.home, bob.user, path])
    assertOk(offered)
    const id = /file id ([0-9a-f]{32})/.exec(offered.stdout)?.[1]
    assert.ok(id != null, offered.stdout)
    assert.match(offered.stdout, /served while a device of this home runs/)
    const listen = await each.startListen(alice.home, { env: ENV })

    const bobFiles = await json<FileEntry[]>(bob, 'files')
    assert.deepEqual(bobFiles.map(f => [f.id, f.state, f.direction, f.name]), [[id, 'offered', 'in', 'report one.bin']])

    // the same limit on the receiving side
    const tooBig = await run(['get', '--home', bob.home, id, '--max-file-size', '1MiB'])
    assert.equal(tooBig.code, 15, tooBig.stderr)
    assert.match(tooBig.stderr, /^meshchat: report one\.bin is 6\.0 MiB, over this device's 1\.0 MiB limit for files\n$/)

    const got = await run(['get', '--home', bob.home, id, '--json'])
    assertOk(got)
    const res = JSON.parse(got.stdout) as Got
    assert.equal(res.path, join(bob.home, 'files', 'report one.bin'))
    assert.equal(await sha256Of(res.path), await sha256Of(path))
    const progress = got.stderr.split('\n').filter(l => l !== '').map(l => JSON.parse(l) as { type: string, phase: string, bytes: number, total: number, rate: number })
    assert.ok(progress.length > 0 && progress.every(p => p.type === 'progress' && p.total === res.size && typeof p.rate === 'number'), got.stderr)

    // through the running device's control socket, with text output
    const second = join(dir, 'second.txt')
    await makeFile(second, 1000)
    const viaListen = await run(['send-file', '--home', alice.home, bob.user, second])
    assertOk(viaListen)
    assert.doesNotMatch(viaListen.stdout, /served while/)
    const id2 = /file id ([0-9a-f]{32})/.exec(viaListen.stdout)?.[1]
    assert.ok(id2 != null)
    const text = await run(['get', '--home', bob.home, id2, '--to', join(dir, 'inbox')])
    assertOk(text)
    assert.match(text.stdout, /^saved .*inbox\/second\.txt \(1000 B, sha256 verified\)\n$/)
    assert.match(text.stderr, /receiving second\.txt: 1000 B \/ 1000 B \(100%\)/)
    assert.deepEqual(await readdir(join(dir, 'inbox')), ['second.txt'])

    const list = await json<FileEntry[]>(bob, 'files')
    assert.deepEqual(list.map(f => [f.id, f.state]).sort(), [[id, 'done'], [id2, 'done']].sort())
    const aliceList = await run(['files', '--home', alice.home])
    assertOk(aliceList)
    assert.match(aliceList.stdout, new RegExp(`${id} +shared +to ${bob.user} +report one\\.bin \\(6\\.0 MiB\\)`))
    // a file id that is not there: one clear line
    const missing = await run(['get', '--home', bob.home, '0123456789abcdef0123456789abcdef'])
    assert.equal(missing.code, 3)
    assert.match(missing.stderr, /^meshchat: no file offer "0123456789abcdef0123456789abcdef" on this device/)
    await listen.stop()
  })

  it('a receiver killed with SIGKILL mid-transfer resumes from its last verified chunk', async function () {
    const [alice, bob] = await Promise.all([person('alice'), person('bob')])
    await chatting(alice, bob)
    const listen = await each.startListen(alice.home, { env: ENV })
    const dir = await each.tempDir('files')
    const path = join(dir, 'big.bin')
    const size = 160 * MiB
    await makeFile(path, size)
    const offered = await json<{ id: string, offer: { chunks: number, chunkSize: number } }>(alice, 'send-file', bob.user, path)

    const getter = each.spawn(['get', '--home', bob.home, offered.id, '--json'], { env: ENV })
    let stderr = ''
    const moving = new Promise<void>((resolve, reject) => {
      getter.stderr?.setEncoding('utf8').on('data', (s: string) => {
        stderr += s
        if (/"phase":"receiving","bytes":[1-9]/.test(stderr)) resolve()
      })
      getter.once('exit', () => { reject(new Error(`get exited before it moved: ${stderr}`)) })
    })
    await moving
    getter.kill('SIGKILL')
    await waitForExit(getter, 5_000)
    assert.equal(getter.signalCode, 'SIGKILL')

    const [cut] = await json<FileEntry[]>(bob, 'files')
    assert.equal(cut?.state, 'paused')
    assert.ok(cut.bytes > 0 && cut.bytes < size, `cut at ${cut.bytes}`)
    assert.equal(cut.bytes % offered.offer.chunkSize, 0)
    assert.ok(!(await readdir(join(bob.home, 'files'))).includes('big.bin'), 'nothing looks received')

    const again = await json<Got>(bob, 'get', offered.id)
    assert.equal(again.resumedFrom, cut.bytes, 'resumed from the last chunk recorded')
    assert.equal(await sha256Of(again.path), await sha256Of(path))
    const [done] = await json<FileEntry[]>(bob, 'files')
    assert.equal(done?.state, 'done')
    await listen.stop()
  })

  it('a sender killed with SIGKILL mid-transfer: the receiver\'s running device resumes by itself when it is back', async function () {
    const [alice, bob] = await Promise.all([person('alice'), person('bob')])
    await chatting(alice, bob)
    const aliceListen = await each.startListen(alice.home, { env: ENV })
    const bobListen = await each.startListen(bob.home, { env: ENV })
    const dir = await each.tempDir('files')
    const path = join(dir, 'sent.bin')
    const size = 160 * MiB
    await makeFile(path, size)
    const offered = await json<{ id: string }>(alice, 'send-file', bob.user, path)

    // bob's get runs in his listen process (control socket): its progress comes back on stderr
    const getter = each.spawn(['get', '--home', bob.home, offered.id], { env: ENV })
    let stderr = ''
    let stdout = ''
    getter.stdout?.setEncoding('utf8').on('data', (s: string) => { stdout += s })
    const moving = new Promise<void>((resolve, reject) => {
      getter.stderr?.setEncoding('utf8').on('data', (s: string) => {
        stderr += s
        if (/receiving sent\.bin: [1-9]/.test(stderr)) resolve()
      })
      getter.once('exit', () => { reject(new Error(`get exited before it moved: ${stderr}`)) })
    })
    await moving
    await aliceListen.kill('SIGKILL')
    await waitForExit(getter, 30_000)
    assert.equal(getter.exitCode, 8, `get: ${stdout} ${stderr}`)
    assert.match(stderr, /^meshchat: sent\.bin: transfer paused at \d+%/m)
    const [cut] = await json<FileEntry[]>(bob, 'files')
    assert.equal(cut?.state, 'paused')
    assert.ok(cut.bytes > 0 && cut.bytes < size, `cut at ${cut.bytes}`)

    // alice's device comes back: bob's running device picks the transfer up without being asked
    await each.startListen(alice.home, { env: ENV })
    await bobListen.waitFor(l => l.type === 'file' && (l.file as FileEntry).id === offered.id && (l.file as FileEntry).state === 'done', 60_000, 'the resumed transfer done at bob')
    const [done] = await json<FileEntry[]>(bob, 'files')
    assert.equal(done?.state, 'done')
    assert.equal(await sha256Of(done.path!), await sha256Of(path))
    const resumed = bobListen.lines.filter(l => l.type === 'file' && (l.file as FileEntry).id === offered.id && (l.file as FileEntry).state === 'downloading')
    assert.ok(resumed.length > 0)
  })

  it('send-file to someone offline leaves the file at the node; they come online with listen, get it from there, and the copy goes', async function () {
    const [alice, bob] = await Promise.all([person('alice'), person('bob')])
    await chatting(alice, bob)
    const dir = await each.tempDir('files')
    const path = join(dir, 'while away.bin')
    await makeFile(path, 3 * MiB + 5)
    // no device of bob's runs: the one-shot command leaves the file at the node, sealed to bob's key, and waits for all of it
    const offered = await run(['send-file', '--home', alice.home, bob.user, path])
    assertOk(offered)
    const id = /file id ([0-9a-f]{32})/.exec(offered.stdout)?.[1]
    assert.ok(id != null, offered.stdout)
    assert.match(offered.stdout, new RegExp(`^${bob.user} is offline: the file waits for them at the rendezvous node, sealed to their key$`, 'm'))
    assert.match(offered.stderr, /uploading while away\.bin: 3\.0 MiB \/ 3\.0 MiB \(100%\)/)
    const aliceList = await run(['files', '--home', alice.home])
    assertOk(aliceList)
    assert.match(aliceList.stdout, new RegExp(`${id} +shared +to ${bob.user} +while away\\.bin \\(3\\.0 MiB\\) .*\\(waits for ${bob.user} at the rendezvous node\\)`))
    // the node keeps it under files/<recipient>/<sender>/<sha256>/, sealed part by part
    const sealedOnNode = async (): Promise<string[]> => await readdir(join(server.dataDir, 'files', bob.user, alice.user)).catch(() => [] as string[])
    assert.equal((await sealedOnNode()).length, 1)

    // bob comes online (alice is not): his running device learns the offer; get fetches it from the node
    const listen = await each.startListen(bob.home, { env: ENV })
    await listen.waitFor(l => l.type === 'message' && l.id === id, 30_000, 'the offer at bob')
    const got = await run(['get', '--home', bob.home, id])
    assertOk(got)
    assert.match(got.stdout, /^saved .*while away\.bin \(3\.0 MiB, sha256 verified\)\n$/)
    const [done] = await json<FileEntry[]>(bob, 'files')
    assert.equal(done?.state, 'done')
    assert.equal(await sha256Of(done.path!), await sha256Of(path))
    // fetched and verified: nothing waits for bob at the node any more
    assert.deepEqual(await sealedOnNode(), [])
    await listen.stop()
  })

  it('send-file to someone offline over their quota: one clear line, exit code 14, and the offer stands', async function () {
    const small = await each.startServe({ args: [...SERVE_ARGS, '--file-quota', '64KiB'], env: ENV })
    const [alice, bob] = await Promise.all([commands.person(small.address, 'alice'), commands.person(small.address, 'bob')])
    await chatting(alice, bob)
    const dir = await each.tempDir('files')
    const path = join(dir, 'large.bin')
    await makeFile(path, 200 * 1024)
    const offered = await run(['send-file', '--home', alice.home, bob.user, path])
    assert.equal(offered.code, 14, offered.stderr)
    assert.match(offered.stderr, new RegExp(`^meshchat: ${bob.user} is offline and large\\.bin cannot wait for them at the rendezvous node: .*The offer stands: ${bob.user} can fetch it from this device when both are online \\(file id [0-9a-f]{32}\\)\\n$`, 'm'))
    assert.deepEqual(await readdir(join(small.dataDir, 'files')).catch(() => []), [])
    // the offer went: bob sees it, and fetches it from alice's running device
    const listen = await each.startListen(alice.home, { env: ENV })
    const [offer] = await json<FileEntry[]>(bob, 'files')
    assert.equal(offer?.state, 'offered')
    const got = await json<Got>(bob, 'get', offer.id)
    assert.equal(await sha256Of(got.path), await sha256Of(path))
    await listen.stop()
  })
})
