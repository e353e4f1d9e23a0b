/**
 * Device certificates: the rendezvous node vouches that a device (peer id) belongs to a user
 * until a time. Any peer checks them offline with the node's pinned public key.
 */
import {
  canonicalBytes, fromBase64url, toBase64url, InvalidCertificateError, CERT_LIFETIME_MS
} from '../protocol/index.js'
import { verifyBytes } from './keys.js'
import type { Certificate } from '../protocol/index.js'
import type { PrivateKey, PublicKey } from '@libp2p/interface'

const CERT_DOMAIN = 'meshchat-cert/1'

function certBytes (c: Omit<Certificate, 'sig'>): Uint8Array {
  return canonicalBytes([CERT_DOMAIN, c.v, c.user, c.device, c.issued, c.expires])
}

export async function issueCertificate (serverKey: PrivateKey, user: string, device: string, now = Date.now(), lifetimeMs = CERT_LIFETIME_MS): Promise<Certificate> {
  const unsigned = { v: 1 as const, user, device, issued: now, expires: now + lifetimeMs }
  const sig = await serverKey.sign(certBytes(unsigned))
  return { ...unsigned, sig: toBase64url(sig) }
}

export interface VerifyCertificateOptions {
  /** The device the certificate must name (the peer on the other end of the connection). */
  device?: string
  /** The user it must name. */
  user?: string
  now?: number
}

/** Throws InvalidCertificateError unless `cert` was signed by `serverKey`, is current and matches. */
export async function verifyCertificate (serverKey: PublicKey, cert: Certificate, options: VerifyCertificateOptions = {}): Promise<void> {
  const now = options.now ?? Date.now()
  if (options.device != null && cert.device !== options.device) {
    throw new InvalidCertificateError('certificate names another device')
  }
  if (options.user != null && cert.user !== options.user) {
    throw new InvalidCertificateError('certificate names another user')
  }
  if (cert.expires <= now) {
    throw new InvalidCertificateError('certificate expired')
  }
  if (cert.issued > now + 5 * 60_000 || cert.expires <= cert.issued) {
    throw new InvalidCertificateError('certificate times are not valid')
  }
  const { sig, ...unsigned } = cert
  // the same certificate rides on every message of a device: its signature is checked once. A
  // hit needs the same signature, every signed field and the node key (compared, nothing built)
  const node = keyText(serverKey)
  const seen = verified.get(sig)
  if (seen != null && seen.node === node && seen.v === unsigned.v && seen.user === unsigned.user && seen.device === unsigned.device && seen.issued === unsigned.issued && seen.expires === unsigned.expires) return
  const bytes = certBytes(unsigned)
  let ok = false
  try {
    ok = await verifyBytes(serverKey, bytes, fromBase64url(sig))
  } catch {
    ok = false
  }
  if (!ok) {
    throw new InvalidCertificateError('certificate signature is not the rendezvous node\'s')
  }
  if (verified.size >= VERIFIED_CERTS) verified.delete(verified.keys().next().value!)
  verified.set(sig, { node, v: unsigned.v, user: unsigned.user, device: unsigned.device, issued: unsigned.issued, expires: unsigned.expires })
}

/** A node key's text, kept per key object (toString encodes it again on each call). */
const keyTexts = new WeakMap<PublicKey, string>()
function keyText (key: PublicKey): string {
  let text = keyTexts.get(key)
  if (text == null) keyTexts.set(key, text = key.toString())
  return text
}

/** Certificates whose signature was checked, by signature: the fields and node key it was checked with, oldest first. */
const verified = new Map<string, Omit<Certificate, 'sig'> & { node: string }>()
const VERIFIED_CERTS = 10_000
