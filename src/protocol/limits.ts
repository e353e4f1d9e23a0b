/** Pure rate-limiting logic shared by the rendezvous node and clients (bounded memory). */

/**
 * Token buckets keyed by a string (a device, an address), `rate` tokens a second up to `burst`.
 * At most `maxKeys` buckets are kept; the oldest is forgotten first.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number, at: number }>()

  constructor (private readonly rate: number, private readonly burst: number, private readonly maxKeys = 10_000) {}

  /** Takes one token for `key`; false when the key is over its rate. */
  take (key: string, now = Date.now()): boolean {
    let b = this.buckets.get(key)
    if (b == null) {
      if (this.buckets.size >= this.maxKeys) {
        const oldest = this.buckets.keys().next().value
        if (oldest != null) this.buckets.delete(oldest)
      }
      b = { tokens: this.burst, at: now }
    } else {
      this.buckets.delete(key)
      // a clock that stepped back refills nothing rather than taking tokens away
      b.tokens = Math.min(this.burst, b.tokens + Math.max(0, now - b.at) / 1000 * this.rate)
      b.at = now
    }
    this.buckets.set(key, b)
    if (b.tokens < 1) return false
    b.tokens -= 1
    return true
  }
}

export interface FailureThrottleInit {
  /** Failures allowed before any waiting is imposed. */
  freeFailures: number
  /** The wait after the first counted failure; it doubles with each further one. */
  baseDelayMs: number
  maxDelayMs: number
  /** Failures older than this are forgotten. */
  forgetAfterMs: number
  maxKeys?: number
}

/**
 * Slows down guessing: after `freeFailures` failed attempts for a key, the next attempt is refused
 * until an exponentially growing wait has passed since the last failure.
 */
export class FailureThrottle {
  private readonly failures = new Map<string, { count: number, last: number }>()

  constructor (private readonly init: FailureThrottleInit) {}

  /** Milliseconds the key must still wait before its next attempt is looked at (0: go ahead). */
  waitMs (key: string, now = Date.now()): number {
    const f = this.failures.get(key)
    if (f == null) return 0
    if (now - f.last > this.init.forgetAfterMs) {
      this.failures.delete(key)
      return 0
    }
    const over = f.count - this.init.freeFailures
    if (over < 0) return 0
    const delay = Math.min(this.init.maxDelayMs, this.init.baseDelayMs * 2 ** Math.min(over, 30))
    return Math.max(0, f.last + delay - now)
  }

  fail (key: string, now = Date.now()): void {
    let f = this.failures.get(key)
    this.failures.delete(key)
    if (f != null && now - f.last > this.init.forgetAfterMs) f = undefined
    if (f == null && this.failures.size >= (this.init.maxKeys ?? 100_000)) {
      const oldest = this.failures.keys().next().value
      if (oldest != null) this.failures.delete(oldest)
    }
    this.failures.set(key, { count: (f?.count ?? 0) + 1, last: now })
  }

  succeed (key: string): void {
    this.failures.delete(key)
  }

  /** Takes back one failure counted in advance (an attempt that turned out to succeed). */
  undo (key: string): void {
    const f = this.failures.get(key)
    if (f == null) return
    if (f.count <= 1) this.failures.delete(key)
    else f.count--
  }
}

/**
 * Penalty points per key (a device) that halve every `halfLifeMs`, for gossipsub's
 * application-specific score. At most `maxKeys` are kept; the oldest is forgotten first.
 */
export class Penalties {
  private readonly points = new Map<string, { value: number, at: number }>()

  constructor (private readonly halfLifeMs: number, private readonly maxKeys = 10_000) {}

  add (key: string, points = 1, now = Date.now()): void {
    const value = this.get(key, now) + points
    this.points.delete(key)
    if (this.points.size >= this.maxKeys) {
      const oldest = this.points.keys().next().value
      if (oldest != null) this.points.delete(oldest)
    }
    this.points.set(key, { value, at: now })
  }

  /** The points of `key` now (0 when it has none). */
  get (key: string, now = Date.now()): number {
    const p = this.points.get(key)
    if (p == null) return 0
    const value = p.value * 0.5 ** (Math.max(0, now - p.at) / this.halfLifeMs)
    if (value < 0.01) {
      this.points.delete(key)
      return 0
    }
    return value
  }
}
