import assert from 'node:assert/strict'
import { BINDINGS, commandFor, HELP_KEYS } from '../../src/ui/keys.js'
import { parseSlash, SLASH_HELP } from '../../src/ui/slash.js'
import { cellWidth, clock, connectionLabel, fit, messageHeight, statusMark, visibleWindow, when, wrappedLines } from '../../src/ui/format.js'
import type { Key } from 'ink'
import type { Focus, KeyCommand, ListRow } from '../../src/ui/keys.js'
import type { ChatMessage } from '../../src/ui/port.js'

/** What Ink's useInput reports for a key: every flag false but those given. */
function key (flags: Partial<Key> = {}): Key {
  return {
    upArrow: false,
    downArrow: false,
    leftArrow: false,
    rightArrow: false,
    pageDown: false,
    pageUp: false,
    home: false,
    end: false,
    return: false,
    escape: false,
    ctrl: false,
    shift: false,
    tab: false,
    backspace: false,
    delete: false,
    meta: false,
    super: false,
    hyper: false,
    capsLock: false,
    numLock: false,
    ...flags
  }
}

/** The keys as Ink 6 reports them (input, key) for the raw sequences a terminal sends. */
const KEYS = {
  tab: ['', key({ tab: true })],
  shiftTab: ['', key({ tab: true, shift: true })],
  ctrlN: ['n', key({ ctrl: true })],
  ctrlP: ['p', key({ ctrl: true })],
  ctrlC: ['c', key({ ctrl: true })],
  ctrlU: ['u', key({ ctrl: true })],
  up: ['', key({ upArrow: true })],
  down: ['', key({ downArrow: true })],
  left: ['', key({ leftArrow: true })],
  enter: ['\r', key({ return: true })],
  // Ink reports Esc with meta set too
  esc: ['', key({ escape: true, meta: true })],
  pageUp: ['', key({ pageUp: true })],
  pageDown: ['', key({ pageDown: true })],
  letter: ['h', key()],
  capital: ['H', key({ shift: true })],
  space: [' ', key()],
  metaX: ['x', key({ meta: true })],
  a: ['a', key()],
  d: ['d', key()],
  capitalA: ['A', key({ shift: true })],
  ctrlD: ['d', key({ ctrl: true })],
  paste: ['hello there', key()]
} satisfies Record<string, [string, Key]>

type KeyName = keyof typeof KEYS

function cmd (name: KeyName, focus: Focus, row?: ListRow): KeyCommand | undefined {
  const [input, k] = KEYS[name]
  return commandFor(input, k, focus, row)
}

