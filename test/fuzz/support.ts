/**
 * Shared pieces of the fuzz tests: fast-check run parameters, valid sample frames of every wire
 * schema, and arbitraries that damage them (truncate, drop, duplicate, retype, oversize).
 */
import fc from 'fast-check'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { encodeFrame } from '../../src/protocol/index.js'
import { issueCertificate, signEnvelope, EnvelopeChain, generateAccountKey, wrapAccountKey, seal, newRoomKey, sealRoomContent, sealPastKeys } from '../../src/crypto/index.js'
import { TEST_SCRYPT } from '../../src/testing/index.js'
import type { Parameters } from 'fast-check'

/**
 * Every property runs from a fixed seed so that a failure is reproducible; fast-check prints the
 * seed and the shrunk counterexample when one fails. `FC_SEED=<n>` replays or explores another.
 */
export const FUZZ_SEED = process.env.FC_SEED != null && process.env.FC_SEED !== '' ? Number(process.env.FC_SEED) : 0x6d657368

export function fuzzParams<T> (numRuns: number): Parameters<T> {
  return { numRuns, seed: FUZZ_SEED }
}

const utf8 = new TextEncoder()

export function bytesOf (text: string): Uint8Array {
  return utf8.encode(text)
}

/** A JSON value that went through JSON (no -0, no undefined), as a peer would send it. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json }

/** Every path to a value inside `value` (objects and arrays), the root excluded. */
export function pathsOf (value: Json, prefix: Array<string | number> = []): Array<Array<string | number>> {
  if (Array.isArray(value)) {
    return value.flatMap((v, i) => [[...prefix, i], ...pathsOf(v, [...prefix, i])])
  }
  if (value !== null && typeof value === 'object') {
    return Object.keys(value).flatMap(k => [[...prefix, k], ...pathsOf(value[k]!, [...prefix, k])])
  }
  return []
}

function clone (value: Json): Json {
  return JSON.parse(JSON.stringify(value)) as Json
}

/** Replaces (or with `remove`, deletes) the value at `path` in a copy of `value`. */
export function setAt (value: Json, path: Array<string | number>, replacement: Json | undefined): Json {
  const out = clone(value)
  if (path.length === 0) return replacement ?? null
  let parent = out as Record<string | number, Json> | Json[]
  for (const step of path.slice(0, -1)) parent = (parent as Record<string | number, Json>)[step] as Record<string | number, Json>
  const last = path.at(-1)!
  if (replacement === undefined) {
    if (Array.isArray(parent)) parent.splice(last as number, 1)
    else delete parent[last]
  } else {
    (parent as Record<string | number, Json>)[last] = replacement
  }
  return out
}

export function getAt (value: Json, path: Array<string | number>): Json | undefined {
  let cur: Json | undefined = value
  for (const step of path) {
    if (cur === null || typeof cur !== 'object') return undefined
    cur = (cur as Record<string | number, Json>)[step]
  }
  return cur
}

/**
 * The JSON text of `value` with the key at `path` written twice: first with its own value, then
 * with `dup`. JSON.parse keeps the last one, as most decoders do.
 */
export function withDuplicateKey (value: Json, path: Array<string | number>, dup: Json): string {
  const last = path.at(-1)
  const parentPath = path.slice(0, -1)
  const parent = getAt(value, parentPath)
  if (typeof last !== 'string' || parent === null || typeof parent !== 'object' || Array.isArray(parent)) return JSON.stringify(value)
  const marker = '\u0000duplicate-key-marker\u0000'
  const marked = setAt(value, parentPath, { ...parent, [marker]: null })
  return JSON.stringify(marked).replace(`${JSON.stringify(marker)}:null`, `${JSON.stringify(last)}:${JSON.stringify(dup)}`)
}

export type Mutation =
  | { op: 'truncate', at: number }
  | { op: 'drop', path: number }
  | { op: 'duplicate', path: number, value: Json }
  | { op: 'retype', path: number, value: Json }
  | { op: 'oversize', path: number, size: number, char: string }
  | { op: 'flip', at: number, byte: number }
  | { op: 'wrap', how: 'array' | 'object' | 'string' }
  | { op: 'extra', key: string, value: Json }

