/**
 * src/heap.ts: the heap growing factor meshchat's processes run with, read from
 * MESHCHAT_HEAP_GROWING_PERCENT, and what it does to a heap that churns.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import { HEAP_GROWING_PERCENT, heapGrowingPercent } from '../../src/heap.js'
import { REPO_ROOT } from '../../src/testing/index.js'

/**
 * A child that calls tuneHeap() (from dist/, as the binary does), keeps ~30 MiB live and then
 * allocates and drops a few hundred MiB, much of it after promotion; it prints the largest heap
 * it had.
 */
const CHURN = `
const { tuneHeap } = await import(${JSON.stringify(pathToFileURL(join(REPO_ROOT, 'dist/src/heap.js')).href)})
tuneHeap()
const live = []
for (let i = 0; i < 300_000; i++) live.push({ i, s: 'x'.repeat(20) + i, a: [i, i + 1] })
let window = []
let peak = 0
for (let round = 0; round < 100; round++) {
  for (let i = 0; i < 20_000; i++) window.push({ round, i, s: 'y'.repeat(30) + i, a: [i] })
  if (window.length > 100_000) window = window.slice(-50_000)
  peak = Math.max(peak, process.memoryUsage().heapTotal)
}
console.log(JSON.stringify({ peak, live: live.length }))
`

async function churnPeak (percent: string): Promise<number> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', CHURN], {
    env: { ...process.env, MESHCHAT_HEAP_GROWING_PERCENT: percent }, timeout: 60_000
  })
  return (JSON.parse(stdout) as { peak: number }).peak
}

describe('heap growing factor (src/heap.ts)', function () {
  it('is HEAP_GROWING_PERCENT unless MESHCHAT_HEAP_GROWING_PERCENT says otherwise; 0 leaves it to V8', () => {
    assert.equal(heapGrowingPercent({}), HEAP_GROWING_PERCENT)
    assert.equal(heapGrowingPercent({ MESHCHAT_HEAP_GROWING_PERCENT: '' }), HEAP_GROWING_PERCENT)
    assert.equal(heapGrowingPercent({ MESHCHAT_HEAP_GROWING_PERCENT: '0' }), 0)
    assert.equal(heapGrowingPercent({ MESHCHAT_HEAP_GROWING_PERCENT: ' 120 ' }), 120)
    assert.equal(heapGrowingPercent({ MESHCHAT_HEAP_GROWING_PERCENT: '300' }), 300)
    for (const bad of ['abc', '-1', '1.5', '301', '1e2', '0x10']) {
      assert.throws(() => heapGrowingPercent({ MESHCHAT_HEAP_GROWING_PERCENT: bad }), (err: Error) => err instanceof RangeError && err.message.includes(`"${bad}"`), bad)
    }
  })

  it('keeps a churning heap near what is live, where V8 alone lets it grow to several times that', async function () {
    this.timeout(120_000)
    // one after the other: two at once would compete for the 2 cores and for memory
    const v8Own = await churnPeak('0')
    const tuned = await churnPeak(String(HEAP_GROWING_PERCENT))
    const MiB = 2 ** 20
    assert.ok(tuned < 0.75 * v8Own, `peak heap ${(tuned / MiB).toFixed(0)} MiB tuned against ${(v8Own / MiB).toFixed(0)} MiB with V8's own factor`)
  })
})
