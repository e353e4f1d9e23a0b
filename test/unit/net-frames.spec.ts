import assert from 'node:assert/strict'
import { frameLengthDecoder, silenceTimer } from '../../src/net/index.js'
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

/** What lpStream hands the decoder: a list of chunks, read by index. */
class ByteList {
  private bytes: number[] = []
  constructor (...chunks: Uint8Array[]) { for (const c of chunks) this.append(c) }
  append (chunk: Uint8Array): void { this.bytes.push(...chunk) }
  get byteLength (): number { return this.bytes.length }
  get (i: number): number {
    if (i >= this.bytes.length) throw new RangeError('index is out of bounds')
    return this.bytes[i]!
  }
}

/** Unsigned LEB128, as lpStream's writer encodes lengths. */
function varint (n: number): Uint8Array {
  const out: number[] = []
  do {
    const low = n % 0x80
    n = Math.floor(n / 0x80)
    out.push(n > 0 ? low | 0x80 : low)
  } while (n > 0)
  return Uint8Array.from(out)
}

describe('frameLengthDecoder (net/frames.ts)', () => {
  const thrown = (fn: () => unknown): unknown => {
    try {
      fn()
    } catch (err) {
      return err
    }
    return undefined
  }

  it('reads every varint length, whole or byte by byte as lpStream asks', () => {
    const decode = frameLengthDecoder(1 << 20)
    for (const n of [0, 1, 127, 128, 300, 16_383, 16_384, 65_536, (1 << 20) + 5]) {
      const bytes = varint(n)
      assert.equal(decode(new ByteList(bytes)), n)
      assert.equal(decode(bytes), n)
      // one byte at a time: "not yet" until the last one
      const list = new ByteList()
      for (let i = 0; i < bytes.length - 1; i++) {
        list.append(bytes.subarray(i, i + 1))
        assert.ok(thrown(() => decode(list)) instanceof RangeError)
      }
      list.append(bytes.subarray(bytes.length - 1))
      assert.equal(decode(list), n)
    }
  })

  it('says "not yet" with one shared RangeError, and refuses a prefix longer than the limit needs', () => {
    const decode = frameLengthDecoder(65_536)
    const a = thrown(() => decode(new ByteList()))
    const b = thrown(() => decode(new ByteList(Uint8Array.of(0x80))))
    assert.ok(a instanceof RangeError)
    assert.equal(a, b, 'one error object, not one per byte')
    // 65,536 takes 3 varint bytes: a fourth continuation byte is an attack, not a frame
    assert.equal(thrown(() => decode(new ByteList(Uint8Array.of(0x80, 0x80)))), a)
    const refused = thrown(() => decode(new ByteList(Uint8Array.of(0xff, 0xff, 0xff))))
    assert.ok(refused instanceof Error && !(refused instanceof RangeError), 'refused, not waited on')
    assert.equal((refused as Error).name, 'InvalidMessageError')
  })
})
