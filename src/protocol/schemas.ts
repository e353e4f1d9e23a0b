/**
 * The wire formats of every meshchat protocol, as zod schemas. Everything that arrives from a
 * peer is parsed through one of these before any other code looks at it.
 */
import { z } from 'zod'
import {
  MAX_PROFILE_NAME, MAX_PROFILE_STATUS, MAX_PROFILE_ABOUT, MAX_ROOM_MEMBERS, MAX_ROOMS_LISTED, MAX_DIRECTORY_USERS, MIN_HEARTBEAT_MS, MAX_HEARTBEAT_MS,
  MAX_ADDR_LENGTH, MAX_ADDRS, MAX_PASSWORD_LENGTH, MAX_TEXT_BYTES, MAX_SEALED_CHARS, MAX_ARCHIVE_PUT_ITEMS, MAX_ROOM_SEALED_CHARS
} from './constants.js'
import { fileOffer } from './files.js'

const USERNAME = /^[a-z][a-z0-9_-]{2,31}$/
/** base58btc peer ids of Ed25519 keys (12D3Koo…) and other key types. */
const PEER_ID = /^[1-9A-HJ-NP-Za-km-z]{40,64}$/
const BASE64URL = /^[A-Za-z0-9_-]*$/

export const username = z.string().regex(USERNAME, 'invalid username')
export const peerIdString = z.string().regex(PEER_ID, 'invalid peer id')
export const signature = z.string().max(200).regex(BASE64URL, 'invalid signature encoding')
export const timestamp = z.number().int().nonnegative().max(2 ** 47)
export const addr = z.string().min(1).max(MAX_ADDR_LENGTH)
export const addrs = z.array(addr).max(MAX_ADDRS)
export const messageId = z.string().regex(/^[0-9a-f]{32}$/, 'invalid message id')

export const wireError = z.object({
  name: z.string().max(64),
  message: z.string().max(512)
})

/** Signed by the rendezvous node's key: this device belongs to this user until `expires`. */
export const certificate = z.object({
  v: z.literal(1),
  user: username,
  device: peerIdString,
  issued: timestamp,
  expires: timestamp,
  sig: signature
})
export type Certificate = z.infer<typeof certificate>

/** UTF-8 length without encoding (TextEncoder allocates a buffer for every string it measures). */
const utf8Bytes = (s: string): number => Buffer.byteLength(s, 'utf8')
export const text = z.string().min(1).refine(s => utf8Bytes(s) <= MAX_TEXT_BYTES, {
  message: `text longer than ${MAX_TEXT_BYTES} bytes`
})

export const textBody = z.object({ text })

export const messageCursor = z.object({ sentAt: timestamp, id: messageId })

/**
 * A receipt: `delivered` names the messages a device received; `read` says everything of the
 * other side in the conversation up to `upTo` was displayed or marked read.
 */
export const receiptBody = z.discriminatedUnion('status', [
  z.object({ status: z.literal('delivered'), ids: z.array(messageId).min(1).max(256) }),
  z.object({ status: z.literal('read'), upTo: messageCursor })
])
export type ReceiptBody = z.infer<typeof receiptBody>

/** Optional short text fields of profiles and requests: bounded, may be empty. */
const shortText = (max: number) => z.string().max(max).refine(s => utf8Bytes(s) <= max * 4, { message: `longer than ${max} characters` })

/** A chat request may carry a first line of text. */
export const requestBody = z.object({ text: text.optional() })
/** Accept, decline and close carry nothing but who and when (in the envelope). */
export const emptyBody = z.object({}).strict()
/** An account's contact list changes one person at a time; the newest change of a person wins. */
export const contactBody = z.object({ op: z.enum(['add', 'remove']), user: username })
export type ContactBody = z.infer<typeof contactBody>
export const profileBody = z.object({
  name: shortText(MAX_PROFILE_NAME),
  status: shortText(MAX_PROFILE_STATUS),
  about: shortText(MAX_PROFILE_ABOUT)
})
export type ProfileBody = z.infer<typeof profileBody>
/** A 32-byte room key sealed to one account key (crypto/seal.ts): 93 bytes, base64url. */
const sealedRoomKey = z.string().min(1).max(160).regex(BASE64URL, 'invalid sealed room key')
const roomVersion = z.number().int().positive().max(2 ** 40)
/**
 * The member list of a private room, signed by its owner; a higher version replaces a lower one.
 * `keys`: this version's random room key sealed to each member's account key (private room
 * messages are encrypted with it, so only members read them). `past`: the keys of versions
 * 1..version-1, 32 bytes each in order, AES-256-GCM under this version's key, so that invited
 * members read the history from before their invitation. Lists from before room keys have neither.
 */
