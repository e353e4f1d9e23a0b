import assert from 'node:assert/strict'
import { Outboxes, coalesce } from '../../src/rendezvous/outbox.js'
import { eventually } from '../../src/testing/index.js'
import type { OutboxWriter } from '../../src/rendezvous/outbox.js'
import type { PresenceEvent } from '../../src/protocol/index.js'

type PresenceUpdate = Extract<PresenceEvent, { type: 'presence' }>

/** A stream that records each write (a list of frames) and can be stalled or closed. */
class FakeWriter implements OutboxWriter {
  readonly writes: Uint8Array[][] = []
  open = true
  /** While set, writes do not finish until `finish()`. */
  stalled = false
  private pending: Array<() => void> = []

  async write (frames: Uint8Array[]): Promise<void> {
    this.writes.push(frames)
    if (this.stalled) await new Promise<void>(resolve => { this.pending.push(resolve) })
  }

  writable (): boolean {
    return this.open
  }

  finish (): void {
    this.stalled = false
    for (const r of this.pending.splice(0)) r()
  }

  /** Every frame written so far, decoded. */
  frames (): Array<{ t: string, ev?: PresenceEvent, n?: number }> {
    return this.writes.flat().map(b => JSON.parse(new TextDecoder().decode(b)))
  }
}

const online = (user: string, at: number): PresenceUpdate => ({ type: 'presence', user, online: true, lastSeen: null, devices: [{ peer: `p-${user}`, addrs: [] }], at })
const offline = (user: string, at: number): PresenceUpdate => ({ type: 'presence', user, online: false, lastSeen: at, devices: [], at })

