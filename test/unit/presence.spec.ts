import assert from 'node:assert/strict'
import { Presence } from '../../src/rendezvous/presence.js'
import type { SessionSink } from '../../src/rendezvous/presence.js'
import type { PresenceEvent } from '../../src/protocol/index.js'

/** A session that records what it is sent and whether it was closed. */
class FakeSink implements SessionSink {
  readonly events: PresenceEvent[] = []
  readonly closed: string[] = []
  /** When false, push refuses (a device too far behind). */
  accepting = true

  constructor (readonly user: string, readonly peer: string, public addrs: string[] = []) {}

  push (ev: PresenceEvent): boolean {
    if (!this.accepting) return false
    this.events.push(ev)
    return true
  }

  close (reason: string): void {
    this.closed.push(reason)
  }
}

type PresenceUpdate = Extract<PresenceEvent, { type: 'presence' }>

function presenceEvents (events: PresenceEvent[]): PresenceUpdate[] {
  return events.filter((e): e is PresenceUpdate => e.type === 'presence')
}

describe('Presence', function () {
  let presence: Presence
  let heard: PresenceEvent[]

  beforeEach(() => {
    presence = new Presence()
    heard = []
    presence.onEvent(ev => heard.push(ev))
  })

  it('knows nobody at first', () => {
    assert.equal(presence.isOnline('alice'), false)
    assert.deepEqual(presence.devices('alice'), [])
    assert.equal(presence.onlineCount(), 0)
    assert.equal(presence.deviceCount('alice'), 0)
    assert.equal(presence.sessionOf('alice', 'p1'), undefined)
  })

  it('puts an account online when a device session is added, and tells everyone', () => {
    const bob = new FakeSink('bob', 'pb')
    presence.add(bob, 1)
    const alice = new FakeSink('alice', 'p1', ['/ip4/10.0.0.1/tcp/1'])
    presence.add(alice, 5)
    assert.equal(presence.isOnline('alice'), true)
    assert.equal(presence.sessionOf('alice', 'p1'), alice)
    assert.deepEqual(presence.devices('alice'), [{ peer: 'p1', addrs: ['/ip4/10.0.0.1/tcp/1'] }])
    const expected: PresenceEvent = { type: 'presence', user: 'alice', online: true, lastSeen: null, devices: [{ peer: 'p1', addrs: ['/ip4/10.0.0.1/tcp/1'] }], at: 5 }
    assert.deepEqual(heard.at(-1), expected)
    assert.deepEqual(bob.events.at(-1), expected, 'other sessions are told')
    assert.deepEqual(alice.events.at(-1), expected, 'the new session is told too')
  })

  it('keeps an account online while any of its devices is', () => {
    const laptop = new FakeSink('alice', 'p1')
    const phone = new FakeSink('alice', 'p2')
    presence.add(laptop, 1)
    presence.add(phone, 2)
    assert.equal(presence.deviceCount('alice'), 2)
    assert.equal(presence.onlineCount(), 1, 'one account, two devices')
    assert.deepEqual(presence.devices('alice').map(d => d.peer).sort(), ['p1', 'p2'])

    assert.equal(presence.remove(laptop, 100, 100), false, 'the account is still online')
    assert.equal(presence.isOnline('alice'), true)
    const still = presenceEvents(heard).at(-1)
    assert.deepEqual(still, { type: 'presence', user: 'alice', online: true, lastSeen: 100, devices: [{ peer: 'p2', addrs: [] }], at: 100 })

    assert.equal(presence.remove(phone, 200, 201), true, 'the last device went offline')
    assert.equal(presence.isOnline('alice'), false)
    assert.equal(presence.onlineCount(), 0)
    assert.deepEqual(presence.devices('alice'), [])
    assert.deepEqual(presenceEvents(heard).at(-1), { type: 'presence', user: 'alice', online: false, lastSeen: 200, devices: [], at: 201 })
  })

  it('does not send to a session after it was removed', () => {
    const alice = new FakeSink('alice', 'p1')
    const bob = new FakeSink('bob', 'pb')
    presence.add(alice, 1)
    presence.add(bob, 2)
    presence.remove(alice, 3, 3)
    const before = alice.events.length
    presence.emit({ type: 'registered', user: 'carol', at: 4 })
    assert.equal(alice.events.length, before)
    assert.deepEqual(bob.events.at(-1), { type: 'registered', user: 'carol', at: 4 })
  })

  it('closes the older session when the same device starts a new one', () => {
    const first = new FakeSink('alice', 'p1')
    const second = new FakeSink('alice', 'p1')
    presence.add(first, 1)
    const seen = first.events.length
    presence.add(second, 2)
    assert.equal(first.closed.length, 1)
    assert.equal(first.events.length, seen, 'the replaced session is sent nothing more')
    assert.deepEqual(presenceEvents(second.events).at(-1)?.devices, [{ peer: 'p1', addrs: [] }])
    assert.equal(second.closed.length, 0)
    assert.equal(presence.sessionOf('alice', 'p1'), second)
    assert.equal(presence.deviceCount('alice'), 1)
  })

  it('ignores the removal of a session that was replaced', () => {
    const first = new FakeSink('alice', 'p1')
    const second = new FakeSink('alice', 'p1')
    presence.add(first, 1)
    presence.add(second, 2)
    const count = heard.length
    assert.equal(presence.remove(first, 3, 3), false)
    assert.equal(heard.length, count, 'no event for a stale session')
    assert.equal(presence.isOnline('alice'), true)
    assert.equal(presence.sessionOf('alice', 'p1'), second)
  })

  it('adding the same session twice does not close it', () => {
    const s = new FakeSink('alice', 'p1')
    presence.add(s, 1)
    presence.add(s, 2)
    assert.deepEqual(s.closed, [])
    assert.equal(presence.deviceCount('alice'), 1)
  })

  it('removing an unknown session changes nothing', () => {
    const s = new FakeSink('alice', 'p1')
    assert.equal(presence.remove(s, 1, 1), false)
    assert.deepEqual(heard, [])
  })

  it('closes a slow session whose push returns false, and still serves the others', () => {
    const slow = new FakeSink('alice', 'p1')
    const fine = new FakeSink('bob', 'pb')
    presence.add(slow, 1)
    presence.add(fine, 2)
    slow.accepting = false
    presence.emit({ type: 'registered', user: 'carol', at: 3 })
    assert.equal(slow.closed.length, 1)
    assert.equal(fine.closed.length, 0)
    assert.deepEqual(fine.events.at(-1), { type: 'registered', user: 'carol', at: 3 })
    assert.deepEqual(heard.at(-1), { type: 'registered', user: 'carol', at: 3 })
  })

  it('updates the addresses of a current session and tells everyone', () => {
    const alice = new FakeSink('alice', 'p1', ['/ip4/10.0.0.1/tcp/1'])
    const bob = new FakeSink('bob', 'pb')
    presence.add(alice, 1)
    presence.add(bob, 2)
    presence.updateAddrs(alice, ['/ip4/10.0.0.2/tcp/2', '/ip4/10.0.0.3/tcp/3'], 7)
    assert.deepEqual(alice.addrs, ['/ip4/10.0.0.2/tcp/2', '/ip4/10.0.0.3/tcp/3'])
    const expected: PresenceEvent = { type: 'presence', user: 'alice', online: true, lastSeen: null, devices: [{ peer: 'p1', addrs: ['/ip4/10.0.0.2/tcp/2', '/ip4/10.0.0.3/tcp/3'] }], at: 7 }
    assert.deepEqual(bob.events.at(-1), expected)
    assert.deepEqual(presence.devices('alice'), expected.devices)
  })

  it('ignores address updates from a session that is not current', () => {
    const first = new FakeSink('alice', 'p1', ['/ip4/10.0.0.1/tcp/1'])
    const second = new FakeSink('alice', 'p1', ['/ip4/10.0.0.9/tcp/9'])
    presence.add(first, 1)
    presence.add(second, 2)
    const count = heard.length
    presence.updateAddrs(first, ['/ip4/6.6.6.6/tcp/6'], 3)
    assert.equal(heard.length, count)
    assert.deepEqual(presence.devices('alice'), [{ peer: 'p1', addrs: ['/ip4/10.0.0.9/tcp/9'] }])
    presence.updateAddrs(new FakeSink('mallory', 'pm'), ['/ip4/6.6.6.6/tcp/6'], 4)
    assert.equal(heard.length, count)
    assert.equal(presence.isOnline('mallory'), false)
  })

  it('stops calling a listener after it unsubscribes', () => {
    const mine: PresenceEvent[] = []
    const off = presence.onEvent(ev => mine.push(ev))
    presence.emit({ type: 'registered', user: 'carol', at: 1 })
    off()
    presence.emit({ type: 'registered', user: 'dave', at: 2 })
    assert.deepEqual(mine, [{ type: 'registered', user: 'carol', at: 1 }])
    assert.equal(heard.length, 2)
  })

  it('closes every session on closeAll and forgets them', () => {
    const a = new FakeSink('alice', 'p1')
    const b = new FakeSink('alice', 'p2')
    const c = new FakeSink('bob', 'pb')
    presence.add(a, 1)
    presence.add(b, 2)
    presence.add(c, 3)
    presence.closeAll('stopping')
    for (const s of [a, b, c]) assert.deepEqual(s.closed, ['stopping'])
    assert.equal(presence.onlineCount(), 0)
    assert.equal(presence.isOnline('alice'), false)
  })
})