export const membersBody = z.object({
  room: z.string().regex(USERNAME, 'invalid room name'),
  version: roomVersion,
  members: z.array(username).min(1).max(MAX_ROOM_MEMBERS),
  keys: z.record(username, sealedRoomKey).refine(k => Object.keys(k).length <= MAX_ROOM_MEMBERS, { message: 'too many room keys' }).optional(),
  past: z.object({
    iv: z.string().length(16).regex(BASE64URL),
    ct: z.string().max(Math.ceil((MAX_ROOM_MEMBERS * 32 + 16) * 4 / 3) + 4).regex(BASE64URL)
  }).optional()
})
export type MembersBody = z.infer<typeof membersBody>

/**
 * A private room's message as it travels (kind `sealed-room`): `ct` is AES-256-GCM, under the
 * room key of list version `v`, of the JSON of a `roomContent`. The envelope's signature covers
 * it, so validators check author, certificate, rate and membership without the key.
 */
export const roomSealedBody = z.object({
  v: roomVersion,
  iv: z.string().length(16).regex(BASE64URL),
  ct: z.string().min(22).max(MAX_ROOM_SEALED_CHARS).regex(BASE64URL)
})
export type RoomSealedBody = z.infer<typeof roomSealedBody>
/** What a private room's sealed message holds: a text or a file offer. */
export const roomContent = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('text'), body: textBody }).strict(),
  z.object({ kind: z.literal('file'), body: fileOffer }).strict()
])
export type RoomContent = z.infer<typeof roomContent>

const envelopeBase = {
  v: z.literal(1),
  id: messageId,
  /** `dm:<a>:<b>` a direct chat, `room:<name>` a room, `self:<user>` an account's own records (contacts, profile). */
  conv: z.string().min(1).max(80).regex(/^(dm:[a-z0-9_:-]+|room:[a-z0-9_-]+|self:[a-z0-9_-]+)$/, 'invalid conversation'),
  author: username,
  device: peerIdString,
  sentAt: timestamp,
  /** The sending device's sequence number in this conversation: a hole shows a missing message. */
  n: z.number().int().positive().max(2 ** 40).optional(),
  /**
   * SHA-256 (base64url) of the signed bytes of the same device's message n − 1 in this
   * conversation, when that device signed it in the same run: this message's signature then
   * covers that one too (crypto/envelope.ts, verifyEnvelopes). Signed; a signer sets it only beside `n`.
   */
  prev: z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'invalid prev hash').optional(),
  cert: certificate,
  sig: signature
}

/** One envelope for everything a person sends, signed by the sending device. */
export const envelope = z.discriminatedUnion('kind', [
  z.object({ ...envelopeBase, kind: z.literal('text'), body: textBody }),
  z.object({ ...envelopeBase, kind: z.literal('receipt'), body: receiptBody }),
  z.object({ ...envelopeBase, kind: z.literal('request'), body: requestBody }),
  z.object({ ...envelopeBase, kind: z.literal('accept'), body: emptyBody }),
  z.object({ ...envelopeBase, kind: z.literal('decline'), body: emptyBody }),
  z.object({ ...envelopeBase, kind: z.literal('close'), body: emptyBody }),
  z.object({ ...envelopeBase, kind: z.literal('contact'), body: contactBody }),
  z.object({ ...envelopeBase, kind: z.literal('profile'), body: profileBody }),
  z.object({ ...envelopeBase, kind: z.literal('members'), body: membersBody }),
  /** A file offer (issue 9): a message whose bytes travel on FILE_PROTOCOL, never in the envelope. */
  z.object({ ...envelopeBase, kind: z.literal('file'), body: fileOffer }),
  /** A text or file offer in a private room, encrypted with the room key (never in a direct chat). */
  z.object({ ...envelopeBase, kind: z.literal('sealed-room'), body: roomSealedBody })
])
export type Envelope = z.infer<typeof envelope>
export type EnvelopeKind = Envelope['kind']
export type TextEnvelope = Extract<Envelope, { kind: 'text' }>
export type ReceiptEnvelope = Extract<Envelope, { kind: 'receipt' }>
/** The envelopes that move a direct chat between none, pending, accepted, declined and closed. */
export type ChatControlEnvelope = Extract<Envelope, { kind: 'request' | 'accept' | 'decline' | 'close' }>
export type ContactEnvelope = Extract<Envelope, { kind: 'contact' }>
export type ProfileEnvelope = Extract<Envelope, { kind: 'profile' }>
export type MembersEnvelope = Extract<Envelope, { kind: 'members' }>
export type FileEnvelope = Extract<Envelope, { kind: 'file' }>
export type RoomSealedEnvelope = Extract<Envelope, { kind: 'sealed-room' }>
export const CHAT_CONTROL_KINDS = ['request', 'accept', 'decline', 'close'] as const

