import assert from 'node:assert/strict'
import { z } from 'zod'
import {
  canonicalBytes, canonicalJson, decodeFrame, encodeFrame, fromBase64url, toBase64url,
  MAX_FRAME_BYTES
} from '../../src/protocol/index.js'

const point = z.object({ x: z.number().int(), y: z.number().int() })
const utf8 = new TextEncoder()

/** A JSON string value whose encoded frame (`"…"`) is exactly `size` bytes. */
function stringFrameOf (size: number): string {
  return 'a'.repeat(size - 2)
}

describe('codec', function () {
  describe('encodeFrame', function () {
    it('encodes a value as UTF-8 JSON', () => {
      const bytes = encodeFrame({ x: 1, s: 'é' })
      assert.ok(bytes instanceof Uint8Array)
      assert.equal(new TextDecoder().decode(bytes), '{"x":1,"s":"é"}')
    })

    it('accepts a frame of exactly MAX_FRAME_BYTES', () => {
      const bytes = encodeFrame(stringFrameOf(MAX_FRAME_BYTES))
      assert.equal(bytes.length, MAX_FRAME_BYTES)
    })

    it('refuses a frame one byte over MAX_FRAME_BYTES', () => {
      assert.throws(() => encodeFrame(stringFrameOf(MAX_FRAME_BYTES + 1)), { name: 'InvalidMessageError' })
    })

    it('counts the limit in UTF-8 bytes, not characters', () => {
      // 3 bytes per "€": 22,000 of them are 66,000 bytes but only 22,000 characters
      const value = '€'.repeat(22_000)
      assert.ok(value.length < MAX_FRAME_BYTES)
      assert.throws(() => encodeFrame(value), { name: 'InvalidMessageError' })
    })
  })

  describe('decodeFrame', function () {
    it('round-trips a value through encodeFrame', () => {
      assert.deepEqual(decodeFrame(encodeFrame({ x: 3, y: -4 }), point), { x: 3, y: -4 })
    })

    it('returns the schema\'s output (unknown keys stripped)', () => {
      const out = decodeFrame(utf8.encode('{"x":1,"y":2,"extra":true}'), point)
      assert.deepEqual(out, { x: 1, y: 2 })
    })

    it('refuses bytes that are not JSON', () => {
      assert.throws(() => decodeFrame(utf8.encode('{"x":1,'), point), { name: 'InvalidMessageError' })
      assert.throws(() => decodeFrame(utf8.encode('hello'), point), { name: 'InvalidMessageError' })
      assert.throws(() => decodeFrame(new Uint8Array(0), point), { name: 'InvalidMessageError' })
    })

    it('refuses invalid UTF-8 even inside a JSON string', () => {
      // {"x":"<0xff>"} — a lenient decoder would turn 0xff into U+FFFD and accept it
      const bytes = new Uint8Array([...utf8.encode('{"x":"'), 0xff, ...utf8.encode('"}')])
      assert.throws(() => decodeFrame(bytes, z.object({ x: z.string() })), { name: 'InvalidMessageError' })
    })

    it('refuses a truncated multi-byte sequence', () => {
      const euro = utf8.encode('"€"')
      const cut = new Uint8Array([...euro.subarray(0, 2), 0x22]) // '"' + first byte of € + '"'
      assert.throws(() => decodeFrame(cut, z.string()), { name: 'InvalidMessageError' })
    })

    it('refuses JSON that does not match the schema', () => {
      assert.throws(() => decodeFrame(utf8.encode('{"x":1}'), point), { name: 'InvalidMessageError' })
      assert.throws(() => decodeFrame(utf8.encode('{"x":1.5,"y":2}'), point), { name: 'InvalidMessageError' })
      assert.throws(() => decodeFrame(utf8.encode('[1,2]'), point), { name: 'InvalidMessageError' })
      assert.throws(() => decodeFrame(utf8.encode('null'), point), { name: 'InvalidMessageError' })
    })

    it('refuses a frame over the default limit before parsing it', () => {
      const bytes = utf8.encode(JSON.stringify(stringFrameOf(MAX_FRAME_BYTES + 1)))
      assert.equal(bytes.length, MAX_FRAME_BYTES + 1)
      assert.throws(() => decodeFrame(bytes, z.string()), { name: 'InvalidMessageError' })
    })

    it('accepts a frame of exactly the limit', () => {
      const bytes = utf8.encode(JSON.stringify(stringFrameOf(MAX_FRAME_BYTES)))
      assert.equal(decodeFrame(bytes, z.string()).length, MAX_FRAME_BYTES - 2)
    })

    it('honours a smaller maxBytes', () => {
      const bytes = encodeFrame({ x: 1, y: 2 })
      assert.deepEqual(decodeFrame(bytes, point, bytes.length), { x: 1, y: 2 })
      assert.throws(() => decodeFrame(bytes, point, bytes.length - 1), { name: 'InvalidMessageError' })
    })
  })

  describe('canonicalJson', function () {
    it('does not depend on key order', () => {
      const a = canonicalJson({ b: 1, a: 2, c: 3 })
      const b = canonicalJson({ c: 3, a: 2, b: 1 })
      assert.equal(a, b)
      assert.equal(a, '{"a":2,"b":1,"c":3}')
    })

    it('sorts keys at every depth', () => {
      const a = { z: { y: 1, x: { q: true, p: null } }, a: [{ d: 1, c: 2 }] }
      const b = { a: [{ c: 2, d: 1 }], z: { x: { p: null, q: true }, y: 1 } }
      assert.equal(canonicalJson(a), canonicalJson(b))
      assert.equal(canonicalJson(a), '{"a":[{"c":2,"d":1}],"z":{"x":{"p":null,"q":true},"y":1}}')
    })

    it('keeps the order of array items', () => {
      assert.equal(canonicalJson([3, 1, 2]), '[3,1,2]')
      assert.notEqual(canonicalJson([1, 2]), canonicalJson([2, 1]))
    })

    it('is valid JSON that parses back to the same value', () => {
      const value = { s: 'quote " and \\ and \n and é', n: -1.5, t: true, f: false, z: null, e: [], o: {} }
      assert.deepEqual(JSON.parse(canonicalJson(value)), value)
    })

    it('escapes keys like JSON.stringify does', () => {
      assert.equal(canonicalJson({ 'a"b': 1 }), '{"a\\"b":1}')
    })

    it('leaves out undefined fields, as JSON.stringify does', () => {
      assert.equal(canonicalJson({ a: 1, b: undefined }), canonicalJson({ a: 1 }))
    })

    it('encodes primitives like JSON.stringify', () => {
      for (const v of ['x', 0, 12.25, true, false, null]) {
        assert.equal(canonicalJson(v), JSON.stringify(v))
      }
    })

    it('writes undefined array items as null, like JSON.stringify', () => {
      assert.equal(canonicalJson([1, undefined]), '[1,null]')
      assert.notEqual(canonicalJson([undefined]), canonicalJson([]))
    })

    it('gives the same bytes as canonicalBytes', () => {
      const value = { b: ['é', 2], a: 1 }
      assert.deepEqual(canonicalBytes(value), utf8.encode(canonicalJson(value)))
    })
  })

  describe('base64url', function () {
    it('round-trips bytes of every length and value', () => {
      for (let len = 0; len < 40; len++) {
        const bytes = new Uint8Array(len).map((_, i) => (i * 37 + len * 11) & 0xff)
        assert.deepEqual(fromBase64url(toBase64url(bytes)), bytes)
      }
      const all = new Uint8Array(256).map((_, i) => i)
      assert.deepEqual(fromBase64url(toBase64url(all)), all)
    })

    it('uses the URL-safe alphabet without padding', () => {
      const text = toBase64url(new Uint8Array([0xfb, 0xff, 0xbf, 0xfe]))
      assert.match(text, /^[A-Za-z0-9_-]+$/)
      assert.equal(text, '-_-__g')
    })

    it('encodes only the view of a subarray, not its whole buffer', () => {
      const whole = new Uint8Array([1, 2, 3, 4, 5, 6])
      const view = whole.subarray(2, 4)
      assert.equal(toBase64url(view), toBase64url(new Uint8Array([3, 4])))
      assert.deepEqual(fromBase64url(toBase64url(view)), new Uint8Array([3, 4]))
    })

    it('returns a plain Uint8Array', () => {
      const out = fromBase64url('AQID')
      assert.equal(Object.getPrototypeOf(out), Uint8Array.prototype)
      assert.deepEqual(out, new Uint8Array([1, 2, 3]))
    })
  })
})
