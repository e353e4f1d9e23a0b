/** Defaults of the rendezvous node; each is an option of RendezvousInit and of `meshchat serve`. */

export const DEFAULT_PORT = 4001
/**
 * Session heartbeat: clients ping this often; a session silent for 3 beats is dropped. A closed
 * socket ends a session at once; the beats are for a device (or node) gone without a word, found
 * within 30 s. Each beat is a ping and a pong through noise and a socket write at both ends: at
 * 2 s they were half of what a node holding idle devices did (200 devices: 53 → 28 ms of CPU a
 * second over two minutes with beats every 10 s).
 */
export const DEFAULT_HEARTBEAT_MS = 10_000
/** Password hashes computed at once; more wait in a queue of at most MAX_AUTH_QUEUE. */
export const MAX_CONCURRENT_HASHES = 2
export const MAX_AUTH_QUEUE = 64
/** Failed logins per account before waits begin, and the first wait (it doubles each time). */
export const ACCOUNT_FREE_FAILURES = 3
export const ADDRESS_FREE_FAILURES = 20
export const FAILURE_BASE_DELAY_MS = 500
export const FAILURE_MAX_DELAY_MS = 60_000
export const FAILURE_FORGET_MS = 15 * 60_000
/** Frames queued to one session before it is judged too slow and dropped. */
export const MAX_SESSION_BACKLOG = 1_000
/** Concurrent sessions one account may hold (one per device). */
export const MAX_DEVICES_PER_ACCOUNT = 16
/** Circuit-relay (v2) slots for devices behind NAT, sized for a small public host. */
export const DEFAULT_RELAY_RESERVATIONS = 256
export const DEFAULT_RELAY_RESERVATION_TTL_MS = 30 * 60_000
/** Direct messages and receipts are small; file transfers wait for a direct connection. */
export const DEFAULT_RELAY_DATA_LIMIT_BYTES = 1024 * 1024
export const DEFAULT_RELAY_DURATION_LIMIT_MS = 10 * 60_000
/** Requests (auth, directory, archive) one device may make per second, in bursts of twice that: every direct message is one archive put. */
export const DEFAULT_REQUESTS_PER_SECOND = 500
/** Streams of one protocol one connection may hold open at once. */
export const DEFAULT_MAX_STREAMS = 32
/** Open connections from one IP (a NAT'd office shares one). */
export const DEFAULT_MAX_CONNECTIONS_PER_HOST = 512
/** Room messages per second one device may publish, in bursts of ROOM_BURST. */
export const DEFAULT_ROOM_RATE = 20
export const DEFAULT_ROOM_BURST = 40
/**
 * How long a presence event may wait to go out with others to the same session (outbox.ts): in a
 * reconnect storm one write per session per flush instead of one per event, and a user's newer
 * presence replaces the one still waiting. Answers (pong) and mail notices do not wait.
 */
export const PRESENCE_FLUSH_MS = 25
/**
 * Writes a second the presence flushes may make over all sessions before they come less often than
 * every PRESENCE_FLUSH_MS (outbox.ts): up to 50 sessions every 25 ms, 1,000 sessions every 0.5 s,
 * 10,000 every 5 s. At ~150 µs a write (2-core machine), a fifth to a third of one core.
 */
export const DEFAULT_PRESENCE_WRITES_PER_SECOND = 2_000
/**
 * A session's welcome hands back the device's own certificate while this node signed it less than
 * this long ago, instead of signing a new one on every reconnect (it still has ≥ 29 of its 30 days).
 */
export const CERT_REUSE_MS = 24 * 60 * 60 * 1000
/**
 * Address characters kept per device (presence.ts lists every device of a user in one event, in
 * one frame): 16 devices × 2,048 characters stay under half of the 64 KiB frame.
 */
export const MAX_DEVICE_ADDR_CHARS = 2_048
/**
 * Bytes of room entries one `rooms` answer holds (people.ts); the rest come in later pages. A
 * private room's entry carries its signed member list (~64 KiB for 200 members), so an account in
 * many large private rooms needs several pages. Safely under MAX_PEOPLE_FRAME_BYTES (512 KiB),
 * leaving room for the answer's own fields.
 */
export const DEFAULT_ROOMS_PAGE_BYTES = 448 * 1024
