import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, stat, writeFile, readdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import {
  hashPassword, issueCertificate, loadOrCreateKey, newMessageId, publicKeyOf, signEnvelope,
  verifyCertificate, verifyEnvelope, verifyEnvelopes, verifyPassword, EnvelopeChain, EnvelopeChecks
} from '../../src/crypto/index.js'
import {
  CERT_LIFETIME_MS, MAX_CLOCK_SKEW_MS, certificate as certificateSchema, envelope as envelopeSchema
} from '../../src/protocol/index.js'
import type { Certificate, Envelope } from '../../src/protocol/index.js'
import type { PrivateKey } from '@libp2p/interface'

const NOW = 1_700_000_000_000
const FAST_SCRYPT = { N: 1024, r: 8, p: 1 }

/** A copy of a base64url signature with its first byte changed. */
function flipSig (sig: string): string {
  return (sig[0] === 'A' ? 'B' : 'A') + sig.slice(1)
}

describe('crypto', function () {
  let serverKey: PrivateKey
  let otherServerKey: PrivateKey
  let deviceKey: PrivateKey
  let otherDeviceKey: PrivateKey
  let device: string
  let otherDevice: string

  before(async () => {
    serverKey = await generateKeyPair('Ed25519')
    otherServerKey = await generateKeyPair('Ed25519')
    deviceKey = await generateKeyPair('Ed25519')
    otherDeviceKey = await generateKeyPair('Ed25519')
    device = peerIdFromPrivateKey(deviceKey).toString()
    otherDevice = peerIdFromPrivateKey(otherDeviceKey).toString()
  })

  describe('certificates', function () {
    let cert: Certificate

    beforeEach(async () => {
      cert = await issueCertificate(serverKey, 'alice', device, NOW)
    })

    it('issues a certificate with the given fields and lifetime', () => {
      assert.equal(cert.v, 1)
      assert.equal(cert.user, 'alice')
      assert.equal(cert.device, device)
      assert.equal(cert.issued, NOW)
      assert.equal(cert.expires, NOW + CERT_LIFETIME_MS)
      assert.match(cert.sig, /^[A-Za-z0-9_-]+$/)
    })

    it('verifies a good certificate', async () => {
      await verifyCertificate(serverKey.publicKey, cert, { now: NOW + 1000 })
      await verifyCertificate(serverKey.publicKey, cert, { user: 'alice', device, now: NOW })
    })

    it('refuses an expired certificate', async () => {
      await assert.rejects(verifyCertificate(serverKey.publicKey, cert, { now: cert.expires }), { name: 'InvalidCertificateError' })
      await assert.rejects(verifyCertificate(serverKey.publicKey, cert, { now: cert.expires + 1 }), { name: 'InvalidCertificateError' })
      await verifyCertificate(serverKey.publicKey, cert, { now: cert.expires - 1 })
    })

    it('refuses a certificate that has a short custom lifetime once it ran out', async () => {
      const short = await issueCertificate(serverKey, 'alice', device, NOW, 1000)
      assert.equal(short.expires, NOW + 1000)
      await verifyCertificate(serverKey.publicKey, short, { now: NOW + 999 })
      await assert.rejects(verifyCertificate(serverKey.publicKey, short, { now: NOW + 1000 }), { name: 'InvalidCertificateError' })
    })

    it('refuses a certificate issued too far in the future', async () => {
      const future = await issueCertificate(serverKey, 'alice', device, NOW + 10 * 60_000)
      await assert.rejects(verifyCertificate(serverKey.publicKey, future, { now: NOW }), { name: 'InvalidCertificateError' })
    })

    it('refuses a certificate for another device', async () => {
      await assert.rejects(verifyCertificate(serverKey.publicKey, cert, { device: otherDevice, now: NOW }), { name: 'InvalidCertificateError' })
    })

    it('refuses a certificate for another user', async () => {
      await assert.rejects(verifyCertificate(serverKey.publicKey, cert, { user: 'bob', now: NOW }), { name: 'InvalidCertificateError' })
    })

    it('refuses a certificate signed by another key', async () => {
      const forged = await issueCertificate(otherServerKey, 'alice', device, NOW)
      await assert.rejects(verifyCertificate(serverKey.publicKey, forged, { now: NOW }), { name: 'InvalidCertificateError' })
      // and the genuine one does not verify under the other key
      await assert.rejects(verifyCertificate(otherServerKey.publicKey, cert, { now: NOW }), { name: 'InvalidCertificateError' })
    })

    it('refuses a certificate signed by the device itself', async () => {
      const self = await issueCertificate(deviceKey, 'alice', device, NOW)
      await assert.rejects(verifyCertificate(serverKey.publicKey, self, { now: NOW }), { name: 'InvalidCertificateError' })
    })

    it('refuses a certificate with any tampered field, also right after the good one was checked (and kept)', async () => {
      await verifyCertificate(serverKey.publicKey, cert, { now: NOW })
      const tampered: Certificate[] = [
        { ...cert, user: 'mallory' },
        { ...cert, device: otherDevice },
        { ...cert, issued: cert.issued - 1 },
        { ...cert, expires: cert.expires + CERT_LIFETIME_MS },
        { ...cert, sig: flipSig(cert.sig) },
        { ...cert, sig: '' },
        { ...cert, sig: cert.sig.slice(0, 20) }
      ]
      for (const c of tampered) {
        await assert.rejects(verifyCertificate(serverKey.publicKey, c, { now: NOW }), { name: 'InvalidCertificateError' }, JSON.stringify(c))
      }
    })

    it('still verifies after a trip through JSON and the schema with its keys reordered', async () => {
      const reordered = Object.fromEntries(Object.entries(cert).reverse())
      const again = certificateSchema.parse(JSON.parse(JSON.stringify(reordered)))
      await verifyCertificate(serverKey.publicKey, again, { user: 'alice', device, now: NOW })
    })
  })

  describe('envelopes', function () {
    let cert: Certificate
    let env: Envelope

    beforeEach(async () => {
      cert = await issueCertificate(serverKey, 'alice', device, NOW)
      env = await signEnvelope(deviceKey, cert, { conv: 'dm:alice:bob', kind: 'text', body: { text: 'hi bob' }, sentAt: NOW + 10 })
    })

    it('fills author, device, id and version from the certificate', () => {
      assert.equal(env.v, 1)
      assert.equal(env.author, 'alice')
      assert.equal(env.device, device)
      assert.match(env.id, /^[0-9a-f]{32}$/)
      assert.equal(env.sentAt, NOW + 10)
      assert.deepEqual(env.cert, cert)
      assert.equal(envelopeSchema.safeParse(env).success, true)
    })

    it('makes a fresh id for every envelope unless one is given', async () => {
      const again = await signEnvelope(deviceKey, cert, { conv: 'dm:alice:bob', kind: 'text', body: { text: 'hi bob' }, sentAt: NOW + 10 })
      assert.notEqual(again.id, env.id)
      const fixed = await signEnvelope(deviceKey, cert, { id: 'ab'.repeat(16), conv: 'dm:alice:bob', kind: 'text', body: { text: 'x' } })
      assert.equal(fixed.id, 'ab'.repeat(16))
      assert.notEqual(newMessageId(), newMessageId())
    })

    it('verifies a good envelope', async () => {
      await verifyEnvelope(serverKey.publicKey, env, NOW + 1000)
    })

    it('verifies an envelope after a trip through JSON with its keys reordered', async () => {
      const reordered = JSON.parse(JSON.stringify(Object.fromEntries(Object.entries(env).reverse()))) as Envelope
      await verifyEnvelope(serverKey.publicKey, envelopeSchema.parse(reordered), NOW + 1000)
    })

    it('refuses a tampered body', async () => {
      await assert.rejects(verifyEnvelope(serverKey.publicKey, { ...env, body: { text: 'hi bob!' } } as Envelope, NOW), { name: 'InvalidSignatureError' })
    })

    it('refuses any other tampered signed field', async () => {
      const tampered: Envelope[] = [
        { ...env, id: 'f'.repeat(32) },
        { ...env, conv: 'dm:alice:carol' },
        { ...env, sentAt: env.sentAt - 1 },
        { ...env, sig: flipSig(env.sig) },
        { ...env, sig: '' }
      ]
      for (const e of tampered) {
        await assert.rejects(verifyEnvelope(serverKey.publicKey, e, NOW), { name: 'InvalidSignatureError' }, JSON.stringify(e))
      }
    })

    it('refuses a tampered author', async () => {
      await assert.rejects(verifyEnvelope(serverKey.publicKey, { ...env, author: 'mallory' }, NOW), { name: 'InvalidCertificateError' })
    })

    it('refuses an envelope carrying another device\'s certificate', async () => {
      const otherCert = await issueCertificate(serverKey, 'alice', otherDevice, NOW)
      await assert.rejects(verifyEnvelope(serverKey.publicKey, { ...env, cert: otherCert }, NOW), { name: 'InvalidCertificateError' })
    })

    it('refuses an envelope whose certificate was not issued by the server', async () => {
      const forged = await issueCertificate(otherServerKey, 'alice', device, NOW)
      const e = await signEnvelope(deviceKey, forged, { conv: 'dm:alice:bob', kind: 'text', body: { text: 'hi' }, sentAt: NOW })
      await assert.rejects(verifyEnvelope(serverKey.publicKey, e, NOW), { name: 'InvalidCertificateError' })
    })

    it('refuses an envelope whose certificate expired', async () => {
      await assert.rejects(verifyEnvelope(serverKey.publicKey, env, cert.expires), { name: 'InvalidCertificateError' })
    })

    it('refuses an envelope signed by another device key', async () => {
      const e = await signEnvelope(otherDeviceKey, cert, { conv: 'dm:alice:bob', kind: 'text', body: { text: 'hi' }, sentAt: NOW })
      assert.equal(e.device, device) // it claims the certified device...
      await assert.rejects(verifyEnvelope(serverKey.publicKey, e, NOW), { name: 'InvalidSignatureError' })
    })

    it('refuses an envelope whose device and certificate were both switched to another device', async () => {
      // a valid certificate for otherDevice, but the signature is still deviceKey's
      const otherCert = await issueCertificate(serverKey, 'alice', otherDevice, NOW)
      await assert.rejects(verifyEnvelope(serverKey.publicKey, { ...env, device: otherDevice, cert: otherCert }, NOW), { name: 'InvalidSignatureError' })
    })

    it('refuses an envelope dated too far in the future', async () => {
      const e = await signEnvelope(deviceKey, cert, { conv: 'dm:alice:bob', kind: 'text', body: { text: 'hi' }, sentAt: NOW + MAX_CLOCK_SKEW_MS + 1 })
      await assert.rejects(verifyEnvelope(serverKey.publicKey, e, NOW), { name: 'InvalidMessageError' })
      const edge = await signEnvelope(deviceKey, cert, { conv: 'dm:alice:bob', kind: 'text', body: { text: 'hi' }, sentAt: NOW + MAX_CLOCK_SKEW_MS })
      await verifyEnvelope(serverKey.publicKey, edge, NOW)
    })
  })

  describe('chained envelopes (prev, verifyEnvelopes)', function () {
    const conv = 'dm:alice:bob'
    let cert: Certificate

    beforeEach(async () => {
      cert = await issueCertificate(serverKey, 'alice', device, NOW)
    })

    /** `count` messages numbered from `from`, signed with `chain`. */
    async function run (chain: EnvelopeChain | undefined, count: number, from = 1, key = deviceKey, c = cert): Promise<Envelope[]> {
      const out: Envelope[] = []
      for (let n = from; n < from + count; n++) {
        out.push(await signEnvelope(key, c, { conv, kind: 'text', body: { text: `m${n}` }, n, sentAt: NOW + n }, chain == null ? {} : { chain }))
      }
      return out
    }

    it('carries the previous message\'s hash from the second message of a conversation on, and each still verifies alone', async () => {
      const chain = new EnvelopeChain()
      const msgs = await run(chain, 3)
      assert.equal(msgs[0]!.prev, undefined)
      assert.match(msgs[1]!.prev!, /^[A-Za-z0-9_-]{43}$/)
      assert.notEqual(msgs[1]!.prev, msgs[2]!.prev)
      for (const m of msgs) await verifyEnvelope(serverKey.publicKey, envelopeSchema.parse(JSON.parse(JSON.stringify(m))), NOW + 1000)
      // a prev that is not a SHA-256 in base64url is refused by the schema, with the field named
      const bad = envelopeSchema.safeParse({ ...msgs[1]!, prev: 'abc' })
      assert.equal(bad.success, false)
      assert.deepEqual(bad.error?.issues.map(i => [i.path.join('.'), i.message]), [['prev', 'invalid prev hash']])
      // prev is signed: changing it breaks the signature
      await assert.rejects(verifyEnvelope(serverKey.publicKey, { ...msgs[2]!, prev: msgs[1]!.prev }, NOW + 1000), { name: 'InvalidSignatureError' })
      // a number that does not follow, another conversation, or no number: no prev
      assert.equal((await run(chain, 1, 7))[0]!.prev, undefined)
      assert.equal((await signEnvelope(deviceKey, cert, { conv: 'dm:alice:carol', kind: 'text', body: { text: 'x' }, n: 8 }, { chain })).prev, undefined)
      assert.equal((await signEnvelope(deviceKey, cert, { conv, kind: 'text', body: { text: 'x' } }, { chain })).prev, undefined)
    })

    it('forgets the conversation signed in least lately past its bound', async () => {
      const chain = new EnvelopeChain(2)
      const sign = async (c: string, n: number): Promise<Envelope> => await signEnvelope(deviceKey, cert, { conv: c, kind: 'text', body: { text: 'x' }, n }, { chain })
      await sign('dm:alice:bob', 1)
      await sign('dm:alice:carol', 1)
      await sign('dm:alice:dave', 1)
      assert.equal((await sign('dm:alice:bob', 2)).prev, undefined)
      assert.notEqual((await sign('dm:alice:dave', 2)).prev, undefined)
    })

    it('checks one signature for a run of chained messages, in any order', async () => {
      const msgs = await run(new EnvelopeChain(), 20)
      const res = await verifyEnvelopes(serverKey.publicKey, msgs, { at: () => NOW + 1000 })
      assert.deepEqual(res, { ok: msgs.map(() => true), signatures: 1 })
      const shuffled = [msgs[7]!, ...msgs.slice(12), msgs[0]!, ...msgs.slice(8, 12), ...msgs.slice(1, 7)]
      assert.deepEqual(await verifyEnvelopes(serverKey.publicKey, shuffled, { at: () => NOW + 1000, offload: true }), { ok: shuffled.map(() => true), signatures: 1 })
      // unchained messages: one signature each
      const plain = await run(undefined, 5)
      assert.deepEqual(await verifyEnvelopes(serverKey.publicKey, plain, { at: () => NOW + 1000 }), { ok: plain.map(() => true), signatures: 5 })
      assert.deepEqual(await verifyEnvelopes(serverKey.publicKey, [], {}), { ok: [], signatures: 0 })
    })

    it('refuses a changed message inside a chain and still takes the messages around it', async () => {
      const msgs = await run(new EnvelopeChain(), 10)
      msgs[4] = { ...msgs[4]!, body: { text: 'pay 100' } } as Envelope
      const res = await verifyEnvelopes(serverKey.publicKey, msgs, { at: () => NOW + 1000 })
      assert.deepEqual(res.ok, msgs.map((_, i) => i !== 4))
      // the last, the changed one, then its predecessor on its own (vouched for by nothing that holds)
      assert.equal(res.signatures, 3)
    })

    it('takes a message vouched for by a holding successor, and refuses one whose voucher fails', async () => {
      const msgs = await run(new EnvelopeChain(), 3)
      // the middle one's own signature is damaged, its signed bytes are not: the third one's signature covers them
      const damaged = [msgs[0]!, { ...msgs[1]!, sig: flipSig(msgs[1]!.sig) }, msgs[2]!]
      assert.deepEqual((await verifyEnvelopes(serverKey.publicKey, damaged, { at: () => NOW + 1000 })).ok, [true, true, true])
      // the voucher's signature is damaged: the middle one is checked on its own, and fails
      const both = [msgs[0]!, damaged[1]!, { ...msgs[2]!, sig: flipSig(msgs[2]!.sig) }]
      assert.deepEqual((await verifyEnvelopes(serverKey.publicKey, both, { at: () => NOW + 1000 })).ok, [true, false, false])
    })

    it('links only consecutive numbers of one device, author and conversation', async () => {
      // a chain that hashes a message and then skips a number
      const chain = new EnvelopeChain()
      const [first] = await run(chain, 1)
      const firstHash = chain.prev(conv, 2)!
      chain.record(conv, 2, firstHash)
      const [third] = await run(chain, 1, 3)
      assert.equal(third!.prev, firstHash)
      const bad = { ...first!, sig: flipSig(first!.sig) }
      assert.deepEqual((await verifyEnvelopes(serverKey.publicKey, [bad, third!], { at: () => NOW + 1000 })).ok, [false, true])

      // another device of alice, and another user, cannot vouch for a message made to look like alice's device wrote it
      const forger = new EnvelopeChain()
      const [forged] = await run(forger, 1, 1, otherDeviceKey)
      assert.equal(forged!.device, device)
      const otherCert = await issueCertificate(serverKey, 'alice', otherDevice, NOW)
      const [fromOtherDevice] = await run(forger, 1, 2, otherDeviceKey, otherCert)
      assert.equal(fromOtherDevice!.prev != null, true)
      assert.deepEqual((await verifyEnvelopes(serverKey.publicKey, [forged!, fromOtherDevice!], { at: () => NOW + 1000 })).ok, [false, true])
      const malloryCert = await issueCertificate(serverKey, 'mallory', otherDevice, NOW)
      const forger2 = new EnvelopeChain()
      const [forged2] = await run(forger2, 1, 1, otherDeviceKey)
      const [fromMallory] = await run(forger2, 1, 2, otherDeviceKey, malloryCert)
      assert.equal(fromMallory!.prev != null, true)
      assert.deepEqual((await verifyEnvelopes(serverKey.publicKey, [forged2!, fromMallory!], { at: () => NOW + 1000 })).ok, [false, true])
    })

    it('checks every certificate and date in a chain', async () => {
      const msgs = await run(new EnvelopeChain(), 4)
      const foreign = await issueCertificate(otherServerKey, 'alice', device, NOW)
      const mixed = [msgs[0]!, { ...msgs[1]!, cert: foreign }, msgs[2]!, msgs[3]!]
      assert.deepEqual((await verifyEnvelopes(serverKey.publicKey, mixed, { at: () => NOW + 1000 })).ok, [true, false, true, true])
      // the first message's certificate had expired by the time it must have been valid at
      const late = await verifyEnvelopes(serverKey.publicKey, msgs, { at: e => e === msgs[0] ? cert.expires : NOW + 1000 })
      assert.deepEqual(late.ok, [false, true, true, true])
      // dated in the future
      assert.deepEqual((await verifyEnvelopes(serverKey.publicKey, msgs, { at: e => e === msgs[2] ? e.sentAt - MAX_CLOCK_SKEW_MS - 1 : NOW + 1000 })).ok, [true, true, false, true])
    })

    it('checks envelopes that come in one turn together, and throws what verifyEnvelope throws', async () => {
      const checks = new EnvelopeChecks(() => serverKey.publicKey)
      // checked as of now: a certificate valid now
      const msgs = await run(new EnvelopeChain(), 10, 1, deviceKey, await issueCertificate(serverKey, 'alice', device))
      await Promise.all(msgs.map(async m => { await checks.check(m) }))
      assert.deepEqual(checks.counts, { envelopes: 10, signatures: 1 })
      // one changed in the burst: refused with the named error, the others taken
      const burst = [...msgs]
      burst[3] = { ...burst[3]!, body: { text: 'changed' } } as Envelope
      const results = await Promise.allSettled(burst.map(async m => { await checks.check(m) }))
      assert.deepEqual(results.map(r => r.status), burst.map((_, i) => i === 3 ? 'rejected' : 'fulfilled'))
      assert.equal(((results[3] as PromiseRejectedResult).reason as Error).name, 'InvalidSignatureError')
      // alone: checked on its own, as before
      await checks.check(msgs[0]!)
      await assert.rejects(checks.check({ ...msgs[0]!, author: 'mallory' }), { name: 'InvalidCertificateError' })
      // a batch of at most `max` at a time
      const small = new EnvelopeChecks(() => serverKey.publicKey, 4)
      await Promise.all(msgs.map(async m => { await small.check(m) }))
      assert.deepEqual(small.counts, { envelopes: 10, signatures: 3 })
      // no node key to check with: every caller hears it, none waits forever
      const keyless = new EnvelopeChecks(() => { throw new Error('not logged in') })
      const all = await Promise.allSettled(msgs.slice(0, 3).map(async m => { await keyless.check(m) }))
      assert.deepEqual(all.map(r => r.status === 'rejected' && (r.reason as Error).message), ['not logged in', 'not logged in', 'not logged in'])
    })

    it('takes the holding branch when two messages claim the same predecessor', async () => {
      const chain = new EnvelopeChain()
      const [a, b] = await run(chain, 2)
      const fork = { ...b!, id: 'f'.repeat(32), body: { text: 'fork' } } as Envelope
      assert.deepEqual((await verifyEnvelopes(serverKey.publicKey, [a!, fork, b!], { at: () => NOW + 1000 })).ok, [true, false, true])
    })
  })

  describe('publicKeyOf', function () {
    it('returns the key inside an Ed25519 peer id', () => {
      assert.ok(publicKeyOf(device).equals(deviceKey.publicKey))
    })

    it('refuses a string that is not a peer id', () => {
      assert.throws(() => publicKeyOf('hello'), { name: 'InvalidInputError' })
    })
  })

  describe('passwords', function () {
    it('verifies the right password', async () => {
      const stored = await hashPassword('correct horse', FAST_SCRYPT)
      assert.equal(stored.alg, 'scrypt')
      assert.equal(stored.N, 1024)
      assert.equal(await verifyPassword('correct horse', stored), true)
    })

    it('refuses a wrong password', async () => {
      const stored = await hashPassword('correct horse', FAST_SCRYPT)
      assert.equal(await verifyPassword('correct horsf', stored), false)
      assert.equal(await verifyPassword('', stored), false)
      assert.equal(await verifyPassword('Correct horse', stored), false)
    })

    it('salts every hash differently', async () => {
      const a = await hashPassword('same password', FAST_SCRYPT)
      const b = await hashPassword('same password', FAST_SCRYPT)
      assert.notEqual(a.salt, b.salt)
      assert.notEqual(a.hash, b.hash)
      assert.equal(await verifyPassword('same password', a), true)
      assert.equal(await verifyPassword('same password', b), true)
    })

    it('refuses when the stored hash or salt was changed', async () => {
      const stored = await hashPassword('correct horse', FAST_SCRYPT)
      const otherSalt = (await hashPassword('x', FAST_SCRYPT)).salt
      assert.equal(await verifyPassword('correct horse', { ...stored, salt: otherSalt }), false)
      assert.equal(await verifyPassword('correct horse', { ...stored, hash: stored.hash.slice(4) }), false)
    })

    it('treats canonically equal Unicode forms as the same password', async () => {
      const stored = await hashPassword('caf\u00e9 latte', FAST_SCRYPT)
      assert.equal(await verifyPassword('cafe\u0301 latte', stored), true)
    })
  })

  describe('loadOrCreateKey', function () {
    let dir: string

    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), 'meshchat-keys-'))
    })

    afterEach(async () => {
      await rm(dir, { recursive: true, force: true })
    })

    it('creates a key owner-only, in a folder it makes', async () => {
      const path = join(dir, 'nested', 'identity.key')
      const key = await loadOrCreateKey(path)
      assert.equal(key.type, 'Ed25519')
      const st = await stat(path)
      assert.equal(st.mode & 0o777, 0o600)
      assert.equal((await stat(join(dir, 'nested'))).mode & 0o077, 0, 'the folder is owner-only')
      assert.deepEqual(await readdir(join(dir, 'nested')), ['identity.key'])
    })

    it('loads the same key again', async () => {
      const path = join(dir, 'identity.key')
      const first = await loadOrCreateKey(path)
      const bytes = await readFile(path)
      const second = await loadOrCreateKey(path)
      assert.ok(second.equals(first))
      assert.equal(peerIdFromPrivateKey(second).toString(), peerIdFromPrivateKey(first).toString())
      assert.deepEqual(await readFile(path), bytes)
    })

    it('makes a different key in another place', async () => {
      const a = await loadOrCreateKey(join(dir, 'a.key'))
      const b = await loadOrCreateKey(join(dir, 'b.key'))
      assert.equal(a.equals(b), false)
    })

    it('refuses a damaged key file and leaves it alone', async () => {
      const path = join(dir, 'identity.key')
      await writeFile(path, 'not a key at all')
      await assert.rejects(loadOrCreateKey(path), { name: 'InvalidInputError' })
      assert.equal(await readFile(path, 'utf8'), 'not a key at all')
    })

    it('refuses a truncated key file', async () => {
      const path = join(dir, 'identity.key')
      await loadOrCreateKey(path)
      const bytes = await readFile(path)
      await writeFile(path, bytes.subarray(0, bytes.length - 10))
      await assert.rejects(loadOrCreateKey(path), { name: 'InvalidInputError' })
    })

    it('gives concurrent callers the one key that is on disk', async () => {
      const path = join(dir, 'identity.key')
      const [a, b] = await Promise.all([loadOrCreateKey(path), loadOrCreateKey(path)])
      const onDisk = await loadOrCreateKey(path)
      assert.ok(a.equals(onDisk))
      assert.ok(b.equals(onDisk))
    })

    it('passes on errors other than a missing file', async () => {
      // the path is a folder: reading it fails with EISDIR, which is not "no key yet"
      await assert.rejects(loadOrCreateKey(dir), (err: unknown) => {
        assert.equal((err as NodeJS.ErrnoException).code, 'EISDIR')
        return true
      })
    })
  })
})

