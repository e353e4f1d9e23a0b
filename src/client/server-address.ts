/** Parsing and pinning the rendezvous node's address, and naming what went wrong reaching it. */
import { multiaddr } from '@multiformats/multiaddr'
import { InvalidInputError, ServerKeyChangedError, UnreachableError, MeshchatError, TimeoutError, printable } from '../protocol/index.js'
import type { Multiaddr } from '@multiformats/multiaddr'

const EXAMPLE = '/ip4/203.0.113.5/tcp/4001/p2p/12D3Koo… (or 203.0.113.5:4001)'

/** Accepts a multiaddr, or `ip:port` / `[ipv6]:port` as a shorthand for one over TCP. */
export function parseServerAddress (text: string): Multiaddr {
  const t = text.trim()
  const v4 = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(t)
  const v6 = /^\[([0-9a-fA-F:]+)\]:(\d{1,5})$/.exec(t)
  const host = /^([a-zA-Z0-9.-]+):(\d{1,5})$/.exec(t)
  let candidate = t
  if (v4 != null) candidate = `/ip4/${v4[1]}/tcp/${v4[2]}`
  else if (v6 != null) candidate = `/ip6/${v6[1]}/tcp/${v6[2]}`
  else if (host != null) candidate = `/dns/${host[1]}/tcp/${host[2]}`
  try {
    const ma = multiaddr(candidate)
    if (!candidate.includes('/tcp/')) throw new Error('no tcp')
    return ma
  } catch {
    throw new InvalidInputError(`invalid server address "${printable(text)}": expected ${EXAMPLE}`)
  }
}

export function peerIdOfAddress (ma: Multiaddr): string | undefined {
  return ma.getComponents().find(c => c.name === 'p2p')?.value
}

export function withoutPeerId (ma: Multiaddr): string {
  const id = peerIdOfAddress(ma)
  return id == null ? ma.toString() : ma.toString().replace(`/p2p/${id}`, '')
}

/** Turns a libp2p dial failure into the one line a person needs. */
export function dialError (err: unknown, addr: string): MeshchatError {
  if (err instanceof MeshchatError) return err
  const e = err as Error & { code?: string }
  const text = `${e.name ?? ''} ${e.message ?? ''}`
  if (/UnexpectedPeer|InvalidPeerId|identity key|does not match expected remote/i.test(text)) {
    return new ServerKeyChangedError(`the server at ${addr} answered with a different key than the one pinned; refusing it (if the operator really re-keyed it, log in again with its new address)`)
  }
  if (e.name === 'AbortError' || e.name === 'TimeoutError') {
    return new TimeoutError(`the server at ${addr} did not answer in time`)
  }
  return new UnreachableError(`cannot reach the server at ${addr}: ${firstLine(e.message ?? String(err))}`)
}

function firstLine (text: string): string {
  return (text.split('\n')[0] ?? '').slice(0, 200)
}
