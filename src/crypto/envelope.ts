/** Signed envelopes: every message a person sends, signed by the sending device's key. */
import { hash } from 'node:crypto'
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
  // `n`, then `prev`, joined the signed fields later; an envelope without them signs exactly as before
  const fields: unknown[] = [ENVELOPE_DOMAIN, e.v, e.id, e.conv, e.author, e.device, e.sentAt, e.kind, e.body]
  if (e.n != null) fields.push(e.n)
  if (e.prev != null) fields.push(e.prev)
  return canonicalBytes(fields)
}

/** What a `prev` holds: SHA-256 of an envelope's signed bytes, base64url (43 characters). */
function signedHash (bytes: Uint8Array): string {
  return hash('sha256', bytes, 'base64url')
}

/**
 * A device's chains of messages (schemas.ts `prev`): per conversation, the number and signed-bytes
 * hash of the last numbered message signed with it, so that message n carries the hash of n − 1.
 * A bulk check then needs one signature for a run of them (verifyEnvelopes). Bounded: the
 * conversation signed in least lately is forgotten first, and a forgotten conversation (or a
 * new process) starts a new chain, its next message without `prev`, which costs a checker one
 * more signature and nothing else.
 */
export class EnvelopeChain {
  private readonly last = new Map<string, { n: number, hash: string }>()

  constructor (private readonly conversations = 1024) {}

  /** The `prev` of message `n` of `conv`: the hash of message n − 1, if it was signed with this chain. */
  prev (conv: string, n: number): string | undefined {
    const last = this.last.get(conv)
    return last?.n === n - 1 ? last.hash : undefined
  }

