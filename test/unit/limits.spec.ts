import assert from 'node:assert/strict'
import { FailureThrottle, RateLimiter } from '../../src/protocol/index.js'
import type { FailureThrottleInit } from '../../src/protocol/index.js'

/** Takes from `limiter` until it refuses (at most `max` times); returns how many it granted. */
function drain (limiter: RateLimiter, key: string, now: number, max = 1000): number {
  let n = 0
  while (n < max && limiter.take(key, now)) n++
  return n
}

describe('RateLimiter', function () {
  it('grants a burst at once, then refuses', () => {
    const limiter = new RateLimiter(1, 5)
    assert.equal(drain(limiter, 'a', 0), 5)
    assert.equal(limiter.take('a', 0), false)
  })

  it('keeps every key in its own bucket', () => {
    const limiter = new RateLimiter(1, 2)
    assert.equal(drain(limiter, 'a', 0), 2)
    assert.equal(limiter.take('b', 0), true)
    assert.equal(limiter.take('b', 0), true)
    assert.equal(limiter.take('b', 0), false)
  })

  it('refills at `rate` tokens a second', () => {
    const early = new RateLimiter(2, 4)
    assert.equal(drain(early, 'a', 10_000), 4)
    assert.equal(early.take('a', 10_499), false, 'half a second gives 0.998 tokens')

    const onTime = new RateLimiter(2, 4)
    assert.equal(drain(onTime, 'a', 10_000), 4)
    assert.equal(onTime.take('a', 10_500), true, 'half a second at 2/s gives one token')
    assert.equal(onTime.take('a', 10_500), false)

    const later = new RateLimiter(2, 4)
    assert.equal(drain(later, 'a', 10_000), 4)
    assert.equal(drain(later, 'a', 11_500), 3, '1.5 s at 2/s gives three tokens')
  })

  it('refills no higher than the burst', () => {
    const limiter = new RateLimiter(10, 3)
    assert.equal(drain(limiter, 'a', 0), 3)
    assert.equal(drain(limiter, 'a', 3_600_000), 3)
  })

  it('does not charge refused attempts', () => {
    const limiter = new RateLimiter(1, 1)
    assert.equal(limiter.take('a', 0), true)
    // steps of 125 ms add exact binary fractions of a token, so no rounding blurs the edge
    for (let t = 0; t < 1000; t += 125) assert.equal(limiter.take('a', t), false)
    assert.equal(limiter.take('a', 1000), true, 'refusals in between did not push the refill back')
  })

  it('supports fractional rates', () => {
    const limiter = new RateLimiter(0.5, 1)
    assert.equal(limiter.take('a', 0), true)
    assert.equal(limiter.take('a', 1_999), false)
    assert.equal(limiter.take('a', 2_000), true)
  })

  it('forgets the oldest key once it holds maxKeys', () => {
    const limiter = new RateLimiter(0.001, 1, 2)
    assert.equal(limiter.take('a', 0), true)
    assert.equal(limiter.take('b', 0), true)
    assert.equal(limiter.take('c', 0), true) // evicts a
    assert.equal(limiter.take('c', 0), false)
    assert.equal(limiter.take('a', 0), true, 'a was forgotten, so it starts with a full bucket') // evicts b
    assert.equal(limiter.take('c', 0), false, 'c was kept')
  })

  it('counts a recently used key as new, so the least recently used goes first', () => {
    const limiter = new RateLimiter(0.001, 1, 2)
    assert.equal(limiter.take('a', 0), true)
    assert.equal(limiter.take('b', 0), true)
    assert.equal(limiter.take('a', 1), false) // a is now the most recent
    assert.equal(limiter.take('c', 2), true) // evicts b, not a
    assert.equal(limiter.take('a', 3), false, 'a was kept')
    assert.equal(limiter.take('b', 4), true, 'b was forgotten')
  })

  it('never holds more than maxKeys buckets', () => {
    const limiter = new RateLimiter(0.001, 1, 100)
    for (let i = 0; i < 1000; i++) assert.equal(limiter.take(`k${i}`, 0), true)
    // of the first 900 keys none is remembered any more; the last 100 are
    assert.equal(limiter.take('k0', 0), true)
    assert.equal(limiter.take('k999', 0), false)
  })

  it('does not take tokens away when the clock steps back', () => {
    const limiter = new RateLimiter(1, 2)
    assert.equal(limiter.take('a', 3_600_000), true)
    assert.equal(limiter.take('a', 0), true, 'one token was left')
    assert.equal(limiter.take('a', 1_000), true, 'a second later it refilled one')
  })
})

