import assert from 'node:assert/strict'
import { getEventListeners } from 'node:events'
import { sleep } from '../../src/client/wait.js'

describe('sleep (client/wait.ts)', () => {
  it('leaves no abort listener behind on a signal that outlives its waits', async () => {
    const controller = new AbortController()
    for (let i = 0; i < 20; i++) await sleep(2, controller.signal)
    assert.equal(getEventListeners(controller.signal, 'abort').length, 0)
  })

  it('ends at once when the signal aborts, and does not wait at all on an aborted one', async () => {
    const controller = new AbortController()
    const waiting = sleep(60_000, controller.signal)
    assert.equal(getEventListeners(controller.signal, 'abort').length, 1)
    controller.abort()
    await waiting
    assert.equal(getEventListeners(controller.signal, 'abort').length, 0)
    await sleep(60_000, controller.signal)
  })
})
