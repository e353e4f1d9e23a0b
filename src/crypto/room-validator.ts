/**
 * The gossipsub topic validator of a room: anything unsigned, uncertified, forged, oversized, for
 * another room, or over its sender's rate is rejected (and counts against the forwarding peer).
 */
import { decodeFrame, envelope as envelopeSchema, roomConversation, MAX_ENVELOPE_BYTES, RateLimiter } from '../protocol/index.js'
import { verifyEnvelope } from './envelope.js'
import type { Envelope } from '../protocol/index.js'
import type { PublicKey } from '@libp2p/interface'

export type RoomVerdict = { ok: true, envelope: Envelope } | { ok: false, reason: string }

export interface RoomMessageLike {
  type: 'signed' | 'unsigned'
  /** The original publisher, present on signed messages. */
  from?: { toString: () => string }
  data: Uint8Array
}

export class RoomValidator {
  private readonly rate: RateLimiter

  /** @param rate messages a second each device may publish to rooms; @param burst how many at once */
  constructor (private readonly serverKey: PublicKey, rate = 20, burst = 40) {
    this.rate = new RateLimiter(rate, burst)
  }

  async check (room: string, msg: RoomMessageLike): Promise<RoomVerdict> {
    if (msg.type !== 'signed' || msg.from == null) {
      return { ok: false, reason: 'unsigned' }
    }
    if (msg.data.length > MAX_ENVELOPE_BYTES) {
      return { ok: false, reason: 'oversized' }
    }
    let env: Envelope
    try {
      env = decodeFrame(msg.data, envelopeSchema, MAX_ENVELOPE_BYTES)
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
      return { ok: false, reason: 'over rate' }
    }
    return { ok: true, envelope: env }
  }
}
