import assert from 'node:assert/strict'
import { Harness, EventLog, eventually } from '../../src/testing/index.js'

describe('mesh core', function () {
  let h: Harness
  beforeEach(() => { h = new Harness() })
  afterEach(async () => { await h.stop() })

  it('delivers a direct message between two users', async () => {
    await h.startRendezvous()
    const [alice, bob] = await h.clientsFor(['alice', 'bob'])
    const bobLog = new EventLog(bob!)
    const res = await alice!.send('bob', 'hello bob')
    assert.equal(res.deliveredTo.length, 1)
    const ev = await bobLog.waitFor(e => e.type === 'message')
    assert.equal(ev.type === 'message' && ev.message.text, 'hello bob')
  })

  it('carries global room messages', async () => {
    await h.startRendezvous()
    const [alice, bob] = await h.clientsFor(['alice', 'bob'])
    const bobLog = new EventLog(bob!)
    await eventually(() => alice!.libp2p.services.pubsub.getSubscribers('/meshchat/room/global/1.0.0').length > 0)
    await alice!.send('#global', 'hello room')
    const ev = await bobLog.waitFor(e => e.type === 'message')
    assert.equal(ev.type === 'message' && ev.message.room, 'global')
  })
})