describe('FailureThrottle', function () {
  const init: FailureThrottleInit = { freeFailures: 2, baseDelayMs: 100, maxDelayMs: 1_000, forgetAfterMs: 10_000 }

  /** Fails `key` `n` times at `now`. */
  function failTimes (t: FailureThrottle, key: string, n: number, now: number): void {
    for (let i = 0; i < n; i++) t.fail(key, now)
  }

  it('lets a key with no failures go ahead', () => {
    const t = new FailureThrottle(init)
    assert.equal(t.waitMs('alice', 0), 0)
  })

  it('imposes no wait until freeFailures failures', () => {
    const t = new FailureThrottle(init)
    t.fail('alice', 0)
    assert.equal(t.waitMs('alice', 0), 0)
  })

  it('waits baseDelayMs after freeFailures failures, counted from the last one', () => {
    const t = new FailureThrottle(init)
    t.fail('alice', 0)
    t.fail('alice', 1_000)
    assert.equal(t.waitMs('alice', 1_000), 100)
    assert.equal(t.waitMs('alice', 1_030), 70)
    assert.equal(t.waitMs('alice', 1_100), 0)
    assert.equal(t.waitMs('alice', 5_000), 0)
  })

  it('doubles the wait with each further failure', () => {
    const t = new FailureThrottle(init)
    const waits: number[] = []
    for (let i = 1; i <= 6; i++) {
      t.fail('alice', 0)
      waits.push(t.waitMs('alice', 0))
    }
    assert.deepEqual(waits, [0, 100, 200, 400, 800, 1_000])
  })

  it('never waits longer than maxDelayMs, however many failures', () => {
    const t = new FailureThrottle(init)
    failTimes(t, 'alice', 5_000, 0)
    assert.equal(t.waitMs('alice', 0), 1_000)
    assert.equal(t.waitMs('alice', 400), 600)
  })

  it('does not overflow with a huge maxDelayMs', () => {
    const t = new FailureThrottle({ ...init, maxDelayMs: Number.MAX_SAFE_INTEGER })
    failTimes(t, 'alice', 200, 0)
    const wait = t.waitMs('alice', 0)
    assert.ok(Number.isFinite(wait))
    assert.equal(wait, 100 * 2 ** 30)
  })

  it('keeps keys apart', () => {
    const t = new FailureThrottle(init)
    failTimes(t, 'alice', 3, 0)
    assert.equal(t.waitMs('alice', 0), 200)
    assert.equal(t.waitMs('bob', 0), 0)
  })

  it('forgets failures older than forgetAfterMs', () => {
    const t = new FailureThrottle(init)
    failTimes(t, 'alice', 5, 0)
    assert.equal(t.waitMs('alice', 10_000), 0)
    assert.equal(t.waitMs('alice', 10_001), 0)
    // the count starts over: one more failure is free again
    t.fail('alice', 10_001)
    assert.equal(t.waitMs('alice', 10_001), 0)
  })

  it('still counts failures up to forgetAfterMs old', () => {
    const t = new FailureThrottle({ ...init, maxDelayMs: 100_000 })
    failTimes(t, 'alice', 5, 0)
    assert.equal(t.waitMs('alice', 10_000), 0, 'the wait of 800 ms has passed')
    t.fail('alice', 10_000)
    assert.equal(t.waitMs('alice', 10_000), 1_600, 'the sixth failure still doubles the wait')
  })

  it('forgets old failures even when fail() comes without a waitMs() first', () => {
    const t = new FailureThrottle(init)
    failTimes(t, 'alice', 5, 0)
    t.fail('alice', 20_000)
    assert.equal(t.waitMs('alice', 20_000), 0)
  })

  it('clears a key on success', () => {
    const t = new FailureThrottle(init)
    failTimes(t, 'alice', 4, 0)
    assert.equal(t.waitMs('alice', 0), 400)
    t.succeed('alice')
    assert.equal(t.waitMs('alice', 0), 0)
    t.fail('alice', 0)
    assert.equal(t.waitMs('alice', 0), 0, 'the count started over')
    t.fail('alice', 0)
    assert.equal(t.waitMs('alice', 0), 100)
  })

  it('succeed on an unknown key is harmless', () => {
    const t = new FailureThrottle(init)
    t.succeed('nobody')
    assert.equal(t.waitMs('nobody', 0), 0)
  })

  it('forgets the least recently failed key once it holds maxKeys', () => {
    const t = new FailureThrottle({ ...init, freeFailures: 1, maxKeys: 2 })
    t.fail('a', 0)
    t.fail('b', 0)
    t.fail('a', 0) // a is now the most recent
    t.fail('c', 0) // evicts b
    assert.equal(t.waitMs('a', 0), 200, 'a kept both failures')
    assert.equal(t.waitMs('b', 0), 0, 'b was forgotten')
    assert.equal(t.waitMs('c', 0), 100)
  })

  it('does not evict when an existing key fails again at maxKeys', () => {
    const t = new FailureThrottle({ ...init, freeFailures: 1, maxKeys: 2 })
    t.fail('a', 0)
    t.fail('b', 0)
    t.fail('b', 0)
    assert.equal(t.waitMs('a', 0), 100)
    assert.equal(t.waitMs('b', 0), 200)
  })
})
