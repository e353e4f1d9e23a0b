import assert from 'node:assert/strict'
import {
  checkPassword, checkUsername, dmConversation, isRoomName, isUsername, parseTarget, printable,
  roomConversation, MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
} from '../../src/protocol/index.js'

describe('names', function () {
  describe('usernames', function () {
    it('accepts lowercase names of 3 to 32 characters starting with a letter', () => {
      for (const name of ['bob', 'alice', 'a_b', 'a-b', 'x12', 'z'.repeat(32), 'a0_-9z']) {
        assert.equal(isUsername(name), true, name)
        assert.equal(checkUsername(name), name)
      }
    })

    it('refuses names that are too short or too long', () => {
      for (const name of ['', 'a', 'ab', 'a'.repeat(33)]) {
        assert.equal(isUsername(name), false, name)
        assert.throws(() => checkUsername(name), { name: 'InvalidInputError' })
      }
    })

    it('refuses names that do not start with a letter', () => {
      for (const name of ['1bob', '_bob', '-bob', '9' + 'a'.repeat(10)]) {
        assert.equal(isUsername(name), false, name)
        assert.throws(() => checkUsername(name), { name: 'InvalidInputError' })
      }
    })

    it('refuses uppercase letters, spaces, punctuation and non-ASCII', () => {
      for (const name of ['Bob', 'boB', 'bo b', 'bob.', 'bob!', 'bo:b', 'bób', 'bob\n', '\nbob', 'bob#']) {
        assert.equal(isUsername(name), false, JSON.stringify(name))
        assert.throws(() => checkUsername(name), { name: 'InvalidInputError' })
      }
    })

    it('gives InvalidInputError the exit code 2', () => {
      assert.throws(() => checkUsername('X'), (err: unknown) => {
        assert.equal((err as { name: string }).name, 'InvalidInputError')
        assert.equal((err as { exitCode: number }).exitCode, 2)
        return true
      })
    })

    it('applies the same rule to room names', () => {
      assert.equal(isRoomName('global'), true)
      assert.equal(isRoomName('dev-ops_2'), true)
      assert.equal(isRoomName('Global'), false)
      assert.equal(isRoomName('#global'), false)
      assert.equal(isRoomName('gl'), false)
    })
  })

  describe('checkPassword', function () {
    it('accepts passwords of MIN_PASSWORD_LENGTH to MAX_PASSWORD_LENGTH characters', () => {
      for (const pw of ['x'.repeat(MIN_PASSWORD_LENGTH), 'correct horse battery staple', 'y'.repeat(MAX_PASSWORD_LENGTH)]) {
        assert.equal(checkPassword(pw), pw)
      }
    })

    it('refuses a password that is too short', () => {
      assert.throws(() => checkPassword(''), { name: 'InvalidInputError' })
      assert.throws(() => checkPassword('x'.repeat(MIN_PASSWORD_LENGTH - 1)), { name: 'InvalidInputError' })
    })

    it('refuses a password that is too long', () => {
      assert.throws(() => checkPassword('x'.repeat(MAX_PASSWORD_LENGTH + 1)), { name: 'InvalidInputError' })
    })
  })

  describe('parseTarget', function () {
    it('reads a bare name as a user', () => {
      assert.deepEqual(parseTarget('bob'), { kind: 'user', user: 'bob' })
    })

    it('reads #name as a room', () => {
      assert.deepEqual(parseTarget('#global'), { kind: 'room', room: 'global' })
      assert.deepEqual(parseTarget('#dev-ops'), { kind: 'room', room: 'dev-ops' })
    })

    it('refuses an invalid user', () => {
      for (const to of ['', 'Bob', 'b', '@bob', ' bob']) {
        assert.throws(() => parseTarget(to), { name: 'InvalidInputError' }, JSON.stringify(to))
      }
    })

    it('refuses an invalid room', () => {
      for (const to of ['#', '##global', '#Global', '#gl', '# global', `#${'r'.repeat(33)}`]) {
        assert.throws(() => parseTarget(to), { name: 'InvalidInputError' }, JSON.stringify(to))
      }
    })
  })

  describe('conversation ids', function () {
    it('gives both sides of a direct chat the same id', () => {
      assert.equal(dmConversation('alice', 'bob'), dmConversation('bob', 'alice'))
      assert.equal(dmConversation('alice', 'bob'), 'dm:alice:bob')
      assert.equal(dmConversation('zed', 'amy'), 'dm:amy:zed')
    })

    it('gives different pairs different ids', () => {
      assert.notEqual(dmConversation('alice', 'bob'), dmConversation('alice', 'carol'))
      assert.notEqual(dmConversation('ann', 'bob'), dmConversation('ann-b', 'ob'))
    })

    it('orders names that share a prefix consistently', () => {
      assert.equal(dmConversation('bob', 'bobby'), dmConversation('bobby', 'bob'))
      assert.equal(dmConversation('bobby', 'bob'), 'dm:bob:bobby')
    })

    it('handles a chat with oneself', () => {
      assert.equal(dmConversation('amy', 'amy'), 'dm:amy:amy')
    })

    it('names rooms room:<name>', () => {
      assert.equal(roomConversation('global'), 'room:global')
    })
  })

  describe('printable', function () {
    it('leaves ordinary text alone', () => {
      assert.equal(printable('hello, wörld €'), 'hello, wörld €')
    })

    it('replaces C0 control characters and DEL', () => {
      assert.equal(printable('a\nb\rc\td\u0000e\u001bf\u007fg'), 'a?b?c?d?e?f?g')
    })

    it('defuses a terminal escape sequence', () => {
      const out = printable('\u001b[2J\u001b]0;pwned\u0007')
      assert.equal(out.includes('\u001b'), false)
      assert.equal(out.includes('\u0007'), false)
      assert.equal(out, '?[2J?]0;pwned?')
    })

    it('cuts long values to max characters plus an ellipsis', () => {
      assert.equal(printable('a'.repeat(40)), 'a'.repeat(40))
      assert.equal(printable('a'.repeat(41)), `${'a'.repeat(40)}…`)
      assert.equal(printable('abcdef', 3), 'abc…')
    })

    it('measures the cut after escaping', () => {
      assert.equal(printable('\n\n\n\n', 2), '??…')
    })
  })
})
