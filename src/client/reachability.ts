/**
 * Whether this device should hold a relay slot on its rendezvous node (DESIGN.md, issue 6): a
 * device that has no public address of its own, talking to a node that does, is most likely
 * behind NAT and cannot be dialed; peers then reach it through the relay and try to upgrade to a
 * direct connection by hole punching.
 */
import { networkInterfaces } from 'node:os'

export type RelayMode = 'auto' | 'always' | 'never'

/** RFC 1918, loopback, link-local, CGNAT (100.64/10), IPv6 loopback, link-local and ULA. */
export function isPrivateIp (ip: string): boolean {
  if (ip.includes(':')) {
    const v6 = ip.toLowerCase()
    return v6 === '::1' || v6 === '::' || v6.startsWith('fe80:') || v6.startsWith('fc') || v6.startsWith('fd')
  }
  const parts = ip.split('.').map(Number)
  if (parts.length !== 4 || parts.some(n => !Number.isInteger(n) || n < 0 || n > 255)) return true
  const [a, b] = parts as [number, number, number, number]
  return a === 10 || a === 127 || a === 0 ||
    (a === 172 && b >= 16 && b <= 31) ||
    (a === 192 && b === 168) ||
    (a === 169 && b === 254) ||
    (a === 100 && b >= 64 && b <= 127)
}

/** The host of a server multiaddr (`/ip4/203.0.113.5/tcp/4001/…` → `203.0.113.5`). */
export function hostOfAddress (addr: string): { kind: string, host: string } {
  const [, kind = '', host = ''] = addr.split('/')
  return { kind, host }
}

/** This machine's own interface addresses. */
export function localAddresses (): string[] {
  return Object.values(networkInterfaces()).flatMap(list => (list ?? []).map(i => i.address))
}

export function wantsRelay (mode: RelayMode, serverAddr: string, local: string[] = localAddresses()): boolean {
  if (mode !== 'auto') return mode === 'always'
  const { kind, host } = hostOfAddress(serverAddr)
  const serverPublic = kind.startsWith('dns') || !isPrivateIp(host)
  const selfPublic = local.some(ip => !isPrivateIp(ip))
  return serverPublic && !selfPublic
}
