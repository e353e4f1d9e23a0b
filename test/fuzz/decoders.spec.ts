/**
 * Property tests of every decoder that reads input from outside (issue 10, "Hardening"): each
 * either returns a value its schema accepts or throws its one named error, whatever the bytes.
 */
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { z } from 'zod'
import { generateKeyPair } from '@libp2p/crypto/keys'
import * as schemas from '../../src/protocol/schemas.js'
import {
  decodeFrame, encodeFrame, canonicalJson, canonicalBytes, fromWireError, parseTarget, isUsername, isRoomName,
  InvalidMessageError, InvalidInputError, MeshchatError, MAX_FRAME_BYTES, MAX_ARCHIVE_FRAME_BYTES, MAX_ENVELOPE_BYTES
} from '../../src/protocol/index.js'
import { RoomValidator, generateAccountKey, open as openSealed } from '../../src/crypto/index.js'
import { parseCommand, controlCommand, lineReader, MAX_COMMAND_BYTES } from '../../src/client/control.js'
import { parseSlash } from '../../src/ui/slash.js'
import { parseServerAddress } from '../../src/client/server-address.js'
import { fuzzParams, validSamples, mutation, applyMutation, anyJson, bytesOf, pathsOf, setAt } from './support.js'
import type { Json, Samples } from './support.js'

/** The largest frame each schema is read with where meshchat reads it (net/frames.ts callers). */
const MAX_BYTES: Record<string, number> = {
  archiveRequest: MAX_ARCHIVE_FRAME_BYTES,
  archiveResponse: MAX_ARCHIVE_FRAME_BYTES,
  envelope: MAX_ENVELOPE_BYTES
}

const wireSchemas = Object.entries(schemas).flatMap(([name, value]): Array<[string, z.ZodType]> => value instanceof z.ZodType ? [[name, value as unknown as z.ZodType]] : [])

/** decodeFrame's contract: a value the schema accepts, or InvalidMessageError — nothing else. */
function decodesOrRefuses (name: string, schema: z.ZodType, bytes: Uint8Array): 'decoded' | 'refused' {
  const max = MAX_BYTES[name] ?? MAX_FRAME_BYTES
  let value: unknown
  try {
    value = decodeFrame(bytes, schema, max)
  } catch (err) {
    if (err instanceof InvalidMessageError && err.name === 'InvalidMessageError') return 'refused'
    throw new Error(`decodeFrame(${name}) threw ${(err as Error).name}: ${(err as Error).message}`)
  }
  const again = schema.safeParse(value)
  assert.ok(again.success, `decodeFrame(${name}) returned a value its schema refuses: ${JSON.stringify(value).slice(0, 300)}`)
  // what was decoded encodes and decodes to the same value (nothing lost or made up on the way)
  assert.deepEqual(decodeFrame(encodeFrame(value, max * 2), schema, max * 2), value)
  return 'decoded'
}

/** Objects shaped like meshchat frames: the discriminator keys with plausible and wrong values. */
const frameLike: fc.Arbitrary<Json> = fc.record({
  op: fc.oneof(fc.constantFrom(
    'register', 'login', 'logout', 'set-account-key', 'users', 'user', 'put', 'fetch', 'room',
    'set-profile', 'profiles', 'rooms', 'create', 'join', 'leave', 'invite', 'remove', 'members'
  ), anyJson),
  t: fc.oneof(fc.constantFrom('hello', 'ping', 'addrs', 'welcome', 'event', 'pong', 'mail', 'error'), anyJson),
  ok: fc.oneof(fc.boolean(), anyJson),
  kind: fc.oneof(fc.constantFrom('text', 'receipt', 'request', 'accept', 'decline', 'close', 'contact', 'profile', 'members'), anyJson),
  type: fc.oneof(fc.constantFrom('registered', 'presence', 'profile', 'room', 'disabled'), anyJson),
  status: fc.oneof(fc.constantFrom('delivered', 'read'), anyJson),
  v: fc.oneof(fc.constant(1), anyJson),
  user: fc.oneof(fc.constantFrom('alice', 'bob'), anyJson),
  cert: anyJson,
  error: fc.oneof(fc.record({ name: fc.string(), message: fc.string() }), anyJson),
  n: anyJson,
  seq: anyJson,
  items: anyJson,
  users: anyJson,
  addrs: anyJson,
  room: fc.oneof(fc.constantFrom('global', 'ops'), anyJson),
  private: fc.oneof(fc.boolean(), anyJson),
  profile: anyJson,
  list: anyJson
}, { requiredKeys: [] }) as fc.Arbitrary<Json>

