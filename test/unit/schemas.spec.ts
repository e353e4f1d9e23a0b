import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import {
  authRequest, certificate, envelope, sessionClientFrame, sessionServerFrame, text,
  MIN_HEARTBEAT_MS, MAX_HEARTBEAT_MS,
  MAX_ADDR_LENGTH, MAX_ADDRS, MAX_PASSWORD_LENGTH, MAX_TEXT_BYTES
} from '../../src/protocol/index.js'
import type { Certificate, Envelope } from '../../src/protocol/index.js'

const utf8 = new TextEncoder()

function accepts (schema: { safeParse: (v: unknown) => { success: boolean } }, value: unknown): void {
  const r = schema.safeParse(value)
  assert.equal(r.success, true, `expected ${JSON.stringify(value).slice(0, 200)} to be accepted`)
}

function rejects (schema: { safeParse: (v: unknown) => { success: boolean } }, value: unknown): void {
  const r = schema.safeParse(value)
  assert.equal(r.success, false, `expected ${JSON.stringify(value).slice(0, 200)} to be rejected`)
}

describe('schemas', function () {
  let peer: string
  let cert: Certificate
  let env: Envelope

  before(async () => {
    peer = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
  })

  beforeEach(() => {
    cert = { v: 1, user: 'alice', device: peer, issued: 1_700_000_000_000, expires: 1_702_592_000_000, sig: 'A'.repeat(86) }
    env = {
      v: 1,
      id: '0123456789abcdef0123456789abcdef',
      conv: 'dm:alice:bob',
      author: 'alice',
      device: peer,
      sentAt: 1_700_000_000_500,
      kind: 'text',
      body: { text: 'hello' },
      cert,
      sig: 'B_-'.repeat(28)
    }
  })

  describe('certificate', function () {
    it('accepts a well-formed certificate', () => {
      accepts(certificate, cert)
    })

    it('refuses another version', () => {
      rejects(certificate, { ...cert, v: 2 })
      rejects(certificate, { ...cert, v: '1' })
    })

    it('refuses a bad username', () => {
      for (const user of ['Alice', 'al', '1alice', '']) rejects(certificate, { ...cert, user })
    })

    it('refuses bad peer ids', () => {
      for (const device of ['', 'not-a-peer-id', peer.slice(0, 20), `${peer}0`, peer.replace(/.$/, 'l'), '1'.repeat(65), 'O'.repeat(52)]) {
        rejects(certificate, { ...cert, device })
      }
    })

    it('refuses non-integer, negative or huge timestamps', () => {
      rejects(certificate, { ...cert, issued: -1 })
      rejects(certificate, { ...cert, issued: 1.5 })
      rejects(certificate, { ...cert, expires: 2 ** 47 + 1 })
      rejects(certificate, { ...cert, expires: '1702592000000' })
    })

    it('refuses a signature that is not base64url or is too long', () => {
      rejects(certificate, { ...cert, sig: 'abc+/=' })
      rejects(certificate, { ...cert, sig: 'a'.repeat(201) })
      accepts(certificate, { ...cert, sig: 'a'.repeat(200) })
    })

    it('refuses a certificate with a field missing', () => {
      const { sig: _sig, ...unsigned } = cert
      rejects(certificate, unsigned)
    })
  })

  describe('text', function () {
    it('accepts text of exactly MAX_TEXT_BYTES bytes', () => {
      accepts(text, 'a'.repeat(MAX_TEXT_BYTES))
    })

    it('refuses empty text', () => {
      rejects(text, '')
    })

    it('refuses text one byte over MAX_TEXT_BYTES', () => {
      rejects(text, 'a'.repeat(MAX_TEXT_BYTES + 1))
    })

    it('counts multi-byte characters by their UTF-8 bytes', () => {
      // "€" is 3 bytes: 5,462 of them are 16,386 bytes in 5,462 characters
      const euros = '€'.repeat(Math.floor(MAX_TEXT_BYTES / 3) + 1)
      assert.ok(euros.length < MAX_TEXT_BYTES)
      assert.ok(utf8.encode(euros).length > MAX_TEXT_BYTES)
      rejects(text, euros)
      // an emoji is 4 bytes (2 UTF-16 units): 4,096 of them fit exactly, one more does not
      accepts(text, '😀'.repeat(MAX_TEXT_BYTES / 4))
      rejects(text, '😀'.repeat(MAX_TEXT_BYTES / 4 + 1))
    })

    it('counts a multi-byte character that crosses the limit', () => {
      accepts(text, 'a'.repeat(MAX_TEXT_BYTES - 2) + 'é')
      rejects(text, 'a'.repeat(MAX_TEXT_BYTES - 1) + 'é')
    })
  })

  describe('envelope', function () {
    it('accepts a well-formed direct message and room message', () => {
      accepts(envelope, env)
      accepts(envelope, { ...env, conv: 'room:global' })
    })

    it('refuses bad message ids', () => {
      for (const id of ['', '0123456789ABCDEF0123456789ABCDEF', '0123456789abcdef', `${env.id}0`, 'g'.repeat(32), 42]) {
        rejects(envelope, { ...env, id })
      }
    })

    it('refuses bad conversation ids', () => {
      for (const conv of ['', 'global', 'dm:', 'room:', 'room:Global', 'dm:alice bob', 'chat:alice', `room:${'r'.repeat(80)}`]) {
        rejects(envelope, { ...env, conv })
      }
    })

    it('refuses a bad author or device', () => {
      rejects(envelope, { ...env, author: 'Alice' })
      rejects(envelope, { ...env, device: 'QmNot0lI' })
    })

    it('refuses another kind', () => {
      rejects(envelope, { ...env, kind: 'file' })
    })

    it('refuses oversized text, counted in UTF-8 bytes', () => {
      rejects(envelope, { ...env, body: { text: 'a'.repeat(MAX_TEXT_BYTES + 1) } })
      rejects(envelope, { ...env, body: { text: 'ж'.repeat(MAX_TEXT_BYTES / 2 + 1) } })
      accepts(envelope, { ...env, body: { text: 'ж'.repeat(MAX_TEXT_BYTES / 2) } })
    })

    it('refuses a body without text', () => {
      rejects(envelope, { ...env, body: {} })
      rejects(envelope, { ...env, body: { text: 7 } })
    })

    it('refuses an envelope whose certificate is malformed', () => {
      rejects(envelope, { ...env, cert: { ...cert, device: 'x' } })
      rejects(envelope, { ...env, cert: undefined })
    })

    it('refuses a bad signature encoding', () => {
      rejects(envelope, { ...env, sig: 'a b' })
    })
  })

  describe('authRequest', function () {
    const accountKey = {
      publicKey: 'A'.repeat(43),
      wrapped: { v: 1, alg: 'scrypt-aes256gcm', N: 1024, r: 8, p: 1, salt: 'c2FsdA', iv: 'aXY', ct: 'Y3Q' }
    }

    it('accepts register, login and logout', () => {
      accepts(authRequest, { op: 'register', user: 'alice', password: 'hunter22', accountKey })
      accepts(authRequest, { op: 'login', user: 'alice', password: 'hunter22' })
      accepts(authRequest, { op: 'logout', cert })
    })

    it('refuses an unknown op', () => {
      rejects(authRequest, { op: 'delete', user: 'alice', password: 'hunter22' })
      rejects(authRequest, { user: 'alice', password: 'hunter22' })
    })

    it('refuses a missing password, a register without an account key, or a logout without a valid certificate', () => {
      rejects(authRequest, { op: 'login', user: 'alice' })
      rejects(authRequest, { op: 'register', user: 'alice', password: 'hunter22' })
      rejects(authRequest, { op: 'register', user: 'alice', password: 'hunter22', accountKey: { ...accountKey, publicKey: 'short' } })
      rejects(authRequest, { op: 'logout' })
      rejects(authRequest, { op: 'logout', cert: { ...cert, sig: '!' } })
    })

    it('bounds user and password lengths', () => {
      accepts(authRequest, { op: 'login', user: 'u'.repeat(64), password: 'p'.repeat(MAX_PASSWORD_LENGTH + 1) })
      rejects(authRequest, { op: 'login', user: 'u'.repeat(65), password: 'hunter22' })
      rejects(authRequest, { op: 'register', user: 'alice', password: 'p'.repeat(MAX_PASSWORD_LENGTH + 2) })
    })
  })

  describe('sessionClientFrame', function () {
    const addr = '/ip4/127.0.0.1/tcp/4001'

    it('accepts hello, ping and addrs', () => {
      accepts(sessionClientFrame, { t: 'hello', cert, addrs: [addr] })
      accepts(sessionClientFrame, { t: 'hello', cert, addrs: [] })
      accepts(sessionClientFrame, { t: 'ping', n: 0 })
      accepts(sessionClientFrame, { t: 'addrs', addrs: [addr] })
    })

    it('accepts exactly MAX_ADDRS addresses and refuses more', () => {
      const many = Array.from({ length: MAX_ADDRS }, (_, i) => `/ip4/10.0.0.${i}/tcp/4001`)
      accepts(sessionClientFrame, { t: 'addrs', addrs: many })
      accepts(sessionClientFrame, { t: 'hello', cert, addrs: many })
      rejects(sessionClientFrame, { t: 'addrs', addrs: [...many, addr] })
      rejects(sessionClientFrame, { t: 'hello', cert, addrs: [...many, addr] })
    })

    it('refuses empty or overlong addresses', () => {
      rejects(sessionClientFrame, { t: 'addrs', addrs: [''] })
      accepts(sessionClientFrame, { t: 'addrs', addrs: ['/'.repeat(MAX_ADDR_LENGTH)] })
      rejects(sessionClientFrame, { t: 'addrs', addrs: ['/'.repeat(MAX_ADDR_LENGTH + 1)] })
    })

    it('refuses a hello with a bad certificate or without addrs', () => {
      rejects(sessionClientFrame, { t: 'hello', cert: { ...cert, device: 'nope' }, addrs: [] })
      rejects(sessionClientFrame, { t: 'hello', cert })
    })

    it('refuses a negative or fractional ping counter', () => {
      rejects(sessionClientFrame, { t: 'ping', n: -1 })
      rejects(sessionClientFrame, { t: 'ping', n: 0.5 })
      rejects(sessionClientFrame, { t: 'ping' })
    })

    it('refuses an unknown frame type', () => {
      rejects(sessionClientFrame, { t: 'bye' })
      rejects(sessionClientFrame, {})
    })
  })

  describe('sessionServerFrame: the welcome', function () {
    it('takes a heartbeat only from MIN_HEARTBEAT_MS to MAX_HEARTBEAT_MS, whole milliseconds', function () {
      const welcome = (heartbeatMs: unknown): unknown => ({ t: 'welcome', cert, heartbeatMs, users: [] })
      for (const ok of [MIN_HEARTBEAT_MS, 2_000, 10_000, MAX_HEARTBEAT_MS]) accepts(sessionServerFrame, welcome(ok))
      // a node asking for a beat every millisecond (or a timer past Node's limit, which fires at once)
      for (const bad of [0, 1, MIN_HEARTBEAT_MS - 1, MAX_HEARTBEAT_MS + 1, 2 ** 31, 1500.5, -2_000, '2000', null]) rejects(sessionServerFrame, welcome(bad))
    })
  })
})