const jsonLeaf: fc.Arbitrary<Json> = fc.oneof(
  fc.constant(null), fc.boolean(), fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }).map(n => Object.is(n, -0) ? 0 : n),
  fc.string({ maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 20 })
)
/** Small JSON values that stand in for a field of the wrong type. */
export const anyJson: fc.Arbitrary<Json> = fc.oneof(
  { weight: 4, arbitrary: jsonLeaf },
  { weight: 1, arbitrary: fc.array(jsonLeaf, { maxLength: 4 }) },
  { weight: 1, arbitrary: fc.dictionary(fc.string({ maxLength: 8 }), jsonLeaf, { maxKeys: 4 }) as fc.Arbitrary<Json> }
)

export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('drop' as const), path: fc.nat() }),
  fc.record({ op: fc.constant('duplicate' as const), path: fc.nat(), value: anyJson }),
  fc.record({ op: fc.constant('retype' as const), path: fc.nat(), value: anyJson }),
  fc.record({ op: fc.constant('oversize' as const), path: fc.nat(), size: fc.constantFrom(33, 65, 201, 257, 513, 4097, 16 * 1024 + 1, 70_000), char: fc.constantFrom('a', 'é', '€', '😀', '\u0000', '"') }),
  fc.record({ op: fc.constant('flip' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ op: fc.constant('wrap' as const), how: fc.constantFrom('array' as const, 'object' as const, 'string' as const) }),
  fc.record({ op: fc.constant('extra' as const), key: fc.string({ maxLength: 12 }), value: anyJson })
)

/** The bytes of `sample` damaged by `m`. */
export function applyMutation (sample: Json, m: Mutation): Uint8Array {
  const text = JSON.stringify(sample)
  const paths = pathsOf(sample)
  const pick = (i: number): Array<string | number> => paths.length === 0 ? [] : paths[i % paths.length]!
  switch (m.op) {
    case 'truncate': {
      const bytes = bytesOf(text)
      return bytes.subarray(0, m.at % Math.max(1, bytes.length))
    }
    case 'drop': return bytesOf(JSON.stringify(setAt(sample, pick(m.path), undefined)))
    case 'duplicate': return bytesOf(withDuplicateKey(sample, pick(m.path), m.value))
    case 'retype': return bytesOf(JSON.stringify(setAt(sample, pick(m.path), m.value)))
    case 'oversize': {
      const path = pick(m.path)
      const chars = Math.max(1, Math.floor(m.size / bytesOf(m.char).length))
      return bytesOf(JSON.stringify(setAt(sample, path, m.char.repeat(chars))))
    }
    case 'flip': {
      const bytes = bytesOf(text)
      if (bytes.length > 0) bytes[m.at % bytes.length] = m.byte
      return bytes
    }
    case 'wrap': {
      if (m.how === 'array') return bytesOf(JSON.stringify([sample]))
      if (m.how === 'object') return bytesOf(JSON.stringify({ frame: sample }))
      return bytesOf(JSON.stringify(text))
    }
    case 'extra': {
      if (sample === null || typeof sample !== 'object' || Array.isArray(sample)) return bytesOf(text)
      return bytesOf(JSON.stringify({ ...sample, [m.key]: m.value }))
    }
  }
}

export interface Samples {
  /** Valid values of each wire schema, keyed by the schema's export name. */
  bySchema: Record<string, Json[]>
}

