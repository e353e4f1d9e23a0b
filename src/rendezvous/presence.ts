/**
 * Who is online: the live sessions of every device, and the one place presence events flow from
 * (DESIGN.md "Presence and events"). An account is online while any of its devices has a session.
 */
import type { DeviceInfo, PresenceEvent } from '../protocol/index.js'

export interface SessionSink {
  readonly user: string
  readonly peer: string
  addrs: string[]
  /** Queues one event for the device; returns false when the device is too far behind. */
  push: (ev: PresenceEvent) => boolean
  /** Tells the device that its account's archive has new items up to `seq`. */
  mail?: (seq: number) => void
  /** Ends the session (slow consumer, logout, shutdown). */
  close: (reason: string) => void
}

export type PresenceListener = (ev: PresenceEvent) => void

export class Presence {
  private readonly byUser = new Map<string, Map<string, SessionSink>>()
  private readonly listeners = new Set<PresenceListener>()

  /** Devices online for `user`, with the addresses they announced. */
  devices (user: string): DeviceInfo[] {
    const sessions = this.byUser.get(user)
    if (sessions == null) return []
    return [...sessions.values()].map(s => ({ peer: s.peer, addrs: s.addrs }))
  }

  isOnline (user: string): boolean {
    return (this.byUser.get(user)?.size ?? 0) > 0
  }

  onlineCount (): number {
    return this.byUser.size
  }

  sessionOf (user: string, peer: string): SessionSink | undefined {
    return this.byUser.get(user)?.get(peer)
  }

  /** The live sessions of one account's devices. */
  sessionsOf (user: string): SessionSink[] {
    return [...(this.byUser.get(user)?.values() ?? [])]
  }

  deviceCount (user: string): number {
    return this.byUser.get(user)?.size ?? 0
  }

  /** Adds a device's session (replacing an older one of the same device) and tells everyone. */
  add (session: SessionSink, now = Date.now()): void {
    let sessions = this.byUser.get(session.user)
    if (sessions == null) {
      sessions = new Map()
      this.byUser.set(session.user, sessions)
    }
    const old = sessions.get(session.peer)
    sessions.set(session.peer, session)
    if (old != null && old !== session) {
      old.close('replaced by a new session of the same device')
    }
    this.emitPresence(session.user, null, now)
  }

  /** Removes a session if it is still the current one of its device; returns whether the account went offline. */
  remove (session: SessionSink, lastSeen: number, now = Date.now()): boolean {
    const sessions = this.byUser.get(session.user)
    if (sessions?.get(session.peer) !== session) return false
    sessions.delete(session.peer)
    const wentOffline = sessions.size === 0
    if (wentOffline) this.byUser.delete(session.user)
    this.emitPresence(session.user, lastSeen, now)
    return wentOffline
  }

  /** The device's addresses changed (it learned new ones); tell everyone. */
  updateAddrs (session: SessionSink, addrs: string[], now = Date.now()): void {
    if (this.byUser.get(session.user)?.get(session.peer) !== session) return
    session.addrs = addrs
    this.emitPresence(session.user, null, now)
  }

  emit (ev: PresenceEvent): void {
    for (const listener of this.listeners) listener(ev)
    for (const sessions of this.byUser.values()) {
      for (const s of sessions.values()) {
        if (!s.push(ev)) s.close('too far behind')
      }
    }
  }

  onEvent (listener: PresenceListener): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  closeAll (reason: string): void {
    for (const sessions of [...this.byUser.values()]) {
      for (const s of [...sessions.values()]) s.close(reason)
    }
    this.byUser.clear()
  }

  private emitPresence (user: string, lastSeen: number | null, now: number): void {
    const devices = this.devices(user)
    this.emit({ type: 'presence', user, online: devices.length > 0, lastSeen, devices, at: now })
  }
}