/** base64url of a raw X25519 public key (32 bytes). */
export const accountPublicKey = z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'invalid account key')
export const wrappedKey = z.object({
  v: z.literal(1),
  alg: z.literal('scrypt-aes256gcm'),
  N: z.number().int().min(2 ** 10).max(2 ** 20),
  r: z.number().int().min(1).max(32),
  p: z.number().int().min(1).max(16),
  salt: z.string().max(64).regex(/^[A-Za-z0-9_-]+$/),
  iv: z.string().max(32).regex(/^[A-Za-z0-9_-]+$/),
  ct: z.string().max(128).regex(/^[A-Za-z0-9_-]+$/)
})
/** The account's sealing key: public half in clear, private half wrapped by the password. */
export const accountKeyMaterial = z.object({ publicKey: accountPublicKey, wrapped: wrappedKey })
export type AccountKeyMaterial = z.infer<typeof accountKeyMaterial>

export const authRequest = z.discriminatedUnion('op', [
  z.object({ op: z.literal('register'), user: z.string().max(64), password: z.string().max(MAX_PASSWORD_LENGTH + 1), accountKey: accountKeyMaterial }),
  z.object({ op: z.literal('login'), user: z.string().max(64), password: z.string().max(MAX_PASSWORD_LENGTH + 1) }),
  z.object({ op: z.literal('logout'), cert: certificate }),
  /** Stores the account key of an account that has none (added by the operator) or whose password was reset. */
  z.object({ op: z.literal('set-account-key'), cert: certificate, accountKey: accountKeyMaterial })
])
export type AuthRequest = z.infer<typeof authRequest>

export const authResponse = z.union([
  /** `keyReset`: the operator reset the password, so `accountKey` is still wrapped by the old one. */
  z.object({ ok: z.literal(true), cert: certificate.optional(), accountKey: accountKeyMaterial.optional(), keyReset: z.boolean().optional() }),
  z.object({ ok: z.literal(false), error: wireError })
])
export type AuthResponse = z.infer<typeof authResponse>

export const deviceInfo = z.object({ peer: peerIdString, addrs })
export type DeviceInfo = z.infer<typeof deviceInfo>

export const userInfo = z.object({
  user: username,
  online: z.boolean(),
  lastSeen: timestamp.nullable(),
  createdAt: timestamp,
  devices: z.array(deviceInfo).max(64),
  /** The account's public sealing key, to seal offline copies to it. */
  accountKey: accountPublicKey.nullable(),
  /** Set when the operator disabled the account: its devices' certificates are not honoured. */
  disabled: z.boolean().optional()
})
export type UserInfo = z.infer<typeof userInfo>

/**
 * Which directory a device holds: the one a welcome of this node run (`epoch`) gave it at version
 * `v`, with the events after it applied. A reconnecting device sends it in its hello and is
 * welcomed with only the users changed since.
 */
export const directoryVersion = z.object({ epoch: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/), v: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER) })
export type DirectoryVersion = z.infer<typeof directoryVersion>