  /** Message `n` of `conv` was signed with these bytes' hash (a lower number than the last one changes nothing). */
  record (conv: string, n: number, hash: string): void {
    const last = this.last.get(conv)
    if (last != null && last.n >= n) return
    this.last.delete(conv)
    this.last.set(conv, { n, hash })
    if (this.last.size > this.conversations) this.last.delete(this.last.keys().next().value!)
  }
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

/**
 * Signs an envelope with the device key. `chain`: a numbered message (`n`) carries the hash of
 * the previous one signed with the same chain in its conversation (`prev`), and is recorded for
 * the next one. The hash is taken and recorded before the signature is made, synchronously, so
 * messages numbered one after the other chain in that order.
 */
export async function signEnvelope<C extends Content> (deviceKey: PrivateKey, cert: Certificate, fields: EnvelopeFields & C, options: { chain?: EnvelopeChain } = {}): Promise<Extract<Envelope, { kind: C['kind'] }>> {
  const prev = fields.n == null ? undefined : options.chain?.prev(fields.conv, fields.n)
  const unsigned = {
    v: 1 as const,
    id: fields.id ?? newMessageId(),
    conv: fields.conv,
    author: cert.user,
    device: cert.device,
    sentAt: fields.sentAt ?? Date.now(),
    ...(fields.n == null ? {} : { n: fields.n }),
    ...(prev == null ? {} : { prev }),
    kind: fields.kind,
    body: fields.body
  } as UnsignedEnvelope
  const bytes = envelopeBytes(unsigned)
  if (fields.n != null) options.chain?.record(fields.conv, fields.n, signedHash(bytes))
  const sig = await signBytes(deviceKey, bytes)
  return { ...unsigned, cert, sig: toBase64url(sig) } as Extract<Envelope, { kind: C['kind'] }>
}

/** Is the envelope's signature its device's, over `bytes` (its signed bytes)? False for anything malformed. */
async function signatureHolds (env: Envelope, bytes: Uint8Array, options: { offload?: boolean }): Promise<boolean> {
  try {
    return await verifyBytes(publicKeyOf(env.device), bytes, Buffer.from(env.sig, 'base64url'), options)
  } catch {
    return false
  }
}

/** The envelope's certificate is the node's, valid at `now`, and names its author and device; it is not dated in the future. Throws a named error otherwise. */
async function checkCertificateAndDate (serverKey: PublicKey, env: Envelope, now: number): Promise<void> {
  await verifyCertificate(serverKey, env.cert, { user: env.author, device: env.device, now })
  if (env.sentAt > now + MAX_CLOCK_SKEW_MS) {
    throw new InvalidMessageError('message is dated in the future')
  }
}

/**
 * Checks an envelope end to end: the certificate is the rendezvous node's, names the author and
 * the device, and the device's key signed the envelope. Throws a named error otherwise.
 * `offload`: check the signature in a worker thread (many checks at once; keys.ts verifyBytes).
 */
export async function verifyEnvelope (serverKey: PublicKey, env: Envelope, now = Date.now(), options: { offload?: boolean } = {}): Promise<void> {
  await checkCertificateAndDate(serverKey, env, now)
  // envelopeBytes reads the signed fields only: the envelope as it is, no copy without sig and cert
  if (!await signatureHolds(env, envelopeBytes(env), options)) {
    throw new InvalidSignatureError('message signature does not match its device')
  }
}

export interface BulkVerification {
  /** Per envelope, in the order given: does it hold (certificate, date, and its signature or a verified successor's)? */
  ok: boolean[]
  /** Signatures checked; the other envelopes that hold were vouched for by a successor. */
  signatures: number
}

/**
 * Checks many envelopes at once (a page of backfill or of room history), each as verifyEnvelope
 * does, with as few signature checks as it can. A message whose `prev` is the hash of the signed
 * bytes of another one in the list vouches for it: its own signature covers that hash. So of a
 * run of one device's consecutive messages only the last signature is checked and the others are
 * hashed. A link counts only between two messages of the same conversation, author and device
 * numbered n and n + 1 (a device can vouch for its own messages only). A message that no holding
 * message vouches for has its own signature checked. Every certificate and date is checked.
 * `at`: when the envelope's certificate must have been valid (default now). `offload`: the
 * signatures are checked in worker threads.
 */
export async function verifyEnvelopes (serverKey: PublicKey, envs: readonly Envelope[], options: { at?: (env: Envelope) => number, offload?: boolean } = {}): Promise<BulkVerification> {
  const ok = envs.map(() => false)
  const bytes: Uint8Array[] = []
  /** Certificate and date hold; the signature is not known yet. */
  const open = new Set<number>()
  for (const [i, env] of envs.entries()) {
    try {
      await checkCertificateAndDate(serverKey, env, options.at?.(env) ?? Date.now())
    } catch {
      continue
    }
    bytes[i] = envelopeBytes(env)
    open.add(i)
  }

  // links: who vouches for whom (by the hash of the predecessor's signed bytes), both ways
  const vouchesFor = new Map<number, number[]>()
  const vouchedBy = new Map<number, number[]>()
  const link = <K>(map: Map<K, number[]>, from: K, to: number): void => {
    const list = map.get(from)
    if (list == null) map.set(from, [to])
    else list.push(to)
  }
  if (envs.some(e => e.prev != null)) {
    const byHash = new Map<string, number[]>()
    for (const i of open) {
      if (envs[i]!.n == null) continue
      link(byHash, signedHash(bytes[i]!), i)
    }
    for (const j of open) {
      const later = envs[j]!
      if (later.prev == null || later.n == null) continue
      for (const i of byHash.get(later.prev) ?? []) {
        const earlier = envs[i]!
        if (earlier.n !== later.n - 1 || earlier.conv !== later.conv || earlier.author !== later.author || earlier.device !== later.device) continue
        link(vouchesFor, j, i)
        link(vouchedBy, i, j)
      }
    }
  }

  let signatures = 0
  const check = async (list: number[]): Promise<void> => {
    signatures += list.length
    const holds = await Promise.all(list.map(async i => await signatureHolds(envs[i]!, bytes[i]!, options)))
    const stack: number[] = []
    list.forEach((i, k) => {
      open.delete(i)
      if (holds[k] === true) {
        ok[i] = true
        stack.push(i)
      }
    })
    // what a message that holds vouches for holds too, and so on back along the chain
    for (let j = stack.pop(); j != null; j = stack.pop()) {
      for (const i of vouchesFor.get(j) ?? []) {
        if (ok[i]) continue
        ok[i] = true
        open.delete(i)
        stack.push(i)
      }
    }
  }
  // rounds: each checks the messages nothing still undecided vouches for (at first the last of
  // every run; after a message fails, the one before it). Links go from n to n + 1 only, so
  // every round has one, and a round decides at least one message.
  while (open.size > 0) {
    await check([...open].filter(i => !(vouchedBy.get(i) ?? []).some(j => open.has(j))))
  }
  return { ok, signatures }
}

/**
 * Checks envelopes one by one for their callers, as verifyEnvelope does, but the ones that come
 * in one turn of the event loop together (verifyEnvelopes): a device taking a burst of one
 * sender's chained messages checks one signature for the run. A lone envelope is checked on its
 * own, as before, and one that does not hold is checked again on its own for the error it throws.
 */
export class EnvelopeChecks {
  private queue: Array<{ env: Envelope, resolve: () => void, reject: (err: unknown) => void }> = []
  /** Envelopes checked so far, and the signature checks that took (a message checked again on its own counts one). */
  readonly counts = { envelopes: 0, signatures: 0 }

  /** `max`: envelopes checked together at most (a full batch goes at once). */
  constructor (private readonly serverKey: () => PublicKey, private readonly max = 64) {}

  async check (env: Envelope): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.queue.push({ env, resolve, reject })
      if (this.queue.length === 1) setImmediate(() => { void this.flush() })
      else if (this.queue.length >= this.max) void this.flush()
    })
  }

  private async flush (): Promise<void> {
    const batch = this.queue
    this.queue = []
    if (batch.length === 0) return
    const now = Date.now()
    let ok: boolean[] = []
    this.counts.envelopes += batch.length
    try {
      const key = this.serverKey()
      if (batch.length > 1) {
        const res = await verifyEnvelopes(key, batch.map(b => b.env), { at: () => now })
        ok = res.ok
        this.counts.signatures += res.signatures
      }
      for (const [i, { env, resolve, reject }] of batch.entries()) {
        if (ok[i] === true) {
          resolve()
          continue
        }
        this.counts.signatures++
        verifyEnvelope(key, env, now).then(resolve, reject)
      }
    } catch (err) {
      // nothing of the batch is taken, and every caller hears it
      for (const { reject } of batch) reject(err)
    }
  }
}