describe('boundAddrs', () => {
  it('keeps a device\'s addresses in order up to MAX_DEVICE_ADDR_CHARS in all, so a user\'s presence fits one frame', async () => {
    const { boundAddrs } = await import('../../src/rendezvous/rendezvous.js')
    const { MAX_DEVICE_ADDR_CHARS } = await import('../../src/rendezvous/constants.js')
    const { MAX_FRAME_BYTES, encodeFrame } = await import('../../src/protocol/index.js')
    const { MAX_DEVICES_PER_ACCOUNT } = await import('../../src/rendezvous/constants.js')
    const few = ['/ip4/127.0.0.1/tcp/1', '/ip4/10.0.0.1/tcp/2']
    assert.deepEqual(boundAddrs(few), few)
    const long = Array.from({ length: 16 }, (_, i) => `/dns4/${'a'.repeat(240)}${i}.example/tcp/1`)
    const kept = boundAddrs(long)
    assert.deepEqual(kept, long.slice(0, kept.length))
    assert.ok(kept.join('').length <= MAX_DEVICE_ADDR_CHARS)
    // the worst case: every device of one account online with as many addresses as it may keep
    const devices = Array.from({ length: MAX_DEVICES_PER_ACCOUNT }, (_, i) => ({ peer: `12D3KooW${'x'.repeat(44)}${i}`, addrs: kept }))
    encodeFrame({ t: 'event', ev: { type: 'presence', user: 'alice', online: true, lastSeen: null, devices, at: 1 } }, MAX_FRAME_BYTES)
  })
})