describe('fuzz: decoders', function () {
  this.timeout(120_000)
  let samples: Samples

  before(async () => {
    samples = await validSamples()
  })

  it('has valid samples of every wire schema, and they decode to themselves', () => {
    assert.ok(wireSchemas.length >= 30, `expected the wire schemas, found ${wireSchemas.length}`)
    for (const [name, schema] of wireSchemas) {
      const list = samples.bySchema[name]
      assert.ok(list != null && list.length > 0, `no valid sample of schema ${name}: add one in test/fuzz/support.ts`)
      for (const sample of list) {
        assert.deepEqual(decodeFrame(bytesOf(JSON.stringify(sample)), schema, MAX_BYTES[name] ?? MAX_FRAME_BYTES), sample, `sample of ${name}`)
      }
    }
  })

  describe('decodeFrame', function () {
    it('random bytes: a valid value or InvalidMessageError, for every schema', () => {
      for (const [name, schema] of wireSchemas) {
        fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), bytes => {
          decodesOrRefuses(name, schema, bytes)
        }), fuzzParams(300))
      }
    })

    it('random JSON values and frame-like objects: a valid value or InvalidMessageError', () => {
      for (const [name, schema] of wireSchemas) {
        fc.assert(fc.property(fc.oneof(fc.jsonValue({ maxDepth: 4 }) as fc.Arbitrary<Json>, frameLike), value => {
          decodesOrRefuses(name, schema, bytesOf(JSON.stringify(value) ?? 'null'))
        }), fuzzParams(300))
      }
    })

    it('valid frames truncated, with fields dropped, duplicated, retyped or oversized: a valid value or InvalidMessageError', () => {
      const outcomes = { decoded: 0, refused: 0 }
      for (const [name, schema] of wireSchemas) {
        const list = samples.bySchema[name]!
        fc.assert(fc.property(fc.constantFrom(...list), mutation, (sample, m) => {
          outcomes[decodesOrRefuses(name, schema, applyMutation(sample, m))]++
        }), fuzzParams(500))
      }
      // the mutations must hit both sides of the contract, or they test nothing
      assert.ok(outcomes.refused > 1000 && outcomes.decoded > 100, JSON.stringify(outcomes))
    })

    it('several fields of a valid frame replaced at once: a valid value or InvalidMessageError', () => {
      for (const [name, schema] of wireSchemas) {
        const list = samples.bySchema[name]!
        fc.assert(fc.property(fc.constantFrom(...list), fc.array(fc.tuple(fc.nat(), anyJson), { minLength: 1, maxLength: 5 }), (sample, changes) => {
          let value = sample
          for (const [i, replacement] of changes) {
            const paths = pathsOf(value)
            if (paths.length === 0) break
            value = setAt(value, paths[i % paths.length]!, replacement)
          }
          decodesOrRefuses(name, schema, bytesOf(JSON.stringify(value)))
        }), fuzzParams(300))
      }
    })

    it('frames over the size limit are refused before they are parsed', () => {
      for (const [name, schema] of wireSchemas) {
        const max = MAX_BYTES[name] ?? MAX_FRAME_BYTES
        fc.assert(fc.property(fc.integer({ min: 1, max: 4096 }), fc.constantFrom(0x20, 0x7b, 0x5b, 0x22, 0xff), (over, fill) => {
          assert.throws(() => decodeFrame(new Uint8Array(max + over).fill(fill), schema, max), { name: 'InvalidMessageError' })
        }), fuzzParams(20))
      }
    })
  })

  describe('RoomValidator', function () {
    it('refuses anything that is not a genuine room message, and never throws', async () => {
      const validator = new RoomValidator((await generateKeyPair('Ed25519')).publicKey)
      const envelopes = samples.bySchema.envelope!
      const data = fc.oneof(
        fc.uint8Array({ maxLength: 512 }),
        fc.jsonValue({ maxDepth: 3 }).map(v => bytesOf(JSON.stringify(v) ?? 'null')),
        fc.tuple(fc.constantFrom(...envelopes), mutation).map(([s, m]) => applyMutation(s, m)),
        fc.constantFrom(...envelopes).map(s => bytesOf(JSON.stringify(s)))
      )
      await fc.assert(fc.asyncProperty(data, fc.constantFrom('signed' as const, 'unsigned' as const), fc.option(fc.string({ maxLength: 60 })), fc.constantFrom('global', 'other'), async (bytes, type, from, room) => {
        const verdict = await validator.check(room, { type, data: bytes, ...(from == null ? {} : { from: { toString: () => from } }) })
        // the samples are signed by a key that is not this validator's server key: nothing passes
        assert.equal(verdict.ok, false)
      }), fuzzParams(500))
    })
  })

  describe('sealed items', function () {
    it('open: the plaintext or InvalidMessageError, for any string', () => {
      const pair = generateAccountKey()
      fc.assert(fc.property(fc.oneof(fc.string({ maxLength: 300 }), fc.base64String({ maxLength: 400 }).map(s => s.replace(/\+/g, '-').replace(/\//g, '_').replace(/=/g, ''))), sealed => {
        assert.throws(() => openSealed(pair, sealed), (err: Error) => err instanceof InvalidMessageError)
      }), fuzzParams(500))
    })
  })

  describe('wire errors', function () {
    it('fromWireError: always a MeshchatError, named only from the known list', () => {
      fc.assert(fc.property(fc.string({ maxLength: 64 }), fc.string({ maxLength: 512 }), (name, message) => {
        const err = fromWireError({ name, message })
        assert.ok(err instanceof MeshchatError)
        assert.equal(err.message, message)
        // a peer cannot make us raise an arbitrary error class (TypeError, or a name that looks like ours)
        assert.ok(err.name === 'MeshchatError' || err.name === name)
        assert.equal(typeof err.exitCode, 'number')
      }), fuzzParams(500))
    })
  })

  describe('parseCommand (JSON command lines)', function () {
    const cmdNames = ['send', 'users', 'ping', 'conversations', 'history', 'unread', 'read',
      'request', 'requests', 'accept', 'decline', 'close', 'contacts', 'add-contact', 'remove-contact',
      'profile', 'set-profile', 'rooms', 'create-room', 'join-room', 'leave-room', 'invite', 'remove-member', 'members']
    const field = fc.oneof(anyJson, fc.constantFrom('bob', '#global', 'x'.repeat(65), '', 'hello'), fc.integer({ min: -2, max: 1002 }))
    const commandLike = fc.record({
      cmd: fc.oneof(fc.constantFrom(...cmdNames), anyJson),
      to: field,
      text: field,
      user: field,
      target: field,
      limit: field,
      before: field,
      message: field,
      room: field,
      name: field,
      status: field,
      about: field,
      private: fc.oneof(fc.boolean(), anyJson),
      id: anyJson
    }, { requiredKeys: ['cmd'] }).map(v => JSON.stringify(v))
    const lines = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.string({ unit: 'binary', maxLength: 200 }),
      fc.json({ maxDepth: 3 }),
      commandLike,
      commandLike.map(l => l.slice(0, -1)),
      commandLike.map(l => ` ${l}\t`)
    )

    it('returns a command the schema accepts, or throws InvalidInputError', () => {
      let accepted = 0
      fc.assert(fc.property(lines, line => {
        let cmd
        try {
          cmd = parseCommand(line)
        } catch (err) {
          assert.ok(err instanceof InvalidInputError && (err as Error).name === 'InvalidInputError', `parseCommand threw ${(err as Error).name}`)
          // a line the schema would accept must not have been refused
          let raw: unknown
          try { raw = JSON.parse(line) } catch { return }
          assert.equal(controlCommand.safeParse(raw).success, false, `refused a valid command: ${line}`)
          return
        }
        accepted++
        assert.ok(controlCommand.safeParse(cmd).success)
        assert.ok(cmdNames.includes(cmd.cmd))
      }), fuzzParams(1000))
      assert.ok(accepted > 20, `only ${accepted} generated lines were commands`)
    })

    it('lineReader: the same lines however the bytes are cut, none over MAX_COMMAND_BYTES', () => {
      const line = fc.oneof(
        { weight: 20, arbitrary: fc.string({ maxLength: 60 }).filter(l => !l.includes('\n')) },
        { weight: 10, arbitrary: commandLike },
        { weight: 1, arbitrary: fc.tuple(fc.constantFrom('x', '€', ' '), fc.constantFrom(-1, 0, 1, 5000)).map(([c, d]) => c.repeat(Math.floor((MAX_COMMAND_BYTES + d) / bytesOf(c).length))) }
      )
      fc.assert(fc.property(fc.array(line, { maxLength: 6 }), fc.array(fc.nat(), { maxLength: 12 }), (input, cuts) => {
        const bytes = Buffer.from(input.map(l => `${l}\n`).join(''))
        const at = [...new Set(cuts.map(c => c % (bytes.length + 1)))].sort((a, b) => a - b)
        const chunks = [0, ...at].map((from, i) => bytes.subarray(from, [...at, bytes.length][i]))
        const got: string[] = []
        let tooLong = 0
        const read = lineReader(l => got.push(l), () => { tooLong++ })
        for (const c of chunks) read(c)
        const fits = (l: string): boolean => Buffer.byteLength(l) <= MAX_COMMAND_BYTES
        assert.deepEqual(got, input.filter(fits).map(l => l.trim()).filter(l => l !== ''))
        assert.equal(tooLong, input.filter(l => !fits(l)).length)
      }), fuzzParams(300))
    })
  })

  describe('parseSlash (composer commands)', function () {
    const words = fc.oneof(
      fc.constantFrom('msg', 'users', 'logout', 'quit', 'help', 'read', 'ping', '', 'MSG', 'unknown'),
      fc.string({ maxLength: 20 })
    )
    const ws = fc.constantFrom(' ', '  ', '\t', '\u00a0', '\n', '\u3000', '')
    const arg = fc.oneof(fc.constantFrom('bob', 'al', 'Bob', 'b0b_-', 'x'.repeat(40)), fc.string({ maxLength: 30 }))
    const slashLines = fc.tuple(ws, words, fc.array(fc.tuple(ws, arg), { maxLength: 4 })).map(([lead, name, rest]) => `/${lead}${name}${rest.map(([w, a]) => `${w === '' ? ' ' : w}${a}`).join('')}`)

    it('never throws; a command only from a line starting with /, with valid usernames', () => {
      fc.assert(fc.property(fc.oneof(fc.string({ maxLength: 100 }), fc.string({ unit: 'binary', maxLength: 100 }), slashLines), line => {
        const res = parseSlash(line)
        if (!line.startsWith('/')) {
          assert.equal(res, undefined)
          return
        }
        assert.ok(res != null)
        if ('error' in res) {
          assert.equal(typeof res.error, 'string')
          assert.ok(res.error.length > 0)
          return
        }
        if (res.cmd === 'msg') {
          assert.ok(isUsername(res.user))
          if (res.text != null) {
            assert.ok(res.text.length > 0 && res.text === res.text.trim())
            assert.ok(line.includes(res.text))
          }
        } else if (res.cmd === 'ping' && res.user != null) {
          assert.ok(isUsername(res.user))
        } else {
          assert.ok(['users', 'logout', 'quit', 'help', 'read', 'ping'].includes(res.cmd))
        }
      }), fuzzParams(1000))
    })
  })

  describe('parseServerAddress', function () {
    const port = fc.oneof(fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 65536, max: 99999 })).map(String)
    const peer = fc.constantFrom('12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq', 'QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN', 'notapeer')
    const segments = fc.array(fc.oneof(
      fc.constantFrom('ip4', 'ip6', 'tcp', 'udp', 'dns', 'dns4', 'p2p', 'p2p-circuit', 'ws', 'quic-v1', 'unix', ''),
      fc.ipV4(), fc.ipV6(), port, peer, fc.string({ maxLength: 12 })
    ), { maxLength: 8 }).map(s => `/${s.join('/')}`)
    const text = fc.oneof(
      fc.string({ maxLength: 80 }),
      fc.tuple(fc.ipV4(), port).map(([ip, p]) => `${ip}:${p}`),
      fc.tuple(fc.ipV4Extended(), port).map(([ip, p]) => `${ip}:${p}`),
      fc.tuple(fc.ipV6(), port).map(([ip, p]) => `[${ip}]:${p}`),
      fc.tuple(fc.domain(), port).map(([d, p]) => `${d}:${p}`),
      fc.tuple(fc.ipV4(), port, peer).map(([ip, p, id]) => `/ip4/${ip}/tcp/${p}/p2p/${id}`),
      segments
    )

    it('returns a TCP multiaddr or throws InvalidInputError', () => {
      let parsed = 0
      fc.assert(fc.property(text, fc.constantFrom('', ' ', '\t\n'), (t, pad) => {
        let ma
        try {
          ma = parseServerAddress(`${pad}${t}${pad}`)
        } catch (err) {
          assert.ok(err instanceof InvalidInputError && (err as Error).name === 'InvalidInputError', `parseServerAddress(${JSON.stringify(t)}) threw ${(err as Error).name}: ${(err as Error).message}`)
          return
        }
        parsed++
        const s = ma.toString()
        assert.ok(s.includes('/tcp/'), s)
        const tcp = ma.getComponents().find(c => c.name === 'tcp')
        assert.ok(tcp != null, `no tcp component in ${s}`)
        assert.ok(Number(tcp.value) >= 0 && Number(tcp.value) <= 65535, `port out of range in ${s}`)
      }), fuzzParams(1000))
      assert.ok(parsed > 50, `only ${parsed} generated addresses parsed`)
    })
  })

  describe('parseTarget', function () {
    it('a user or room that follows the naming rule, or InvalidInputError', () => {
      fc.assert(fc.property(fc.oneof(fc.string({ maxLength: 40 }), fc.string({ maxLength: 40 }).map(s => `#${s}`), fc.constantFrom('bob', '#global', '#', '')), to => {
        let t
        try {
          t = parseTarget(to)
        } catch (err) {
          assert.equal((err as Error).name, 'InvalidInputError')
          return
        }
        if (t.kind === 'room') assert.ok(isRoomName(t.room) && to === `#${t.room}`)
        else assert.ok(isUsername(t.user) && to === t.user)
      }), fuzzParams(500))
    })
  })

  describe('canonicalJson', function () {
    /** A copy of `value` with the keys of every object in another order. */
    function reorder (value: Json, seed: number): Json {
      if (Array.isArray(value)) return value.map((v, i) => reorder(v, seed + i))
      if (value !== null && typeof value === 'object') {
        const entries = Object.entries(value)
        // a deterministic shuffle driven by the seed
        for (let i = entries.length - 1; i > 0; i--) {
          const j = (seed * 31 + i * 17) % (i + 1)
          const tmp = entries[i]!
          entries[i] = entries[j]!
          entries[j] = tmp
        }
        return Object.fromEntries(entries.map(([k, v], i) => [k, reorder(v, seed + i + 1)]))
      }
      return value
    }

    const json = fc.jsonValue({ maxDepth: 5 }).map(v => JSON.parse(JSON.stringify(v)) as Json)

    it('is deterministic, and the same whatever the key order', () => {
      fc.assert(fc.property(json, fc.nat(), (value, seed) => {
        const a = canonicalJson(value)
        assert.equal(canonicalJson(value), a)
        assert.equal(canonicalJson(reorder(value, seed)), a)
        assert.deepEqual(canonicalBytes(reorder(value, seed + 1)), bytesOf(a))
      }), fuzzParams(1000))
    })

    it('is JSON that parses back to an equal value, and canonical again', () => {
      fc.assert(fc.property(json, value => {
        const text = canonicalJson(value)
        const back = JSON.parse(text) as Json
        assert.deepEqual(back, value)
        assert.equal(canonicalJson(back), text)
      }), fuzzParams(1000))
    })

    it('tells different values apart', () => {
      fc.assert(fc.property(json, json, (a, b) => {
        fc.pre(JSON.stringify(a) !== JSON.stringify(b))
        // same canonical text only if the values are equal once keys are sorted
        if (canonicalJson(a) === canonicalJson(b)) assert.deepEqual(JSON.parse(canonicalJson(a)), JSON.parse(canonicalJson(b)))
        assert.equal(canonicalJson(a) === canonicalJson(b), canonicalJson(reorder(a, 1)) === canonicalJson(reorder(b, 2)))
      }), fuzzParams(500))
    })
  })
})
