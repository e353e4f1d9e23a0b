import assert from 'node:assert/strict'
import { randomChunk } from '../../src/crypto/random.js'
import { stopPoolWorkers, poolWorkersBroken } from '../../src/crypto/worker-pool.js'
import { ed25519Sign, ed25519Verify } from '../../src/crypto/ed25519.js'
import { usingSodium } from '../../src/sodium.js'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { signBytes, verifyBytes, issueCertificate, verifyCertificate, generateAccountKey, seal, open, openMany, forgetSealCaches } from '../../src/crypto/index.js'
import { fromBase64url, toBase64url } from '../../src/protocol/index.js'

describe('crypto: cached Ed25519 key objects', () => {
  it('libsodium is here, and it and OpenSSL make the same signatures and accept each other\'s; both refuse malformed input', async () => {
    assert.equal(usingSodium(), true, 'sodium-native loads (its prebuilt addon) on this machine')
    const key = await generateKeyPair('Ed25519')
    const data = new TextEncoder().encode('the same bytes')
    const bySodium = ed25519Sign(key.raw, data)
    usingSodium(false)
    try {
      assert.equal(usingSodium(), false)
      const byOpenssl = ed25519Sign(key.raw, data)
      assert.deepEqual(byOpenssl, bySodium, 'Ed25519 signatures are deterministic')
      assert.equal(ed25519Verify(key.publicKey.raw, data, bySodium), true)
      assert.equal(ed25519Verify(key.publicKey.raw, data, bySodium.subarray(0, 63)), false)
      assert.equal(ed25519Verify(key.publicKey.raw.subarray(1), data, bySodium), false)
    } finally {
      usingSodium(true)
    }
    assert.equal(ed25519Verify(key.publicKey.raw, data, bySodium), true)
    assert.equal(ed25519Verify(key.publicKey.raw, data, bySodium.subarray(0, 63)), false)
    assert.equal(ed25519Verify(key.publicKey.raw.subarray(1), data, bySodium), false)
    assert.equal(ed25519Verify(new Uint8Array(32), data, bySodium), false, 'an all-zero key')
    assert.throws(() => ed25519Sign(key.raw.subarray(0, 32), data), TypeError)
  })

  for (const impl of ['libsodium', 'OpenSSL']) {
    describe(`with ${impl}`, () => {
      before(() => { usingSodium(impl === 'libsodium') })
      after(async () => { await stopPoolWorkers(); usingSodium(true) })

    it('signs what libp2p verifies and verifies what libp2p signs; a changed byte or another key fails', async () => {
      const key = await generateKeyPair('Ed25519')
      const other = await generateKeyPair('Ed25519')
      const data = new TextEncoder().encode('hello meshchat')
      const sig = await signBytes(key, data)
      assert.equal(await key.publicKey.verify(data, sig), true)
      assert.equal(await verifyBytes(key.publicKey, data, await key.sign(data)), true)
      for (let i = 0; i < 3; i++) assert.equal(await verifyBytes(key.publicKey, data, sig), true)
      const tampered = Uint8Array.from(data)
      tampered[0] = tampered[0]! ^ 1
      assert.equal(await verifyBytes(key.publicKey, tampered, sig), false)
      assert.equal(await verifyBytes(other.publicKey, data, sig), false)
      assert.equal(await verifyBytes(key.publicKey, data, sig.subarray(1)), false)
      // the other key's signatures are its own
      assert.equal(await verifyBytes(other.publicKey, data, await signBytes(other, data)), true)
    })

    describe('checks in worker threads', () => {
      const mixed = async (n: number): Promise<{ run: () => Promise<boolean[]>, expected: boolean[] }> => {
        const keys = [await generateKeyPair('Ed25519'), await generateKeyPair('Ed25519')]
        const data = Array.from({ length: n }, (_, i) => new TextEncoder().encode(`message ${i}`))
        const sigs = await Promise.all(data.map(async (d, i) => await signBytes(keys[i % 2]!, d)))
        // every third signature belongs to the next message: those must fail
        const run = async (): Promise<boolean[]> => await Promise.all(data.map(async (d, i) => await verifyBytes(keys[i % 2]!.publicKey, d, sigs[i % 3 === 2 ? (i + 1) % n : i]!, { offload: true })))
        return { run, expected: data.map((_, i) => i % 3 !== 2) }
      }
      afterEach(async () => { await stopPoolWorkers(); poolWorkersBroken(false) })

      it('answers many at once (several batches, two keys) as inline checks do', async () => {
        const { run, expected } = await mixed(700)
        assert.deepEqual(await run(), expected)
        assert.deepEqual(await run(), expected, 'and again, on the running workers')
      })

      it('answers checks a stopped worker held, and later ones, inline', async () => {
        const { run, expected } = await mixed(300)
        const pending = run()
        await new Promise(resolve => setImmediate(resolve))
        await stopPoolWorkers()
        assert.deepEqual(await pending, expected, 'what the workers held')
        assert.equal(poolWorkersBroken(), true)
        assert.deepEqual(await run(), expected, 'inline from then on')
      })
    })
    })
  }

  it('a certificate checked once is still checked field by field: a changed one fails', async () => {
    const server = await generateKeyPair('Ed25519')
    const device = await generateKeyPair('Ed25519')
    const { peerIdFromPrivateKey } = await import('@libp2p/peer-id')
    const cert = await issueCertificate(server, 'alice', peerIdFromPrivateKey(device).toString())
    await verifyCertificate(server.publicKey, cert)
    await verifyCertificate(server.publicKey, cert)
    await assert.rejects(verifyCertificate(server.publicKey, { ...cert, user: 'mallory' }), { name: 'InvalidCertificateError' })
    await assert.rejects(verifyCertificate(server.publicKey, { ...cert, expires: cert.expires + 1 }), { name: 'InvalidCertificateError' })
    await assert.rejects(verifyCertificate((await generateKeyPair('Ed25519')).publicKey, cert), { name: 'InvalidCertificateError' })
    await assert.rejects(verifyCertificate(server.publicKey, cert, { now: cert.expires + 1 }), { name: 'InvalidCertificateError' })
  })
})

