/** Defaults of the client core; each is an option of ClientInit. */

export const DEFAULT_RECONNECT_MIN_MS = 250
export const DEFAULT_RECONNECT_MAX_MS = 5_000
export const DEFAULT_PEER_DIALS = 8
/** How long start() waits for the first answer of the rendezvous node. */
export const DEFAULT_SESSION_TIMEOUT_MS = 15_000
export const DEFAULT_SEND_TIMEOUT_MS = 10_000
/** Message ids remembered to drop duplicates (later issues persist them). */
export const SEEN_IDS = 50_000
/** How long a room send waits to learn of at least one other member. */
export const ROOM_PEER_WAIT_MS = 5_000
/** How long after connecting a device behind NAT waits for its relay slot before it says it has none. */
export const RELAY_GRACE_MS = 8_000
/** A direct message's copy for the node waits at most this long for the recipient's devices to answer first (client.ts sendDirectContent). */
export const ARCHIVE_DEFER_MS = 20
/** A mail notice is answered with a fetch this much later, so that notices close together make one fetch. */
export const MAIL_FETCH_DELAY_MS = 100