describe('ui keys: commandFor', function () {
  const both: Focus[] = ['list', 'composer']

  const everywhere: Array<[KeyName, KeyCommand]> = [
    ['tab', 'next-conversation'],
    ['ctrlN', 'next-conversation'],
    ['shiftTab', 'prev-conversation'],
    ['ctrlP', 'prev-conversation'],
    ['pageUp', 'page-up'],
    ['pageDown', 'page-down'],
    ['ctrlC', 'quit']
  ]
  for (const [name, command] of everywhere) {
    for (const focus of both) {
      it(`${name} in the ${focus} → ${command}`, () => {
        assert.equal(cmd(name, focus), command)
      })
    }
  }

  describe('in the list', function () {
    const table: Array<[KeyName, KeyCommand | undefined]> = [
      ['down', 'next-conversation'],
      ['up', 'prev-conversation'],
      ['enter', 'open'],
      ['letter', 'enter-input'],
      ['capital', 'enter-input'],
      ['space', 'enter-input'],
      ['esc', undefined],
      ['left', undefined],
      ['ctrlU', undefined],
      ['metaX', undefined],
      ['paste', undefined]
    ]
    for (const [name, command] of table) {
      it(`${name} → ${String(command)}`, () => {
        assert.equal(cmd(name, 'list'), command)
      })
    }
  })

  describe('in the composer', function () {
    // arrows, Enter and letters belong to the text input there
    const table: Array<[KeyName, KeyCommand | undefined]> = [
      ['esc', 'leave-input'],
      ['down', undefined],
      ['up', undefined],
      ['enter', undefined],
      ['letter', undefined],
      ['space', undefined],
      ['left', undefined],
      ['ctrlU', undefined]
    ]
    for (const [name, command] of table) {
      it(`${name} → ${String(command)}`, () => {
        assert.equal(cmd(name, 'composer'), command)
      })
    }
  })

  describe('on a chat request in the list (issue 8)', function () {
    const table: Array<[KeyName, KeyCommand | undefined]> = [
      ['a', 'accept-request'],
      ['d', 'decline-request'],
      // any other letter still starts a message; a capital or a Ctrl key is not an answer
      ['letter', 'enter-input'],
      ['capitalA', 'enter-input'],
      ['ctrlD', undefined],
      ['down', 'next-conversation'],
      ['up', 'prev-conversation'],
      ['enter', 'open'],
      ['tab', 'next-conversation']
    ]
    for (const [name, command] of table) {
      it(`${name} → ${String(command)}`, () => {
        assert.equal(cmd(name, 'list', 'request'), command)
      })
    }

    it('a and d start a message anywhere else in the list', () => {
      assert.equal(cmd('a', 'list'), 'enter-input')
      assert.equal(cmd('d', 'list', 'other'), 'enter-input')
    })

    it('a and d are letters in the composer, request or not', () => {
      for (const row of ['request', 'other'] as const) {
        assert.equal(cmd('a', 'composer', row), undefined)
        assert.equal(cmd('d', 'composer', row), undefined)
      }
    })

    it('the help names the request keys', () => {
      assert.ok(HELP_KEYS.some(([keys, what]) => keys.includes('a / d') && what.includes('accept') && what.includes('decline')))
    })
  })

  it('every binding is named for the help screen', () => {
    for (const b of BINDINGS) assert.ok(b.keys.length > 0, b.command)
    assert.ok(HELP_KEYS.length > 0)
  })
})

