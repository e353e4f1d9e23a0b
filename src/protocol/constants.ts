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

/** Gossipsub topic of a room. `global` always exists. */
export function roomTopic (room: string): string {
  return `/meshchat/room/${room}/1.0.0`
}
export const GLOBAL_ROOM = 'global'

/** Largest frame any meshchat protocol accepts (JSON, UTF-8). */
export const MAX_FRAME_BYTES = 64 * 1024
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
