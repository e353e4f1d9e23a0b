import assert from 'node:assert/strict'
import { silenceTimer } from '../../src/net/index.js'
import { setTimeout as sleep } from 'node:timers/promises'

describe('silenceTimer (net/frames.ts)', () => {
  it('aborts its signal with a TimeoutError once `ms` pass without a refresh', async () => {
    const silence = silenceTimer(40)
    await sleep(100)
    assert.equal(silence.signal.aborted, true)
    assert.equal((silence.signal.reason as Error).name, 'TimeoutError')
  })

  it('is pushed back by every refresh, and stopped by clear', async () => {
    const silence = silenceTimer(80)
    // 8 refreshes 30 ms apart: 240 ms in all, never 80 ms of silence
    for (let i = 0; i < 8; i++) {
      await sleep(30)
      assert.equal(silence.signal.aborted, false, `aborted after refresh ${i}`)
      silence.refresh()
    }
    silence.clear()
    await sleep(150)
    assert.equal(silence.signal.aborted, false)
  })
})