describe('crypto: sealing with a kept ephemeral key', () => {
  const text = (s: string): Uint8Array => new TextEncoder().encode(s)
  const ephemeralOf = (sealed: string): string => toBase64url(Buffer.from(fromBase64url(sealed)).subarray(1, 33))

  it('seals many items to one account with one ephemeral key and a fresh IV each; only that account opens them', () => {
    const alice = generateAccountKey()
    const bob = generateAccountKey()
    const carol = generateAccountKey()
    const a = seal(bob.publicKey, text('first'), alice.publicKey)
    const b = seal(bob.publicKey, text('first'), alice.publicKey)
    assert.equal(ephemeralOf(a), ephemeralOf(b))
    assert.notEqual(a, b)
    assert.notEqual(ephemeralOf(seal(carol.publicKey, text('first'), alice.publicKey)), ephemeralOf(a))
    assert.equal(new TextDecoder().decode(open(bob, a)), 'first')
    assert.equal(new TextDecoder().decode(open(bob, b)), 'first')
    // with the derived key kept after the first open, others still cannot open it and damage is still found
    assert.throws(() => open(carol, a), { name: 'InvalidMessageError' })
    const damaged = Buffer.from(fromBase64url(b))
    damaged[damaged.length - 20] = damaged[damaged.length - 20]! ^ 1
    assert.throws(() => open(bob, toBase64url(damaged)), { name: 'InvalidMessageError' })
    const otherTag = Buffer.from(fromBase64url(a))
    otherTag[otherTag.length - 1] = otherTag[otherTag.length - 1]! ^ 1
    assert.throws(() => open(bob, toBase64url(otherTag)), { name: 'InvalidMessageError' })
  })

  it('opens what a fresh process sealed (one ephemeral key per item, as before) and refuses junk', () => {
    const bob = generateAccountKey()
    for (let i = 0; i < 3; i++) {
      // sealed to a fresh account key each time: a new ephemeral key, nothing kept applies
      const other = generateAccountKey()
      const sealed = seal(other.publicKey, text(`n${i}`))
      assert.equal(new TextDecoder().decode(open(other, sealed)), `n${i}`)
      assert.throws(() => open(bob, sealed), { name: 'InvalidMessageError' })
    }
    assert.throws(() => open(bob, 'AAAA'), { name: 'InvalidMessageError' })
  })

  it('never shares an ephemeral key between senders, and keeps none for a seal without a sender', () => {
    const alice = generateAccountKey()
    const carol = generateAccountKey()
    const bob = generateAccountKey()
    const byAlice = seal(bob.publicKey, text('from alice'), alice.publicKey)
    const byCarol = seal(bob.publicKey, text('from carol'), carol.publicKey)
    assert.notEqual(ephemeralOf(byAlice), ephemeralOf(byCarol))
    // each sender still keeps its own
    assert.equal(ephemeralOf(seal(bob.publicKey, text('again'), alice.publicKey)), ephemeralOf(byAlice))
    assert.equal(ephemeralOf(seal(bob.publicKey, text('again'), carol.publicKey)), ephemeralOf(byCarol))
    const anonymous = [seal(bob.publicKey, text('x')), seal(bob.publicKey, text('x'))].map(ephemeralOf)
    assert.notEqual(anonymous[0], anonymous[1])
    assert.ok(!anonymous.includes(ephemeralOf(byAlice)) && !anonymous.includes(ephemeralOf(byCarol)))
    assert.equal(new TextDecoder().decode(open(bob, byAlice)), 'from alice')
    assert.equal(new TextDecoder().decode(open(bob, byCarol)), 'from carol')
  })

  it('forgets what one account kept: it seals with a new ephemeral key and opens by deriving again; others keep theirs', () => {
    const alice = generateAccountKey()
    const carol = generateAccountKey()
    const bob = generateAccountKey()
    const before = seal(bob.publicKey, text('before'), alice.publicKey)
    const carols = seal(bob.publicKey, text('carol'), carol.publicKey)
    assert.equal(new TextDecoder().decode(open(bob, before)), 'before')
    forgetSealCaches(alice.publicKey)
    const after = seal(bob.publicKey, text('after'), alice.publicKey)
    assert.notEqual(ephemeralOf(after), ephemeralOf(before))
    assert.equal(ephemeralOf(seal(bob.publicKey, text('after'), alice.publicKey)), ephemeralOf(after))
    assert.equal(ephemeralOf(seal(bob.publicKey, text('carol again'), carol.publicKey)), ephemeralOf(carols))
    // the opening account forgets its derived keys and private key object: what it opened before still opens
    forgetSealCaches(bob.publicKey)
    assert.equal(new TextDecoder().decode(open(bob, before)), 'before')
    assert.equal(new TextDecoder().decode(open(bob, after)), 'after')
    assert.equal(new TextDecoder().decode(open(bob, carols)), 'carol')
    assert.throws(() => open(alice, after), { name: 'InvalidMessageError' })
    // forgetting an account that kept nothing changes nothing
    forgetSealCaches(generateAccountKey().publicKey)
    assert.equal(ephemeralOf(seal(bob.publicKey, text('still'), alice.publicKey)), ephemeralOf(after))
  })
})

