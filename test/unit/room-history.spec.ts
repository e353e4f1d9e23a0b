import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { RoomHistory, MAX_PENDING_ROOM_WRITES } from '../../src/rendezvous/room-history.js'
import { LevelRendezvousState } from '../../src/store/index.js'
import type { Logger } from '../../src/rendezvous/log.js'
import type { RendezvousState, RoomRecord } from '../../src/store/index.js'
import type { Envelope } from '../../src/protocol/index.js'

/** Only what the history writer reads of an envelope: its id and time. */
function env (i: number): Envelope {
  return { id: `m${String(i).padStart(5, '0')}`, sentAt: 1_700_000_000_000 + i } as unknown as Envelope
}

/** A store whose room writes wait until `finish()` (a slow disk); `fail` makes them fail instead. */
class StalledStore {
  readonly written: string[] = []
  fail = false
  private readonly waiting: Array<() => void> = []

  async addRoomMessage (_room: string, record: RoomRecord): Promise<void> {
    await new Promise<void>(resolve => { this.waiting.push(resolve) })
    if (this.fail) throw new Error('disk full')
    this.written.push(record.id)
  }

  get stalled (): number {
    return this.waiting.length
  }

  finish (): void {
    for (const resolve of this.waiting.splice(0)) resolve()
  }
}

function recordingLogger (): Logger & { errors: string[] } {
  const errors: string[] = []
  const none = (): void => {}
  return { debug: none, info: none, warn: none, error: (msg, fields) => { errors.push(`${msg} ${JSON.stringify(fields)}`) }, errors }
}

describe('room history written behind the room', () => {
  it('lets a message go on before its write is done, and settled() waits for every write begun', async () => {
    const store = new StalledStore()
    const history = new RoomHistory(() => store as unknown as RendezvousState, 100, recordingLogger())
    await history.add('global', env(1))
    await history.add('global', env(2))
    assert.equal(history.inFlight, 2)
    assert.deepEqual(store.written, [])
    let settled = false
    const done = history.settled().then(() => { settled = true })
    await new Promise(resolve => setImmediate(resolve))
    assert.equal(settled, false, 'settled() must wait for the writes under way')
    store.finish()
    await done
    assert.deepEqual(store.written, ['m00001', 'm00002'])
    assert.equal(history.inFlight, 0)
  })

  it(`makes the validator wait once more than ${MAX_PENDING_ROOM_WRITES} writes are under way`, async () => {
    const store = new StalledStore()
    const history = new RoomHistory(() => store as unknown as RendezvousState, 100, recordingLogger())
    for (let i = 0; i < MAX_PENDING_ROOM_WRITES; i++) await history.add('global', env(i))
    let waited = true
    const over = history.add('global', env(MAX_PENDING_ROOM_WRITES)).then(() => { waited = false })
    await new Promise(resolve => setImmediate(resolve))
    assert.equal(waited, true, 'the write past the bound must hold its message back')
    assert.equal(store.stalled, MAX_PENDING_ROOM_WRITES + 1)
    store.finish()
    await over
    assert.equal(store.written.length, MAX_PENDING_ROOM_WRITES + 1)
  })

  it('logs a failed write and lets the room go on', async () => {
    const store = new StalledStore()
    store.fail = true
    const log = recordingLogger()
    const history = new RoomHistory(() => store as unknown as RendezvousState, 100, log)
    await history.add('global', env(1))
    store.finish()
    await history.settled()
    assert.equal(history.inFlight, 0)
    assert.equal(log.errors.length, 1)
    assert.match(log.errors[0]!, /room history write failed.*disk full/)
  })

  describe('on a real store', () => {
    let dir: string
    let state: LevelRendezvousState
    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), 'meshchat-roomhistory-'))
      state = await LevelRendezvousState.open(dir)
    })
    afterEach(async () => {
      await state.close()
      await rm(dir, { recursive: true, force: true })
    })

    it('has every message in order, the oldest dropped past the limit, once settled', async () => {
      const history = new RoomHistory(() => state, 50, recordingLogger())
      for (let i = 0; i < 80; i++) await history.add('global', env(i))
      // a duplicate (a copy from another mesh peer) is kept once
      await history.add('global', env(79))
      await history.settled()
      const rows = await state.readRoom('global', null, 100)
      assert.deepEqual(rows.map(r => r.id), Array.from({ length: 50 }, (_v, i) => env(30 + i).id))
    })
  })
})