/** Builds real, valid values of every wire schema (signed where signatures are involved). */
export async function validSamples (): Promise<Samples> {
  const serverKey = await generateKeyPair('Ed25519')
  const deviceKey = await generateKeyPair('Ed25519')
  const device = peerIdFromPrivateKey(deviceKey).toString()
  const cert = await issueCertificate(serverKey, 'alice', device)
  const account = generateAccountKey()
  const accountKey = { publicKey: account.publicKey, wrapped: await wrapAccountKey(account.privateKey, 'correct horse battery', TEST_SCRYPT) }
  const text = await signEnvelope(deviceKey, cert, { conv: 'dm:alice:bob', kind: 'text', body: { text: 'hello bob' }, n: 1 })
  const roomText = await signEnvelope(deviceKey, cert, { conv: 'room:global', kind: 'text', body: { text: 'hello room' } })
  // a numbered message that carries its predecessor's hash (prev)
  const chain = new EnvelopeChain()
  await signEnvelope(deviceKey, cert, { conv: 'dm:alice:bob', kind: 'text', body: { text: 'one' }, n: 7 }, { chain })
  const chained = await signEnvelope(deviceKey, cert, { conv: 'dm:alice:bob', kind: 'text', body: { text: 'two' }, n: 8 }, { chain })
  const delivered = await signEnvelope(deviceKey, cert, { conv: 'dm:alice:bob', kind: 'receipt', body: { status: 'delivered', ids: [text.id] } })
  const read = await signEnvelope(deviceKey, cert, { conv: 'dm:alice:bob', kind: 'receipt', body: { status: 'read', upTo: { sentAt: text.sentAt, id: text.id } } })
  // chat requests, contacts, profiles and private rooms' member lists
  const requestEnv = await signEnvelope(deviceKey, cert, { conv: 'dm:alice:bob', kind: 'request', body: { text: 'hi, it is alice from work' } })
  const bareRequest = await signEnvelope(deviceKey, cert, { conv: 'dm:alice:carol', kind: 'request', body: {} })
  const acceptEnv = await signEnvelope(deviceKey, cert, { conv: 'dm:alice:bob', kind: 'accept', body: {} })
  const declineEnv = await signEnvelope(deviceKey, cert, { conv: 'dm:alice:bob', kind: 'decline', body: {} })
  const closeEnv = await signEnvelope(deviceKey, cert, { conv: 'dm:alice:bob', kind: 'close', body: {} })
  const contactEnv = await signEnvelope(deviceKey, cert, { conv: 'self:alice', kind: 'contact', body: { op: 'add', user: 'bob' } })
  const uncontactEnv = await signEnvelope(deviceKey, cert, { conv: 'self:alice', kind: 'contact', body: { op: 'remove', user: 'carol' } })
  const profileBodyValue = { name: 'Alice Liddell', status: 'in a meeting', about: 'writes the release notes' }
  const profileEnv = await signEnvelope(deviceKey, cert, { conv: 'self:alice', kind: 'profile', body: profileBodyValue })
  const membersBodyValue = { room: 'ops', version: 2, members: ['alice', 'bob'] }
  const membersEnv = await signEnvelope(deviceKey, cert, { conv: 'room:ops', kind: 'members', body: membersBodyValue })
  // a list with room keys, and a private room's message sealed with one
  const roomKey = newRoomKey()
  const keyedMembersBody = { room: 'ops', version: 2, members: ['alice', 'bob'], keys: { alice: seal(account.publicKey, roomKey), bob: seal(account.publicKey, roomKey) }, past: sealPastKeys(roomKey, 'ops', 2, [newRoomKey()]) }
  const keyedMembersEnv = await signEnvelope(deviceKey, cert, { conv: 'room:ops', kind: 'members', body: keyedMembersBody })
  const roomContentValue = { kind: 'text' as const, body: { text: 'members only' } }
  const sealedRoomBody = sealRoomContent(roomKey, 'ops', 2, roomContentValue)
  const sealedRoomEnv = await signEnvelope(deviceKey, cert, { conv: 'room:ops', kind: 'sealed-room', body: sealedRoomBody })
  const profileInfo = { user: 'alice', ...profileBodyValue, updatedAt: 1_700_000_000_000 }
  const roomInfo = { room: 'ops', private: true, owner: 'alice', createdAt: 1_700_000_000_000, members: 2, joined: true, list: membersEnv }
  const publicRoom = { room: 'lobby', private: false, owner: 'bob', createdAt: 1_700_000_000_000, members: 5, joined: false, list: null }
  const globalRoom = { room: 'global', private: false, owner: null, createdAt: 0, members: 0, joined: true, list: null }
  const roomMember = { user: 'alice', online: true, owner: true }
  const sealed = seal(account.publicKey, encodeFrame(text))
  const addrs = ['/ip4/127.0.0.1/tcp/4001', '/ip4/10.0.0.1/tcp/4001/p2p/' + device + '/p2p-circuit']
  const deviceInfo = { peer: device, addrs }
  const dirVersion = { epoch: 'q3Zt-8_xKw', v: 41 }
  const userInfo = { user: 'alice', online: true, lastSeen: null, createdAt: 1_700_000_000_000, devices: [deviceInfo], accountKey: account.publicKey }
  const disabledUser = { user: 'mallory', online: false, lastSeen: 1_700_000_000_000, createdAt: 1_700_000_000_000, devices: [], accountKey: null, disabled: true }
  const wireError = { name: 'UnknownUserError', message: 'no user named "carol"' }
  const registered = { type: 'registered', user: 'bob', accountKey: account.publicKey, at: 1_700_000_000_000 }
  const presence = { type: 'presence', user: 'alice', online: false, lastSeen: 1_700_000_000_000, devices: [], at: 1_700_000_000_001 }
  const profileEvent = { type: 'profile', user: 'alice', profile: profileEnv, at: 1_700_000_000_002 }
  const roomEvent = { type: 'room', room: roomInfo, at: 1_700_000_000_003 }
  const disabledEvent = { type: 'disabled', user: 'mallory', disabled: true, at: 1_700_000_000_004 }
  const archived = { seq: 7, at: 1_700_000_000_000, from: 'alice', sealed }
  const samples: Record<string, unknown[]> = {
    username: ['alice'],
    peerIdString: [device],
    signature: [cert.sig],
    timestamp: [1_700_000_000_000],
    addr: [addrs[0]],
    addrs: [addrs],
    messageId: [text.id],
    wireError: [wireError],
    certificate: [cert],
    text: ['hello'],
    textBody: [{ text: 'hello' }],
    messageCursor: [{ sentAt: text.sentAt, id: text.id }],
    receiptBody: [delivered.body, read.body],
    requestBody: [requestEnv.body, bareRequest.body],
    emptyBody: [{}],
    contactBody: [contactEnv.body, uncontactEnv.body],
    profileBody: [profileBodyValue, { name: '', status: '', about: '' }],
    membersBody: [membersBodyValue, keyedMembersBody],
    roomSealedBody: [sealedRoomBody],
    roomContent: [roomContentValue],
    envelope: [text, chained, roomText, delivered, read, requestEnv, bareRequest, acceptEnv, declineEnv, closeEnv, contactEnv, uncontactEnv, profileEnv, membersEnv, keyedMembersEnv, sealedRoomEnv],
    accountPublicKey: [account.publicKey],
    wrappedKey: [accountKey.wrapped],
    accountKeyMaterial: [accountKey],
    authRequest: [
      { op: 'register', user: 'alice', password: 'correct horse battery', accountKey },
      { op: 'login', user: 'alice', password: 'correct horse battery' },
      { op: 'logout', cert },
      { op: 'set-account-key', cert, accountKey }
    ],
    authResponse: [{ ok: true, cert, accountKey }, { ok: true, cert, accountKey, keyReset: true }, { ok: true }, { ok: false, error: wireError }],
    deviceInfo: [deviceInfo],
    userInfo: [userInfo, disabledUser],
    directoryVersion: [dirVersion],
    sessionClientFrame: [{ t: 'hello', cert, addrs }, { t: 'hello', cert, addrs, since: dirVersion }, { t: 'ping', n: 3 }, { t: 'addrs', addrs }],
    presenceEvent: [registered, presence, profileEvent, roomEvent, disabledEvent],
    sessionServerFrame: [
      { t: 'welcome', cert, heartbeatMs: 2000, users: [userInfo] },
      { t: 'welcome', cert, heartbeatMs: 2000, users: [userInfo], dir: dirVersion, delta: true, more: false },
      { t: 'event', ev: registered },
      { t: 'event', ev: presence },
      { t: 'event', ev: profileEvent },
      { t: 'event', ev: roomEvent },
      { t: 'event', ev: disabledEvent },
      { t: 'pong', n: 3 },
      { t: 'mail', seq: 9 },
      { t: 'error', error: wireError }
    ],
    directoryRequest: [{ op: 'users', cert }, { op: 'user', cert, user: 'bob' }],
    directoryResponse: [{ ok: true, users: [userInfo, disabledUser] }, { ok: false, error: wireError }],
    dmAck: [{ ok: true, id: text.id }, { ok: false, error: wireError }],
    sealedItem: [{ to: 'bob', sealed }],
    archiveRequest: [
      { op: 'put', cert, items: [{ to: 'bob', sealed }, { to: 'alice', sealed }] },
      { op: 'fetch', cert, after: 0, limit: 200 },
      { op: 'room', cert, room: 'global', after: null, limit: 500 },
      { op: 'room', cert, room: 'global', after: { sentAt: text.sentAt, id: text.id }, limit: 500 }
    ],
    archivedItem: [archived],
    fileStoreRequest: [
      { op: 'put', cert, to: 'bob', sha256: 'ab'.repeat(32), size: 100_000, chunkSize: 65_536, chunks: 2, part: 'manifest' },
      { op: 'put', cert, to: 'bob', sha256: 'ab'.repeat(32), size: 100_000, chunkSize: 65_536, chunks: 2, part: 1 },
      { op: 'have', cert, to: 'bob', sha256: 'ab'.repeat(32) },
      { op: 'list', cert },
      { op: 'get', cert, sha256: 'ab'.repeat(32), sender: 'alice', part: 0 },
      { op: 'delete', cert, sha256: 'ab'.repeat(32), sender: 'alice' },
      { op: 'delete', cert, sha256: 'ab'.repeat(32), to: 'bob' }
    ],
    archiveResponse: [
      { ok: true, seqs: [1, 2] },
      { ok: true, items: [archived], more: false, last: 7 },
      { ok: true, envelopes: [roomText], more: true },
      { ok: false, error: wireError }
    ],
    profileInfo: [profileInfo, { user: 'bob', name: '', status: '', about: '', updatedAt: null }],
    roomName: ['ops'],
    roomInfo: [roomInfo, publicRoom, globalRoom],
    peopleRequest: [
      { op: 'set-profile', cert, profile: profileEnv },
      { op: 'profiles', cert, users: ['alice', 'bob'] },
      { op: 'rooms', cert },
      { op: 'room', cert, room: 'ops' },
      { op: 'create', cert, room: 'ops', private: true, list: membersEnv },
      { op: 'create', cert, room: 'lobby', private: false },
      { op: 'join', cert, room: 'lobby' },
      { op: 'leave', cert, room: 'lobby' },
      { op: 'invite', cert, room: 'ops', user: 'bob', list: keyedMembersEnv },
      { op: 'invite', cert, room: 'lobby', user: 'bob' },
      { op: 'remove', cert, room: 'ops', user: 'bob', list: keyedMembersEnv },
      { op: 'members', cert, room: 'ops' }
    ],
    roomMember: [roomMember, { user: 'bob', online: false, owner: false }],
    peopleResponse: [
      { ok: true, profiles: [profileEnv] },
      { ok: true, rooms: [globalRoom, roomInfo, publicRoom] },
      { ok: true, room: roomInfo },
      { ok: true, members: [roomMember, { user: 'bob', online: false, owner: false }] },
      { ok: true },
      { ok: false, error: wireError }
    ]
  }
  return { bySchema: JSON.parse(JSON.stringify(samples)) as Record<string, Json[]> }
}
