/** Protocol ids, topic names and the size limits every part of meshchat checks against. */

export const PROTOCOL_PREFIX = '/meshchat'
/** Register, login and logout: one request and one response per stream. */
export const AUTH_PROTOCOL = '/meshchat/auth/1.0.0'
/** One long-lived stream per logged-in device: presence pushes and heartbeats. */
export const SESSION_PROTOCOL = '/meshchat/session/1.0.0'
/** Directory queries (users, a user's online devices) for devices without an open session. */
export const DIRECTORY_PROTOCOL = '/meshchat/directory/1.0.0'
/** A direct message envelope from one device to another, answered with an ack. */
export const DM_PROTOCOL = '/meshchat/dm/1.0.0'
/** The sealed archive: put copies for accounts, fetch one's own since a cursor, room history. */
export const ARCHIVE_PROTOCOL = '/meshchat/archive/1.0.0'

/** Gossipsub topic of a room. `global` always exists. */
export function roomTopic (room: string): string {
  return `/meshchat/room/${room}/1.0.0`
}
export const GLOBAL_ROOM = 'global'

/**
 * Session heartbeats the node may ask for in its welcome: a device refuses a welcome outside
 * these (a beat every millisecond would be a flood of its own making).
 */
export const MIN_HEARTBEAT_MS = 100
export const MAX_HEARTBEAT_MS = 600_000

/** Largest frame any meshchat protocol accepts (JSON, UTF-8). */
export const MAX_FRAME_BYTES = 64 * 1024
/**
 * The directory (every account with its presence) reaches a device in pages: the welcome carries
 * the first, `users` frames the rest, each at most this many bytes of entries, so a directory of
 * any size fits in frames (one entry is at most ~34 KiB: 16 devices of 2,048 address characters).
 */
export const MAX_DIRECTORY_PAGE_BYTES = MAX_FRAME_BYTES - 4096
/** Most accounts one directory lists; a device refuses a longer one. */
export const MAX_DIRECTORY_USERS = 100_000
/** Largest text of one message, in UTF-8 bytes. */
export const MAX_TEXT_BYTES = 16 * 1024
/** Largest envelope on the wire: text plus certificate, signature and fields. */
export const MAX_ENVELOPE_BYTES = MAX_TEXT_BYTES * 2 + 4096
/** Most addresses a device may announce. */
export const MAX_ADDRS = 16
/** Longest multiaddr string accepted. */
export const MAX_ADDR_LENGTH = 256
/** Longest password accepted; the shortest is MIN_PASSWORD_LENGTH. */
export const MAX_PASSWORD_LENGTH = 256
export const MIN_PASSWORD_LENGTH = 8
/** Device certificates are valid this long; every session start renews them. */
export const CERT_LIFETIME_MS = 30 * 24 * 60 * 60 * 1000
/** How far in the future a sent-at time may be before a message is refused. */
export const MAX_CLOCK_SKEW_MS = 5 * 60 * 1000
/** A sealed copy of the largest envelope, base64url: (envelope + 61 bytes of sealing) × 4/3. */
export const MAX_SEALED_CHARS = Math.ceil((MAX_ENVELOPE_BYTES + 64) * 4 / 3) + 4
/** Sealed copies in one archive put (one message to a few accounts, or a batch of them under load; the frame bounds the bytes). */
export const MAX_ARCHIVE_PUT_ITEMS = 64
/** People and rooms at the rendezvous node: profiles, the room registry, membership. */
export const PEOPLE_PROTOCOL = '/meshchat/people/1.0.0'
/** Profile fields, in characters. */
export const MAX_PROFILE_NAME = 64
export const MAX_PROFILE_STATUS = 140
export const MAX_PROFILE_ABOUT = 1024
/**
 * Members of one private room's signed list. The list carries the room key sealed to each member
 * (about 200 bytes a member) and the older keys, and reaches devices in a session push
 * (MAX_FRAME_BYTES): 200 members keep it under 64 KiB.
 */
export const MAX_ROOM_MEMBERS = 200
/** A private room's message body, encrypted with the room key: base64url of the largest text's JSON (escapes double it) or a file offer, plus the tag. */
export const MAX_ROOM_SEALED_CHARS = Math.ceil((MAX_TEXT_BYTES * 2 + 4096 + 16) * 4 / 3)
/** Largest envelope on a room topic: a private room's sealed message is larger than its plaintext. */
export const MAX_ROOM_ENVELOPE_BYTES = MAX_ROOM_SEALED_CHARS + 4096
/** Rooms one answer lists, and rooms one account may be in. */
export const MAX_ROOMS_LISTED = 1000
export const MAX_ROOMS_PER_ACCOUNT = 200
/** Rooms one account may create, and rooms one node holds. */
export const MAX_ROOMS_OWNED = 50
export const MAX_ROOMS_TOTAL = 10_000
/** Public rooms one `rooms` answer offers to join (besides the account's own). */
export const MAX_PUBLIC_ROOMS_LISTED = 500
/** People and room answers carry lists: they may be larger than other frames. */
export const MAX_PEOPLE_FRAME_BYTES = 512 * 1024
/** Chat requests, accepts, declines and closes kept per direct chat (the oldest go first). */
export const MAX_CHAT_CONTROLS = 200
/** Messages a device holds back per chat while they are not (yet) allowed by the chat's state. */
export const MAX_HELD_PER_CHAT = 500
/** Archive frames carry several sealed envelopes, so they may be larger than other frames. */
export const MAX_ARCHIVE_FRAME_BYTES = 512 * 1024
/** Room messages the rendezvous node keeps per room for people who join later. */
export const ROOM_HISTORY_LIMIT = 5_000