describe('ui slash: parseSlash', function () {
  for (const name of ['users', 'logout', 'quit', 'help', 'read'] as const) {
    it(`/${name}`, () => {
      assert.deepEqual(parseSlash(`/${name}`), { cmd: name })
      assert.deepEqual(parseSlash(`/${name}  `), { cmd: name })
    })

    it(`/${name} refuses arguments`, () => {
      assert.deepEqual(parseSlash(`/${name} now`), { error: `/${name} takes no arguments` })
    })
  }

  it('/msg <user> opens the chat', () => {
    assert.deepEqual(parseSlash('/msg bob'), { cmd: 'msg', user: 'bob' })
    assert.deepEqual(parseSlash('/msg bob   '), { cmd: 'msg', user: 'bob' })
  })

  it('/msg <user> <text> keeps the text as typed, inner spaces included', () => {
    assert.deepEqual(parseSlash('/msg bob hello there'), { cmd: 'msg', user: 'bob', text: 'hello there' })
    assert.deepEqual(parseSlash('/msg   bob   two  spaces '), { cmd: 'msg', user: 'bob', text: 'two  spaces' })
    assert.deepEqual(parseSlash('/msg carol_2 zażółć 👋'), { cmd: 'msg', user: 'carol_2', text: 'zażółć 👋' })
  })

  it('/msg with text that starts like the username', () => {
    assert.deepEqual(parseSlash('/msg bob bobby'), { cmd: 'msg', user: 'bob', text: 'bobby' })
  })

  it('/msg without a user shows the usage', () => {
    assert.deepEqual(parseSlash('/msg'), { error: 'usage: /msg <user> [text]' })
    assert.deepEqual(parseSlash('/msg   '), { error: 'usage: /msg <user> [text]' })
  })

  for (const bad of ['Bob', 'bo', '1bob', 'bob!', 'b'.repeat(33), 'боб']) {
    it(`/msg refuses the username ${JSON.stringify(bad.slice(0, 12))}`, () => {
      const r = parseSlash(`/msg ${bad} hi`)
      assert.ok(r != null && 'error' in r, JSON.stringify(r))
      assert.match(r.error, /^invalid username/)
      assert.ok(!r.error.includes('\n'))
    })
  }

  it('cuts a very long bad username in the error', () => {
    const r = parseSlash(`/msg ${'X'.repeat(500)}`)
    assert.ok(r != null && 'error' in r)
    assert.ok(r.error.length < 200, r.error)
  })

  it('an unknown command names it and points to /help', () => {
    assert.deepEqual(parseSlash('/foo'), { error: 'unknown command /foo; /help lists them' })
    assert.deepEqual(parseSlash('/msgbob hi'), { error: 'unknown command /msgbob; /help lists them' })
    assert.deepEqual(parseSlash('/HELP'), { error: 'unknown command /HELP; /help lists them' })
    const r = parseSlash(`/${'z'.repeat(300)}`)
    assert.ok(r != null && 'error' in r && r.error.length < 80)
  })

  it('a lone / asks for a command', () => {
    assert.deepEqual(parseSlash('/'), { error: 'type a command after /, e.g. /help' })
    assert.deepEqual(parseSlash('/   '), { error: 'type a command after /, e.g. /help' })
  })

  it('/ping takes an optional username', () => {
    assert.deepEqual(parseSlash('/ping'), { cmd: 'ping' })
    assert.deepEqual(parseSlash('/ping bob'), { cmd: 'ping', user: 'bob' })
    assert.ok('error' in (parseSlash('/ping Bob!') ?? {}))
    assert.ok('error' in (parseSlash('/ping bob carol') ?? {}))
  })

  it('plain text is not a command', () => {
    assert.equal(parseSlash('hello'), undefined)
    assert.equal(parseSlash(''), undefined)
    assert.equal(parseSlash('a/b'), undefined)
    assert.equal(parseSlash(' /help'), undefined)
  })

  it('every command in SLASH_HELP parses', () => {
    for (const [usage] of SLASH_HELP) {
      const line = usage.replace('<user>', 'bob').replace('[user]', 'bob').replace('[text]', 'hi').replace('<text>', 'hi')
        .replace('<room>', 'lounge').replace('[room]', 'lounge').replace('<name>', 'lounge').replace('add|remove', 'add').replace('name|status|about', 'status').replace('[--private]', '--private')
        .replace('<path>', '/tmp/notes.txt').replace('[file-id]', '0123abcd')
      const r = parseSlash(line)
      assert.ok(r != null && !('error' in r), `${line}: ${JSON.stringify(r)}`)
    }
  })

  describe('chat requests (issue 8)', function () {
    it('/request <user> [text] keeps the text as typed', () => {
      assert.deepEqual(parseSlash('/request bob'), { cmd: 'request', user: 'bob' })
      assert.deepEqual(parseSlash('/request   bob   hi  there, bob '), { cmd: 'request', user: 'bob', text: 'hi  there, bob' })
      assert.deepEqual(parseSlash('/request bob bobby'), { cmd: 'request', user: 'bob', text: 'bobby' })
      assert.deepEqual(parseSlash('/request'), { error: 'usage: /request <user> [text]' })
      assert.match((parseSlash('/request Bob hi') as { error: string }).error, /^invalid username "Bob"/)
    })

    for (const name of ['accept', 'decline', 'close'] as const) {
      it(`/${name} [user]`, () => {
        assert.deepEqual(parseSlash(`/${name}`), { cmd: name })
        assert.deepEqual(parseSlash(`/${name} carol`), { cmd: name, user: 'carol' })
        assert.deepEqual(parseSlash(`/${name} carol dave`), { error: `usage: /${name} [user]` })
        assert.match((parseSlash(`/${name} #global`) as { error: string }).error, /^invalid username/)
      })
    }
  })

  describe('contacts and profiles (issue 8)', function () {
    it('/contacts, /contacts add|remove <user>', () => {
      assert.deepEqual(parseSlash('/contacts'), { cmd: 'contacts' })
      assert.deepEqual(parseSlash('/contacts add bob'), { cmd: 'contact-add', user: 'bob' })
      assert.deepEqual(parseSlash('/contacts remove bob'), { cmd: 'contact-remove', user: 'bob' })
      for (const bad of ['/contacts add', '/contacts drop bob', '/contacts add bob carol', '/contacts bob']) {
        assert.deepEqual(parseSlash(bad), { error: 'usage: /contacts, or /contacts add|remove <user>' }, bad)
      }
      assert.match((parseSlash('/contacts add B!') as { error: string }).error, /^invalid username/)
    })

    it('/profile [user]', () => {
      assert.deepEqual(parseSlash('/profile'), { cmd: 'profile' })
      assert.deepEqual(parseSlash('/profile bob'), { cmd: 'profile', user: 'bob' })
      assert.match((parseSlash('/profile Bob') as { error: string }).error, /^invalid username/)
      assert.ok('error' in (parseSlash('/profile bob carol') ?? {}))
    })

    it('/profile set name|status|about <text> keeps the text as typed; no text clears', () => {
      assert.deepEqual(parseSlash('/profile set name Alice  Liddell'), { cmd: 'profile-set', field: 'name', text: 'Alice  Liddell' })
      assert.deepEqual(parseSlash('/profile set status out for lunch 🍜'), { cmd: 'profile-set', field: 'status', text: 'out for lunch 🍜' })
      assert.deepEqual(parseSlash('/profile set about set theory, mostly'), { cmd: 'profile-set', field: 'about', text: 'set theory, mostly' })
      assert.deepEqual(parseSlash('/profile set status'), { cmd: 'profile-set', field: 'status', text: '' })
      assert.deepEqual(parseSlash('/profile set mood happy'), { error: 'usage: /profile set name|status|about <text>' })
      assert.deepEqual(parseSlash('/profile set'), { error: 'usage: /profile set name|status|about <text>' })
    })
  })

  describe('rooms (issue 8)', function () {
    it('/join <room> takes the name with or without #', () => {
      assert.deepEqual(parseSlash('/join lounge'), { cmd: 'join', room: 'lounge' })
      assert.deepEqual(parseSlash('/join #lounge'), { cmd: 'join', room: 'lounge' })
      assert.deepEqual(parseSlash('/join'), { error: 'usage: /join <room>' })
      assert.deepEqual(parseSlash('/join a b'), { error: 'usage: /join <room>' })
      const bad = parseSlash('/join #No!') as { error: string }
      assert.match(bad.error, /^invalid room name "#No!"/)
      assert.ok(!bad.error.includes('\n'))
    })

    it('/leave [room]', () => {
      assert.deepEqual(parseSlash('/leave'), { cmd: 'leave' })
      assert.deepEqual(parseSlash('/leave #lounge'), { cmd: 'leave', room: 'lounge' })
      assert.deepEqual(parseSlash('/leave a b'), { error: 'usage: /leave [room]' })
    })

    it('/invite <user> [room]', () => {
      assert.deepEqual(parseSlash('/invite bob'), { cmd: 'invite', user: 'bob' })
      assert.deepEqual(parseSlash('/invite bob #lounge'), { cmd: 'invite', user: 'bob', room: 'lounge' })
      assert.deepEqual(parseSlash('/invite'), { error: 'usage: /invite <user> [room]' })
      assert.deepEqual(parseSlash('/invite bob lounge more'), { error: 'usage: /invite <user> [room]' })
      assert.match((parseSlash('/invite #lounge') as { error: string }).error, /^invalid username/)
    })

    it('/room create <name> [--private]', () => {
      assert.deepEqual(parseSlash('/room create lounge'), { cmd: 'room-create', room: 'lounge', private: false })
      assert.deepEqual(parseSlash('/room create #den --private'), { cmd: 'room-create', room: 'den', private: true })
      assert.deepEqual(parseSlash('/room create --private den'), { cmd: 'room-create', room: 'den', private: true })
      for (const bad of ['/room create', '/room create a b', '/room create den --secret']) {
        assert.deepEqual(parseSlash(bad), { error: 'usage: /room create <name> [--private]' }, bad)
      }
    })

    it('/room members [room]', () => {
      assert.deepEqual(parseSlash('/room members'), { cmd: 'room-members' })
      assert.deepEqual(parseSlash('/room members #den'), { cmd: 'room-members', room: 'den' })
      assert.deepEqual(parseSlash('/room members a b'), { error: 'usage: /room members [room]' })
    })

    it('/room remove <user> [room]', () => {
      assert.deepEqual(parseSlash('/room remove bob'), { cmd: 'room-remove', user: 'bob' })
      assert.deepEqual(parseSlash('/room remove bob #den'), { cmd: 'room-remove', user: 'bob', room: 'den' })
      assert.deepEqual(parseSlash('/room remove'), { error: 'usage: /room remove <user> [room]' })
      assert.deepEqual(parseSlash('/room remove bob den more'), { error: 'usage: /room remove <user> [room]' })
      assert.match((parseSlash('/room remove #den') as { error: string }).error, /^invalid username/)
    })

    it('/room alone or with another word shows every usage', () => {
      const usage = 'usage: /room create <name> [--private], /room members [room], or /room remove <user> [room]'
      assert.deepEqual(parseSlash('/room'), { error: usage })
      assert.deepEqual(parseSlash('/room delete den'), { error: usage })
    })
  })
})

