import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { signBytes, verifyBytes, issueCertificate, verifyCertificate } from '../../src/crypto/index.js'

describe('crypto: cached Ed25519 key objects', () => {
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
