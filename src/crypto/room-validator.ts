/**
 * The gossipsub topic validator of a room: anything unsigned, uncertified, forged, oversized, or
 * for another room is rejected. A message over its sender's rate is dropped without blaming the
 * peer that forwarded it (each peer judges the rate by its own clock, so an honest forwarder may
 * pass on what this peer finds over the rate); the sending device collects penalty points
 * instead, which lower its gossipsub score (`score`).
 */
import { decodeFrame, envelope as envelopeSchema, roomConversation, MAX_ROOM_ENVELOPE_BYTES, RateLimiter, Penalties } from '../protocol/index.js'
import { verifyEnvelope } from './envelope.js'
import type { Envelope } from '../protocol/index.js'
import type { PublicKey } from '@libp2p/interface'

/**
 * `ignore`: drop the message but do not count it against the peer that forwarded it (gossipsub
 * Ignore rather than Reject).
 */
export type RoomVerdict = { ok: true, envelope: Envelope } | { ok: false, reason: string, ignore?: boolean }

/** Half-life of a device's penalty points for messages over its rate. */
export const ROOM_PENALTY_HALF_LIFE_MS = 10_000

export interface RoomMessageLike {
  type: 'signed' | 'unsigned'
  /** The original publisher, present on signed messages. */
  from?: { toString: () => string }
  data: Uint8Array
}

export class RoomValidator {
  private readonly rate: RateLimiter
  private readonly penalties = new Penalties(ROOM_PENALTY_HALF_LIFE_MS)

  /** @param rate messages a second each device may publish to rooms; @param burst how many at once */
  constructor (private readonly serverKey: PublicKey, rate = 20, burst = 40) {
    this.rate = new RateLimiter(rate, burst)
  }

  /**
   * The application-specific gossipsub score of a peer: below 0 while it has recently published
   * over its rate (gossipsub weighs it by 10: each recent excess message costs 1 point of score).
   */
  score (peer: string): number {
    return -0.1 * this.penalties.get(peer)
  }

  async check (room: string, msg: RoomMessageLike): Promise<RoomVerdict> {
    if (msg.type !== 'signed' || msg.from == null) {
      return { ok: false, reason: 'unsigned' }
    }
    if (msg.data.length > MAX_ROOM_ENVELOPE_BYTES) {
      return { ok: false, reason: 'oversized' }
    }
    let env: Envelope
    try {
      env = decodeFrame(msg.data, envelopeSchema, MAX_ROOM_ENVELOPE_BYTES)
    } catch {
      return { ok: false, reason: 'malformed' }
    }
    if (env.conv !== roomConversation(room)) {
      return { ok: false, reason: 'wrong room' }
    }
    if (msg.from.toString() !== env.device) {
      return { ok: false, reason: 'publisher is not the signing device' }
    }
    try {
      await verifyEnvelope(this.serverKey, env)
    } catch (err) {
      return { ok: false, reason: (err as Error).name }
    }
    if (!this.rate.take(env.device)) {
      // `from` signed the gossipsub message: it is the device itself, whoever forwarded it
      this.penalties.add(env.device)
      return { ok: false, reason: 'over rate', ignore: true }
    }
    return { ok: true, envelope: env }
  }
}