export const sessionClientFrame = z.discriminatedUnion('t', [
  z.object({ t: z.literal('hello'), cert: certificate, addrs, since: directoryVersion.optional() }),
  z.object({ t: z.literal('ping'), n: z.number().int().nonnegative() }),
  z.object({ t: z.literal('addrs'), addrs })
])
export type SessionClientFrame = z.infer<typeof sessionClientFrame>

export const presenceEvent = z.discriminatedUnion('type', [
  z.object({ type: z.literal('registered'), user: username, accountKey: accountPublicKey.nullable().optional(), at: timestamp }),
  /** The user's set of online devices changed; `online` is true while any device is. */
  z.object({ type: z.literal('presence'), user: username, online: z.boolean(), lastSeen: timestamp.nullable(), devices: z.array(deviceInfo).max(64), at: timestamp }),
  /** The user changed their profile (the signed envelope, checked by each device). */
  z.object({ type: z.literal('profile'), user: username, profile: z.unknown(), at: timestamp }),
  /** A room this device's account is in (or was just added to, or left) changed. */
  z.object({ type: z.literal('room'), room: z.unknown(), at: timestamp }),
  /** The operator disabled the account (or enabled it again). */
  z.object({ type: z.literal('disabled'), user: username, disabled: z.boolean(), at: timestamp })
])
export type PresenceEvent = z.infer<typeof presenceEvent>

export const sessionServerFrame = z.discriminatedUnion('t', [
  /**
   * The first page of the directory; `more`: `users` frames with the rest follow before anything
   * else. `dir`: the version this directory is (for the next hello's `since`); `delta`: the pages
   * hold only the users changed since the hello's `since`, the device keeps the others it has.
   */
  z.object({ t: z.literal('welcome'), cert: certificate, heartbeatMs: z.number().int().min(MIN_HEARTBEAT_MS).max(MAX_HEARTBEAT_MS), users: z.array(userInfo).max(MAX_DIRECTORY_USERS), more: z.boolean().optional(), dir: directoryVersion.optional(), delta: z.boolean().optional() }),
  /** The next page of the directory, after the welcome. */
  z.object({ t: z.literal('users'), users: z.array(userInfo).max(MAX_DIRECTORY_USERS), more: z.boolean() }),
  /** `v`: on the last event of a batch, the directory version the device holds once it applied it. */
  z.object({ t: z.literal('event'), ev: presenceEvent, v: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).optional() }),
  z.object({ t: z.literal('pong'), n: z.number().int().nonnegative() }),
  /** New items wait in this account's archive, up to `seq`. */
  z.object({ t: z.literal('mail'), seq: z.number().int().nonnegative() }),
  z.object({ t: z.literal('error'), error: wireError })
])
export type SessionServerFrame = z.infer<typeof sessionServerFrame>

export const directoryRequest = z.discriminatedUnion('op', [
  /** One page of the directory: the accounts after `after` (by name), as many as fit a frame. */
  z.object({ op: z.literal('users'), cert: certificate, after: username.optional() }),
  z.object({ op: z.literal('user'), cert: certificate, user: z.string().max(64) })
])
export type DirectoryRequest = z.infer<typeof directoryRequest>

export const directoryResponse = z.union([
  z.object({ ok: z.literal(true), users: z.array(userInfo).max(MAX_DIRECTORY_USERS), more: z.boolean().optional() }),
  z.object({ ok: z.literal(false), error: wireError })
])
export type DirectoryResponse = z.infer<typeof directoryResponse>

export const dmAck = z.union([
  z.object({ ok: z.literal(true), id: messageId }),
  z.object({ ok: z.literal(false), error: wireError })
])
export type DmAck = z.infer<typeof dmAck>

/** One sealed copy for an account's archive. */
/** `id`: the sealed envelope's id, in clear, so a device that has it already need not open the copy. */
export const sealedItem = z.object({ to: username, sealed: z.string().min(1).max(MAX_SEALED_CHARS).regex(/^[A-Za-z0-9_-]+$/), id: messageId.optional() })

export const archiveRequest = z.discriminatedUnion('op', [
  z.object({ op: z.literal('put'), cert: certificate, items: z.array(sealedItem).min(1).max(MAX_ARCHIVE_PUT_ITEMS) }),
  z.object({ op: z.literal('fetch'), cert: certificate, after: z.number().int().nonnegative(), limit: z.number().int().positive().max(1000) }),
  z.object({ op: z.literal('room'), cert: certificate, room: z.string().max(64), after: messageCursor.nullable(), limit: z.number().int().positive().max(1000) })
])
export type ArchiveRequest = z.infer<typeof archiveRequest>

