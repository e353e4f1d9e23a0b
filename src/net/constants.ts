/** Defaults for the network layer; every one can be set through NodeInit. */

/** How long one request (dial, write, read) may take before it is abandoned. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000
/** How long a handler waits for the one request frame of a stream. */
export const DEFAULT_HANDLER_READ_TIMEOUT_MS = 5_000
/** Streams per protocol per connection we accept at once (libp2p's default is 32). */
export const DEFAULT_MAX_INBOUND_STREAMS = 32
/**
 * How often libp2p's connection monitor pings every connection of a node (its default is 10 s).
 * Each ping opens a stream (protocol negotiation, a logger, a peer-store write) and costs a few
 * milliseconds of CPU at both ends after idle on a small VM, so with 10 s they were most of what
 * an idle device did: 10 `meshchat listen` receivers in one room (each ~16 connections: the node,
 * the peers it dialed and those that dialed it) used 21–22 ms of CPU a second each, and 6–7 ms/s
 * at 60 s (65 s windows). The rendezvous node had used 60 s already: holding 200 idle devices,
 * its idle CPU went from 98–122 to 82–111 ms/s (three alternating runs each). The pings are a
 * backstop that finds a dead connection nobody uses: a session with the rendezvous node has its
 * own heartbeat (2 s), a DM or file request its own timeout, a closed socket is seen at once, and
 * one a minute keeps TCP NAT mappings open.
 */
export const DEFAULT_PING_INTERVAL_MS = 60_000
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