describe('session outbox', function () {
  let boxes: Outboxes
  afterEach(() => { boxes.stop() })

  it('holds frames until released, then writes everything queued in one write', async () => {
    boxes = new Outboxes(10)
    const w = new FakeWriter()
    const box = boxes.open(w, 100)
    assert.equal(box.pushEvent(online('alice', 1)), true)
    assert.equal(box.pushEvent({ type: 'registered', user: 'bob', accountKey: null, at: 2 }), true)
    boxes.flushAll()
    assert.equal(w.writes.length, 0, 'nothing goes out before the welcome')
    box.release()
    await eventually(() => w.writes.length === 1, 2_000, 'the batch')
    assert.deepEqual(w.frames().map(f => f.ev?.type), ['presence', 'registered'])
    assert.equal(box.backlog, 0)
  })

  it('drops an event too big for a frame, writes the rest, and never throws out of its timer', async () => {
    boxes = new Outboxes(5)
    const w = new FakeWriter()
    const box = boxes.open(w, 100)
    box.release()
    const huge: PresenceUpdate = { ...online('alice', 1), devices: [{ peer: 'p-alice', addrs: ['x'.repeat(70 * 1024)] }] }
    box.pushEvent(huge)
    box.pushEvent(online('bob', 2))
    boxes.flushAll()
    await eventually(() => w.writes.length === 1, 2_000, 'the batch')
    assert.deepEqual(w.frames().map(f => f.ev?.type === 'presence' ? f.ev.user : undefined), ['bob'])
  })

  it('encodes an event once for every session it goes to', async () => {
    boxes = new Outboxes(5)
    const writers = [new FakeWriter(), new FakeWriter(), new FakeWriter()]
    const opened = writers.map(w => boxes.open(w, 100))
    for (const b of opened) b.release()
    const ev = online('alice', 1)
    for (const b of opened) b.pushEvent(ev)
    await eventually(() => writers.every(w => w.writes.length === 1), 2_000, 'every session written')
    const first = writers[0]!.writes[0]![0]
    for (const w of writers) assert.equal(w.writes[0]![0], first, 'the same encoded bytes')
    assert.deepEqual(writers[1]!.frames(), [{ t: 'event', ev }])
  })

  it('keeps only the newest presence of a user still waiting, with the earlier lastSeen', async () => {
    boxes = new Outboxes(60_000)
    const w = new FakeWriter()
    const box = boxes.open(w, 100)
    box.release()
    box.pushEvent(online('bob', 1))
    box.pushEvent(offline('alice', 2))
    box.pushEvent({ type: 'disabled', user: 'carol', disabled: true, at: 3 })
    box.pushEvent(online('alice', 4))
    assert.equal(box.backlog, 3, 'alice\'s two events take one place')
    boxes.flushAll()
    await eventually(() => w.writes.length === 1, 2_000, 'the batch')
    const evs = w.frames().map(f => f.ev!)
    assert.deepEqual(evs.map(e => e.type === 'disabled' ? e.user : `${(e as PresenceUpdate).user}:${String((e as PresenceUpdate).online)}`), ['bob:true', 'alice:true', 'carol'])
    assert.deepEqual(evs[1], { ...online('alice', 4), lastSeen: 2 })
    // after the flush a new event of alice's is queued again, not merged into what went out
    box.pushEvent(offline('alice', 5))
    boxes.flushAll()
    await eventually(() => w.writes.length === 2, 2_000, 'the second batch')
    assert.deepEqual(w.frames().at(-1)?.ev, offline('alice', 5))
  })

  it('coalesce keeps the later state and a lastSeen when the later event has none', () => {
    assert.deepEqual(coalesce(offline('a', 7), online('a', 9)), { ...online('a', 9), lastSeen: 7 })
    assert.deepEqual(coalesce(online('a', 7), offline('a', 9)), offline('a', 9))
  })

  it('sends answers without waiting for the batch timer', async () => {
    boxes = new Outboxes(60_000)
    const w = new FakeWriter()
    const box = boxes.open(w, 100)
    box.release()
    box.pushEvent(online('alice', 1))
    box.pushFrame({ t: 'pong', n: 3 })
    await eventually(() => w.writes.length === 1, 2_000, 'the pong')
    assert.deepEqual(w.frames().map(f => f.t), ['event', 'pong'], 'in the order queued')
  })

  it('refuses past its backlog while a write is stuck, and writes nothing to a closed stream', async () => {
    boxes = new Outboxes(1)
    const w = new FakeWriter()
    w.stalled = true
    const box = boxes.open(w, 3)
    box.release()
    assert.equal(box.pushFrame({ t: 'pong', n: 1 }), true)
    await eventually(() => w.writes.length === 1, 2_000, 'the first write')
    assert.equal(box.pushFrame({ t: 'pong', n: 2 }), true)
    assert.equal(box.pushFrame({ t: 'pong', n: 3 }), true)
    assert.equal(box.pushFrame({ t: 'pong', n: 4 }), false, 'one in flight and two queued fill a backlog of 3')
    w.finish()
    await eventually(() => w.writes.length === 2, 2_000, 'the queued ones')
    assert.deepEqual(w.frames().map(f => f.n), [1, 2, 3])

    const gone = new FakeWriter()
    gone.open = false
    const dead = boxes.open(gone, 10)
    dead.release()
    dead.pushFrame({ t: 'pong', n: 1 })
    dead.pushEvent(online('bob', 1))
    boxes.flushAll()
    await new Promise(resolve => setImmediate(resolve))
    assert.equal(gone.writes.length, 0)
    dead.close()
    assert.equal(dead.pushEvent(online('bob', 2)), true, 'a closed session takes and drops frames')
    assert.equal(dead.backlog, 0)
  })

  it('flushed() resolves after the queued events were handed to their streams', async () => {
    boxes = new Outboxes(60_000)
    await boxes.flushed()
    const w = new FakeWriter()
    const box = boxes.open(w, 10)
    box.release()
    box.pushEvent(online('alice', 1))
    let done = false
    const p = boxes.flushed().then(() => { done = true })
    await new Promise(resolve => setImmediate(resolve))
    assert.equal(done, false)
    boxes.flushAll()
    await p
    assert.equal(w.writes.length, 1)
  })
})
