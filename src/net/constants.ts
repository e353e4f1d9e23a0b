/** Defaults for the network layer; every one can be set through NodeInit. */

/** How long one request (dial, write, read) may take before it is abandoned. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000
/** How long a handler waits for the one request frame of a stream. */
export const DEFAULT_HANDLER_READ_TIMEOUT_MS = 5_000
/** Streams per protocol per connection we accept at once (libp2p's default is 32). */
export const DEFAULT_MAX_INBOUND_STREAMS = 32