export const archivedItem = z.object({ seq: z.number().int().positive(), at: timestamp, from: username, sealed: z.string().max(MAX_SEALED_CHARS), id: messageId.optional() })
export type ArchivedItem = z.infer<typeof archivedItem>

export const archiveResponse = z.union([
  z.object({ ok: z.literal(true), seqs: z.array(z.number().int()).max(MAX_ARCHIVE_PUT_ITEMS) }),
  z.object({ ok: z.literal(true), items: z.array(archivedItem).max(1000), more: z.boolean(), last: z.number().int().nonnegative() }),
  z.object({ ok: z.literal(true), envelopes: z.array(z.unknown()).max(1000), more: z.boolean() }),
  z.object({ ok: z.literal(false), error: wireError })
])
export type ArchiveResponse = z.infer<typeof archiveResponse>

export const profileInfo = z.object({ user: username, name: z.string().max(MAX_PROFILE_NAME), status: z.string().max(MAX_PROFILE_STATUS), about: z.string().max(MAX_PROFILE_ABOUT), updatedAt: timestamp.nullable() })
export type ProfileInfo = z.infer<typeof profileInfo>

export const roomName = z.string().max(64)

/** What the rendezvous node tells about a room. `members` is a count; `list` the signed member list of a private room. */
export const roomInfo = z.object({
  room: z.string().regex(USERNAME, 'invalid room name'),
  private: z.boolean(),
  owner: username.nullable(),
  createdAt: timestamp,
  members: z.number().int().nonnegative(),
  joined: z.boolean(),
  list: z.unknown().nullable()
})
export type RoomInfo = z.infer<typeof roomInfo>

/** People and rooms at the rendezvous node: profiles, the room registry and membership. */
export const peopleRequest = z.discriminatedUnion('op', [
  z.object({ op: z.literal('set-profile'), cert: certificate, profile: z.unknown() }),
  z.object({ op: z.literal('profiles'), cert: certificate, users: z.array(z.string().max(64)).min(1).max(256) }),
  /** One page of the rooms this account sees (#global first, then by name): those after the room `after`, as many as fit a frame. */
  z.object({ op: z.literal('rooms'), cert: certificate, after: roomName.optional() }),
  z.object({ op: z.literal('room'), cert: certificate, room: roomName }),
  z.object({ op: z.literal('create'), cert: certificate, room: roomName, private: z.boolean(), list: z.unknown().optional() }),
  z.object({ op: z.literal('join'), cert: certificate, room: roomName }),
  z.object({ op: z.literal('leave'), cert: certificate, room: roomName }),
  z.object({ op: z.literal('invite'), cert: certificate, room: roomName, user: z.string().max(64), list: z.unknown().optional() }),
  /** The owner of a private room takes `user` off it: `list` is the next version without them, with a new room key. */
  z.object({ op: z.literal('remove'), cert: certificate, room: roomName, user: z.string().max(64), list: z.unknown() }),
  z.object({ op: z.literal('members'), cert: certificate, room: roomName })
])
export type PeopleRequest = z.infer<typeof peopleRequest>

export const roomMember = z.object({ user: username, online: z.boolean(), owner: z.boolean() })
export type RoomMember = z.infer<typeof roomMember>

export const peopleResponse = z.union([
  z.object({ ok: z.literal(true), profiles: z.array(z.unknown()).max(256) }),
  /** `more`: rooms are left after this page's last; ask again with it as `after`. */
  z.object({ ok: z.literal(true), rooms: z.array(roomInfo).max(MAX_ROOMS_LISTED), more: z.boolean().optional() }),
  z.object({ ok: z.literal(true), room: roomInfo }),
  z.object({ ok: z.literal(true), members: z.array(roomMember).max(100_000) }),
  z.object({ ok: z.literal(true) }),
  z.object({ ok: z.literal(false), error: wireError })
])
export type PeopleResponse = z.infer<typeof peopleResponse>
