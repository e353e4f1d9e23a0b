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

  it('flushes less often than flushMs when the sessions would exceed writesPerSecond; flushed() waits at most flushMs', async () => {
    boxes = new Outboxes(5, 2)
    assert.equal(boxes.interval(), 5, 'no session: flushMs')
    const writers = Array.from({ length: 10 }, () => new FakeWriter())
    const opened = writers.map(w => boxes.open(w, 100))
    assert.equal(boxes.interval(), 5_000, '10 sessions at 2 writes a second: one flush every 5 s')
    for (const b of opened) b.release()
    for (const b of opened) b.pushEvent(online('alice', 1))
    await new Promise(resolve => setTimeout(resolve, 50))
    for (const b of opened) b.pushEvent(online('bob', 2))
    await boxes.flushed()
    assert.ok(writers.every(w => w.writes.length === 0), 'ten times flushMs later nothing went out, and flushed() did not wait for it')
    boxes.flushAll()
    await eventually(() => writers.every(w => w.writes.length === 1), 2_000, 'one write per session')
    for (const w of writers) assert.deepEqual(w.frames().map(f => (f.ev as PresenceUpdate).user), ['alice', 'bob'])
    opened[0]!.close()
    opened[0]!.close()
    opened[1]!.close()
    assert.equal(boxes.interval(), 4_000, 'a closed session no longer counts, however often it is closed')
  })

  it('puts the directory version on the last event of each batch, and none after a dropped event', async () => {
    let version = 7
    boxes = new Outboxes(60_000, Infinity, () => version)
    const w = new FakeWriter()
    const box = boxes.open(w, 100)
    box.release()
    box.pushEvent(online('alice', 1))
    box.pushEvent({ type: 'registered', user: 'bob', accountKey: null, at: 2 })
    box.pushFrame({ t: 'pong', n: 1 }, false)
    boxes.flushAll()
    await eventually(() => w.writes.length === 1, 2_000, 'the batch')
    assert.deepEqual(w.frames().map(f => (f as { v?: number }).v), [undefined, 7, undefined], 'on the last event only')
    version = 9
    box.pushFrame({ t: 'pong', n: 2 })
    await eventually(() => w.writes.length === 2, 2_000, 'the pong')
    assert.deepEqual((w.frames().at(-1) as { v?: number }).v, undefined, 'a batch without events carries none')
    box.pushEvent(online('carol', 3))
    box.pushEvent({ ...online('dave', 4), devices: [{ peer: 'p-dave', addrs: ['x'.repeat(70 * 1024)] }] })
    boxes.flushAll()
    await eventually(() => w.writes.length === 3, 2_000, 'the third batch')
    assert.deepEqual(w.writes[2]!.map(b => (JSON.parse(new TextDecoder().decode(b)) as { v?: number }).v), [undefined], 'dave\'s event was dropped: no version')
    // the shared encoding of an event is left as it was for the other sessions
    const other = new FakeWriter()
    const second = boxes.open(other, 100)
    second.release()
    const ev = online('erin', 5)
    box.pushEvent(ev)
    box.pushEvent(online('frank', 6))
    second.pushEvent(ev)
    boxes.flushAll()
    await eventually(() => other.writes.length === 1 && w.writes.length === 4, 2_000, 'both')
    assert.deepEqual(other.frames(), [{ t: 'event', ev, v: 9 }])
    assert.deepEqual(w.frames().slice(-2).map(f => (f as { v?: number }).v), [undefined, 9])
    // sessions whose batches end with the same event at the same version share its bytes
    const third = new FakeWriter()
    const box3 = boxes.open(third, 100)
    box3.release()
    const last = online('gina', 7)
    for (const b of [box, second, box3]) b.pushEvent(last)
    boxes.flushAll()
    await eventually(() => third.writes.length === 1 && other.writes.length === 2 && w.writes.length === 5, 2_000, 'all three')
    assert.equal(third.writes[0]![0], other.writes[1]![0])
    assert.equal(third.writes[0]![0], w.writes[4]![0])
    assert.deepEqual(third.frames(), [{ t: 'event', ev: last, v: 9 }])
    version = 10
    box3.pushEvent(last)
    boxes.flushAll()
    await eventually(() => third.writes.length === 2, 2_000, 'the next batch')
    assert.deepEqual((third.frames().at(-1) as { v?: number }).v, 10, 'a newer version is not served from the earlier bytes')
  })
})
