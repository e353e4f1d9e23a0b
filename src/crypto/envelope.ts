/** Signed envelopes: every message a person sends, signed by the sending device's key. */
import {
  canonicalBytes, toBase64url, InvalidSignatureError, InvalidMessageError, MAX_CLOCK_SKEW_MS
} from '../protocol/index.js'
import { verifyCertificate } from './certificate.js'
import { randomChunk } from './random.js'
import { publicKeyOf, signBytes, verifyBytes } from './keys.js'
import type { Certificate, Envelope } from '../protocol/index.js'
import type { PrivateKey, PublicKey } from '@libp2p/interface'

const ENVELOPE_DOMAIN = 'meshchat-envelope/1'

export type UnsignedEnvelope = Omit<Envelope, 'sig' | 'cert'>
type Content = Pick<Envelope, 'kind' | 'body'>

function envelopeBytes (e: UnsignedEnvelope): Uint8Array {
  // `n` joined the signed fields later; an envelope without it signs exactly as before
  const fields: unknown[] = [ENVELOPE_DOMAIN, e.v, e.id, e.conv, e.author, e.device, e.sentAt, e.kind, e.body]
  if (e.n != null) fields.push(e.n)
  return canonicalBytes(fields)
}

export function newMessageId (): string {
  return randomChunk(16).toString('hex')
}

export interface EnvelopeFields {
  conv: string
  id?: string
  sentAt?: number
  n?: number
}

export async function signEnvelope<C extends Content> (deviceKey: PrivateKey, cert: Certificate, fields: EnvelopeFields & C): Promise<Extract<Envelope, { kind: C['kind'] }>> {
  const unsigned = {
    v: 1 as const,
    id: fields.id ?? newMessageId(),
    conv: fields.conv,
    author: cert.user,
    device: cert.device,
    sentAt: fields.sentAt ?? Date.now(),
    ...(fields.n == null ? {} : { n: fields.n }),
    kind: fields.kind,
    body: fields.body
  } as UnsignedEnvelope
  const sig = await signBytes(deviceKey, envelopeBytes(unsigned))
  return { ...unsigned, cert, sig: toBase64url(sig) } as Extract<Envelope, { kind: C['kind'] }>
}

/**
 * Checks an envelope end to end: the certificate is the rendezvous node's, names the author and
 * the device, and the device's key signed the envelope. Throws a named error otherwise.
 * `offload`: check the signature in a worker thread (many checks at once; keys.ts verifyBytes).
 */
export async function verifyEnvelope (serverKey: PublicKey, env: Envelope, now = Date.now(), options: { offload?: boolean } = {}): Promise<void> {
  await verifyCertificate(serverKey, env.cert, { user: env.author, device: env.device, now })
  if (env.sentAt > now + MAX_CLOCK_SKEW_MS) {
    throw new InvalidMessageError('message is dated in the future')
  }
  let ok = false
  try {
    // envelopeBytes reads the signed fields only: the envelope as it is, no copy without sig and cert
    ok = await verifyBytes(publicKeyOf(env.device), envelopeBytes(env), Buffer.from(env.sig, 'base64url'), options)
  } catch {
    ok = false
  }
  if (!ok) {
    throw new InvalidSignatureError('message signature does not match its device')
  }
}