describe('ui format', function () {
  function msg (text: string): ChatMessage {
    return { id: text, conv: 'dm:alice:bob', from: 'bob', fromDevice: 'd', sentAt: 0, receivedAt: 0, text }
  }

  describe('fit', function () {
    it('leaves what fits, and cuts the rest with …', () => {
      assert.equal(fit('hello', 5), 'hello')
      assert.equal(fit('hello world', 8), 'hello w…')
      assert.equal(cellWidth(fit('hello world', 8)), 8)
      assert.equal(fit('hello', 0), '')
    })

    it('counts wide characters in cells and never cuts one in half', () => {
      const cut = fit('你好你好你好', 7)
      assert.ok(cellWidth(cut) <= 7, cut)
      assert.equal(cut, '你好你…')
      assert.equal(fit('👋👋👋', 4), '👋…')
    })
  })

  describe('when', function () {
    it('is the time today, and the date and time on another day', () => {
      const now = new Date(2024, 4, 17, 18, 0).getTime()
      assert.equal(when(new Date(2024, 4, 17, 9, 5).getTime(), now), '09:05')
      assert.equal(when(new Date(2024, 4, 16, 23, 59).getTime(), now), '2024-05-16 23:59')
      assert.equal(when(new Date(2023, 11, 1, 7, 0).getTime(), now), '2023-12-01 07:00')
    })
  })

  describe('wrappedLines', function () {
    it('counts word-wrapped lines', () => {
      assert.equal(wrappedLines('', 10), 1)
      assert.equal(wrappedLines('one two', 10), 1)
      assert.equal(wrappedLines('one two three', 10), 2)
      assert.equal(wrappedLines('aaaa bbbb cccc dddd', 9), 2)
    })

    it('cuts a word longer than the line', () => {
      assert.equal(wrappedLines('x'.repeat(25), 10), 3)
      assert.equal(wrappedLines(`ab ${'x'.repeat(20)}`, 10), 3)
    })
  })

  describe('statusMark', function () {
    it('marks each receipt state', () => {
      assert.equal(statusMark('sending'), '…')
      assert.equal(statusMark('sent'), '✓')
      assert.equal(statusMark('delivered'), '✓✓')
      assert.equal(statusMark('read'), '✓✓ read')
      assert.equal(statusMark(undefined), '')
    })
  })

  describe('connectionLabel', function () {
    it('names every state', () => {
      assert.equal(connectionLabel('connected').text, 'connected')
      assert.equal(connectionLabel('connecting').text, 'connecting')
      assert.equal(connectionLabel('reconnecting').text, 'reconnecting')
      assert.equal(connectionLabel('offline').text, 'offline')
    })
  })

  describe('clock', function () {
    it('is HH:MM in local time', () => {
      assert.match(clock(Date.now()), /^\d\d:\d\d$/)
      const d = new Date(2024, 0, 2, 7, 5)
      assert.equal(clock(d.getTime()), '07:05')
    })
  })

  describe('cellWidth', function () {
    it('counts ASCII one a character', () => {
      assert.equal(cellWidth(''), 0)
      assert.equal(cellWidth('hello, world'), 12)
    })

    it('counts Polish and Cyrillic letters one each', () => {
      assert.equal(cellWidth('zażółć gęślą jaźń'), 17)
      assert.equal(cellWidth('ZAŻÓŁĆ'), 6)
      assert.equal(cellWidth('привет'), 6)
    })

    it('counts combining accents as nothing', () => {
      assert.equal(cellWidth('z\u0307o\u0301'), 2)
    })

    it('counts CJK two each', () => {
      assert.equal(cellWidth('你好'), 4)
      assert.equal(cellWidth('こんにちは'), 10)
      assert.equal(cellWidth('한국어'), 6)
      assert.equal(cellWidth('ｆｕｌｌ'), 8)
    })

    it('counts emoji two each', () => {
      assert.equal(cellWidth('👋'), 2)
      assert.equal(cellWidth('hi 🎉'), 5)
      assert.equal(cellWidth('🙂🙂'), 4)
    })

    it('counts an emoji with a skin tone, a ZWJ family, a flag or U+FE0F as one wide character', () => {
      assert.equal(cellWidth('👍🏽'), 2)
      assert.equal(cellWidth('👨‍👩‍👧'), 2)
      assert.equal(cellWidth('🇵🇱'), 2)
      assert.equal(cellWidth('❤️'), 2)
      assert.equal(cellWidth('ok 👍🏽👍🏽'), 7)
    })

    it('skips control characters', () => {
      assert.equal(cellWidth('a\tb\u0007'), 2)
    })
  })

  describe('messageHeight', function () {
    it('is the header plus the wrapped lines', () => {
      assert.equal(messageHeight(msg('hello'), 20), 2)
      assert.equal(messageHeight(msg('x'.repeat(20)), 20), 2)
      assert.equal(messageHeight(msg('x'.repeat(21)), 20), 3)
      assert.equal(messageHeight(msg('x'.repeat(25)), 10), 4)
    })

    it('counts each line of a multi-line message, empty ones too', () => {
      assert.equal(messageHeight(msg('a\nb'), 20), 3)
      assert.equal(messageHeight(msg('a\n\nb'), 20), 4)
      assert.equal(messageHeight(msg(''), 20), 2)
    })

    it('measures wide characters in cells', () => {
      assert.equal(messageHeight(msg('你'.repeat(10)), 10), 3)
      assert.equal(messageHeight(msg('привет'.repeat(2)), 10), 3)
    })

    it('never wraps narrower than 8 cells', () => {
      assert.equal(messageHeight(msg('x'.repeat(16)), 1), 3)
    })
  })

  describe('visibleWindow', function () {
    // each of these takes 2 lines at width 20 (header + one line)
    const list = ['a', 'b', 'c', 'd', 'e'].map(msg)
    const idsOf = (r: { shown: ChatMessage[] }): string[] => r.shown.map(m => m.id)

    it('shows the newest that fit, oldest first, bottom-aligned', () => {
      const r = visibleWindow(list, 5, 20, 0)
      assert.deepEqual(idsOf(r), ['d', 'e'])
      assert.equal(r.olderHidden, true)
    })

    it('shows everything when it fits', () => {
      const r = visibleWindow(list, 10, 20, 0)
      assert.deepEqual(idsOf(r), ['a', 'b', 'c', 'd', 'e'])
      assert.equal(r.olderHidden, false)
      assert.equal(visibleWindow(list, 100, 20, 0).olderHidden, false)
    })

    it('skips the newest `scroll` messages', () => {
      assert.deepEqual(idsOf(visibleWindow(list, 4, 20, 1)), ['c', 'd'])
      assert.deepEqual(idsOf(visibleWindow(list, 4, 20, 3)), ['a', 'b'])
      const top = visibleWindow(list, 4, 20, 3)
      assert.equal(top.olderHidden, false)
    })

    it('shows nothing when scrolled past everything', () => {
      const r = visibleWindow(list, 4, 20, 5)
      assert.deepEqual(r.shown, [])
      assert.equal(r.olderHidden, false)
      assert.deepEqual(visibleWindow([], 10, 20, 0), { shown: [], olderHidden: false })
    })

    it('shows a message taller than the area on its own rather than nothing', () => {
      const tall = [msg('short'), msg('y'.repeat(200))]
      const r = visibleWindow(tall, 3, 20, 0)
      assert.deepEqual(r.shown.map(m => m.text.length), [200])
      assert.equal(r.olderHidden, true)
    })

    it('counts wrapped lines', () => {
      const mixed = [msg('a'), msg('x'.repeat(45)), msg('b')]
      // 'b' 2 lines, the long one 1 + 3 lines at width 20: 6 in all
      assert.deepEqual(idsOf(visibleWindow(mixed, 6, 20, 0)).map(id => id.length), [45, 1])
      assert.deepEqual(idsOf(visibleWindow(mixed, 8, 20, 0)).length, 3)
    })
  })
})
