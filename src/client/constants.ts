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
/**
 * The archive copy of a direct message that a device of the recipient already acknowledged may
 * wait this long for the copies of the next messages, to leave with them in one put: one request,
 * one certificate check, one LevelDB batch and one mail notice at the node for several messages.
 * A copy the send is waiting on (nobody acknowledged it) leaves at once and takes the waiting
 * ones with it, and stop() sends them before the device goes. Back to back DMs (the bench's
 * latency loop, one put per message before) went from 3.43, 3.35 to 2.35, 2.17 ms p50 and
 * 16.8, 16.1 to 12.6, 11.3 ms p99, and the DM throughput run from 941, 744 to 846, 678 µs of CPU
 * per message (scratch, two alternating runs each).
 */
export const ARCHIVE_LINGER_MS = 50
/** How long stop() waits for the archive copies still to go before the device stops (they stay in the outbox anyway). */
export const ARCHIVE_STOP_WAIT_MS = 2_000
/** A mail notice is answered with a fetch this much later, so that notices close together make one fetch. */
export const MAIL_FETCH_DELAY_MS = 100
