/** Defaults for the network layer; every one can be set through NodeInit. */

/** How long one request (dial, write, read) may take before it is abandoned. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000
/** How long a handler waits for the one request frame of a stream. */
export const DEFAULT_HANDLER_READ_TIMEOUT_MS = 5_000
/** Streams per protocol per connection we accept at once (libp2p's default is 32). */
export const DEFAULT_MAX_INBOUND_STREAMS = 32
/**
 * Room messages this size or larger make gossipsub send IDONTWANT to every mesh peer as soon as
 * they arrive (gossipsub's default is 512 bytes). An IDONTWANT is a frame of its own per peer,
 * costing about what a forwarded chat message does here (a noise encryption, a yamux frame, a
 * socket write), while the copy it saves is ~1.2 KiB; it pays only for large messages. With 10
 * receivers and the node on 127.0.0.1 (two alternating runs each), dropping it for chat-sized
 * messages cut socket writes per message over all processes from ~290 to ~170 at 2 msg/s (~155 to
 * ~100 at 20 msg/s) and CPU from ~195 to ~120 ms per message at 2 msg/s.
 */
export const IDONTWANT_MIN_BYTES = 16 * 1024