describe('crypto: opening many sealed items in worker threads', () => {
  const text = (s: string): Uint8Array => new TextEncoder().encode(s)
  const read = (opened: Array<Uint8Array | undefined>): Array<string | undefined> => opened.map(p => p == null ? undefined : new TextDecoder().decode(p))
  afterEach(async () => { await stopPoolWorkers(); poolWorkersBroken(false) })

  /** 600 items from two senders, with junk of every kind among them, and what open() makes of each. */
  const page = (): { bob: ReturnType<typeof generateAccountKey>, sealed: string[], expected: Array<string | undefined> } => {
    const [alice, carol, bob, dave] = [generateAccountKey(), generateAccountKey(), generateAccountKey(), generateAccountKey()]
    const sealed: string[] = []
    const expected: Array<string | undefined> = []
    for (let i = 0; i < 600; i++) {
      const good = seal(bob.publicKey, text(`message ${i} ${'x'.repeat(i % 7)}`), i % 2 === 0 ? alice.publicKey : carol.publicKey)
      const bytes = Buffer.from(fromBase64url(good))
      let item = good
      if (i % 50 === 1) item = seal(dave.publicKey, text('for dave'), alice.publicKey)
      if (i % 50 === 2) { bytes[bytes.length - 20] = bytes[bytes.length - 20]! ^ 1; item = toBase64url(bytes) }
      if (i % 50 === 3) { bytes[0] = 2; item = toBase64url(bytes) }
      if (i % 50 === 4) item = good.slice(0, 60)
      if (i % 50 === 5) item = `!${good.slice(1)}`
      if (i % 50 === 6) item = ''
      sealed.push(item)
      expected.push(item === good ? `message ${i} ${'x'.repeat(i % 7)}` : undefined)
    }
    return { bob, sealed, expected }
  }

  it('opens a page as open() does, item by item, in order; junk and items for others are undefined', async () => {
    const { bob, sealed, expected } = page()
    assert.deepEqual(sealed.map(s => { try { return new TextDecoder().decode(open(bob, s)) } catch { return undefined } }), expected, 'open() agrees')
    forgetSealCaches(bob.publicKey)
    assert.deepEqual(read(await openMany(bob, sealed)), expected)
    assert.deepEqual(read(await openMany(bob, sealed)), expected, 'again, with the keys it kept')
    assert.deepEqual(await openMany(bob, []), [])
  })

  it('opens inline what a stopped worker held, and everything after', async () => {
    const { bob, sealed, expected } = page()
    const pending = openMany(bob, sealed)
    await stopPoolWorkers()
    assert.deepEqual(read(await pending), expected, 'what the worker held')
    assert.equal(poolWorkersBroken(), true)
    assert.deepEqual(read(await openMany(bob, sealed)), expected, 'inline from then on')
  })
})

describe('crypto: pooled random bytes', () => {
  it('hands out fresh bytes of the size asked, never the same twice, across pool refills', () => {
    const seen = new Set<string>()
    for (let i = 0; i < 2_000; i++) {
      const chunk = randomChunk(i % 3 === 0 ? 12 : 16)
      assert.equal(chunk.length, i % 3 === 0 ? 12 : 16)
      const hex = chunk.toString('hex')
      assert.ok(!seen.has(hex), `chunk ${i} was handed out before`)
      seen.add(hex)
    }
    assert.equal(randomChunk(10_000).length, 10_000, 'a large request bypasses the pool')
  })

  it('gives the caller its own copy: changing it changes no later chunk', () => {
    const a = randomChunk(16)
    a.fill(7)
    const b = randomChunk(16)
    assert.notDeepEqual(b, Buffer.alloc(16, 7))
    assert.notDeepEqual(b, Buffer.alloc(16, 0))
  })
})
