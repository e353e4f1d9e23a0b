/**
 * Files on the chat screen (issue 9), with a fake client core: the pure helpers (bar, card
 * text, which offer `/get` takes, `/send`'s path), the reducer, the file card and `/files`, and
 * the app carrying out `/send`, `/get` and `/files` in the background.
 */
import assert from 'node:assert/strict'
import { homedir } from 'node:os'
import { render } from 'ink-testing-library'
import { ChatView } from '../../src/ui/components/ChatView.js'
import { FilesOverlay } from '../../src/ui/components/Overlays.js'
import { App } from '../../src/ui/components/App.js'
import { cardOf, cardStatus, expandHome, offerToGet, pendingMessages, percent, progressBar } from '../../src/ui/files.js'
import { messageHeight } from '../../src/ui/format.js'
import { parseSlash, pathArgument } from '../../src/ui/slash.js'
import { initialState, reduce } from '../../src/ui/state.js'
import { assertFits, frameWhere, frameWith, frameWithout, KEY, lines, press, renderSized, text, type, until } from './screen.js'
import type { Screen } from './screen.js'
import type { ChatMessage, ChatPort, ClientEvent, ConnectionState, ConversationEntry, FileEntry, GetFileResult, HistoryPage, SendFileResult, UserInfo } from '../../src/ui/port.js'
import type { SendResult } from '../../src/client/index.js'
import type { FileProgress } from '../../src/ui/port.js'

const ME = 'alice'
const T0 = new Date(2024, 4, 17, 9, 30).getTime()
const MiB = 1024 * 1024
const SHA = 'ab'.repeat(32)

function id (n: number): string {
  return n.toString(16).padStart(32, '0')
}

function offerMessage (n: number, from: string, name: string, size: number, fields: Partial<ChatMessage> = {}): ChatMessage {
  const peer = from === ME ? 'bob' : from
  return {
    id: id(n),
    conv: `dm:${[ME, peer].sort().join(':')}`,
    from,
    fromDevice: `${from}-device`,
    sentAt: T0 + n * 1_000,
    receivedAt: T0 + n * 1_000,
    text: `📎 ${name}`,
    peer,
    file: { name, size, sha256: SHA, chunkSize: MiB, chunks: Math.ceil(size / MiB), manifest: SHA },
    ...fields
  }
}

function textMessage (n: number, from: string, body: string): ChatMessage {
  const peer = from === ME ? 'bob' : from
  return { id: id(n), conv: `dm:${[ME, peer].sort().join(':')}`, from, fromDevice: `${from}-device`, sentAt: T0 + n * 1_000, receivedAt: T0 + n * 1_000, text: body, peer }
}

function fileEntry (n: number, fields: Partial<FileEntry> = {}): FileEntry {
  return {
    id: id(n),
    conv: 'dm:alice:bob',
    target: 'bob',
    from: 'bob',
    sentAt: T0 + n * 1_000,
    name: 'report.pdf',
    size: 4 * MiB,
    sha256: SHA,
    direction: 'in',
    state: 'offered',
    bytes: 0,
    ...fields
  }
}

// ---------------------------------------------------------------------------------------------

describe('ui files (issue 9)', function () {
  describe('helpers', function () {
    it('progressBar fills in proportion, full only when everything is in', () => {
      assert.equal(progressBar(0, 100, 10), '[░░░░░░░░░░]')
      assert.equal(progressBar(50, 100, 10), '[█████░░░░░]')
      assert.equal(progressBar(99, 100, 10), '[█████████░]')
      assert.equal(progressBar(100, 100, 10), '[██████████]')
      assert.equal(progressBar(200, 100, 4), '[████]')
      assert.equal(progressBar(0, 0, 4), '[████]', 'an empty file is whole at once')
      assert.equal(percent(999, 1000), 99)
      assert.equal(percent(1000, 1000), 100)
    })

    it('cardStatus says where a transfer stands, with bytes and rate while it moves', () => {
      const base = { name: 'a.bin', size: 4 * MiB, direction: 'in' as const, bytes: 0 }
      assert.equal(cardStatus({ ...base, state: 'offered' }), 'offered · /get to fetch it')
      assert.equal(cardStatus({ ...base, state: 'downloading', bytes: MiB, rate: 2 * MiB }), '25% · 1.0 MiB of 4.0 MiB · 2.0 MiB/s')
      assert.equal(cardStatus({ ...base, state: 'done', bytes: 4 * MiB, path: '/home/a/files/a.bin' }), '✓ done · saved to /home/a/files/a.bin')
      assert.equal(cardStatus({ ...base, state: 'failed', error: 'chunk 2 does not match the offer; refused' }), '✗ failed: chunk 2 does not match the offer; refused')
      assert.equal(cardStatus({ ...base, state: 'waiting-direct', error: 'only a relayed connection' }), 'waiting for a direct connection (only a relayed connection) · /get --relay uses the relay')
      assert.ok(cardStatus({ ...base, state: 'paused', bytes: 2 * MiB, error: 'bob is offline' }).startsWith('paused at 50%: bob is offline'))
      assert.equal(cardStatus({ ...base, direction: 'out', state: 'preparing', bytes: MiB }), 'hashing 25% · 1.0 MiB of 4.0 MiB')
      assert.equal(cardStatus({ ...base, direction: 'out', state: 'preparing', size: 0 }), 'preparing…')
    })

    it('cardOf: the client’s entry when there is one, else offered (or yours)', () => {
      const theirs = offerMessage(1, 'bob', 'x.txt', 10)
      const mine = offerMessage(2, ME, 'y.txt', 10)
      assert.equal(cardOf(textMessage(3, 'bob', 'hi'), ME, {}), null)
      assert.equal(cardOf(theirs, ME, {})?.state, 'offered')
      assert.equal(cardOf(mine, ME, {})?.state, 'shared')
      assert.equal(cardOf(mine, ME, {})?.direction, 'out')
      const failed = fileEntry(1, { state: 'failed', bytes: 5, error: { name: 'FileVerificationError', message: 'x.txt does not match\nmore' } })
      assert.deepEqual(cardOf(theirs, ME, { [id(1)]: failed }), { name: 'report.pdf', size: 4 * MiB, direction: 'in', state: 'failed', bytes: 5, error: 'x.txt does not match' })
    })

    it('the sender’s card: sending with the bar’s numbers, then sent to whom, or waiting at the node', () => {
      const out = (fields: Partial<FileEntry>): FileEntry => fileEntry(2, { from: ME, direction: 'out', state: 'shared', bytes: 4 * MiB, path: '/home/alice/report.pdf', ...fields })
      const mine = offerMessage(2, ME, 'report.pdf', 4 * MiB)
      const sending = cardOf(mine, ME, { [id(2)]: out({ serving: [{ to: 'bob', via: 'device', bytes: MiB, total: 4 * MiB, rate: MiB }] }) })
      assert.equal(sending?.state, 'sending')
      assert.equal(sending?.bytes, MiB)
      assert.equal(cardStatus(sending!), 'to bob · 25% · 1.0 MiB of 4.0 MiB · 1.0 MiB/s')
      const two = cardOf(mine, ME, { [id(2)]: out({ serving: [{ to: 'bob', via: 'device', bytes: 0, total: 4 * MiB, rate: 0 }, { to: 'carol', via: 'device', bytes: MiB, total: 4 * MiB, rate: 0 }] }) })
      assert.equal(cardStatus(two!), 'to bob +1 · 0% · 0 B of 4.0 MiB')
      const up = cardOf(mine, ME, { [id(2)]: out({ serving: [{ to: 'bob', via: 'node', bytes: 2 * MiB, total: 4 * MiB, rate: 0 }], sealed: { to: 'bob', state: 'uploading', bytes: 2 * MiB } }) })
      assert.equal(cardStatus(up!), 'to the node for bob · 50% · 2.0 MiB of 4.0 MiB')
      assert.equal(cardStatus(cardOf(mine, ME, { [id(2)]: out({ sentTo: ['bob'] }) })!), '✓ sent to bob')
      assert.equal(cardStatus(cardOf(mine, ME, { [id(2)]: out({ sentTo: ['bob', ME] }) })!), '✓ sent to bob and your other device')
      assert.equal(cardStatus(cardOf(mine, ME, { [id(2)]: out({ sentTo: ['a', 'b', 'c', 'd', 'e'] }) })!), '✓ sent to c, d, e +2')
      assert.equal(cardStatus(cardOf(mine, ME, { [id(2)]: out({ sealed: { to: 'bob', state: 'stored', bytes: 4 * MiB } }) })!), 'waits for bob at the rendezvous node')
      assert.equal(cardStatus(cardOf(mine, ME, { [id(2)]: out({}) })!), 'offered · sent from this device while meshchat runs')
      // a card of a file offered to this account is never a sender's card
      assert.equal(cardOf(offerMessage(1, 'bob', 'x', 10), ME, { [id(1)]: fileEntry(1, { state: 'done', sentTo: ['carol'] }) })?.state, 'done')
    })

    it('a card takes a fixed number of lines, whatever its text', () => {
      assert.equal(messageHeight(offerMessage(1, 'bob', 'x'.repeat(300), 10), 20), 3)
    })

    it('offerToGet takes the newest offer to this account not here yet, else the newest', () => {
      const msgs = [offerMessage(1, 'bob', 'old.txt', 10), offerMessage(2, 'bob', 'new.txt', 10), offerMessage(3, ME, 'mine.txt', 10), textMessage(4, 'bob', 'hi')]
      assert.deepEqual(offerToGet(ME, 'bob', msgs, {}), { id: id(2), name: 'new.txt' })
      const files = { [id(2)]: fileEntry(2, { name: 'new.txt', state: 'done' }) }
      assert.deepEqual(offerToGet(ME, 'bob', msgs, files), { id: id(1), name: 'old.txt' })
      const all = { ...files, [id(1)]: fileEntry(1, { name: 'old.txt', state: 'done' }) }
      assert.deepEqual(offerToGet(ME, 'bob', msgs, all), { id: id(2), name: 'new.txt' })
      // from the client's list too, though the message is not loaded
      assert.deepEqual(offerToGet(ME, 'bob', [], { [id(9)]: fileEntry(9, { name: 'listed.txt' }) }), { id: id(9), name: 'listed.txt' })
      assert.equal(offerToGet(ME, 'carol', [], files), undefined, 'another conversation\'s offers are not taken')
      assert.equal(offerToGet(ME, 'bob', [offerMessage(3, ME, 'mine.txt', 10)], {}), undefined)
    })

    it('expandHome expands ~ and ~/ only', () => {
      assert.equal(expandHome('~', '/home/al'), '/home/al')
      assert.equal(expandHome('~/notes/a b.txt', '/home/al/'), '/home/al/notes/a b.txt')
      assert.equal(expandHome('~bob/x', '/home/al'), '~bob/x')
      assert.equal(expandHome('/tmp/~/x', '/home/al'), '/tmp/~/x')
    })
  })

  describe('parseSlash', function () {
    it('/send takes one path: as typed, quoted, or with escaped spaces', () => {
      assert.deepEqual(parseSlash('/send /tmp/a.txt'), { cmd: 'send', path: '/tmp/a.txt' })
      assert.deepEqual(parseSlash('/send ~/My Documents/a b.txt'), { cmd: 'send', path: '~/My Documents/a b.txt' })
      assert.deepEqual(parseSlash('/send "~/My Documents/a b.txt"'), { cmd: 'send', path: '~/My Documents/a b.txt' })
      assert.deepEqual(parseSlash("/send '/tmp/it''s.txt'"), { cmd: 'send', path: '/tmp/its.txt' })
      assert.deepEqual(parseSlash("/send \"/tmp/it's.txt\""), { cmd: 'send', path: "/tmp/it's.txt" })
      assert.deepEqual(parseSlash('/send /tmp/a\\ b.txt'), { cmd: 'send', path: '/tmp/a b.txt' })
      assert.deepEqual(parseSlash('/send zażółć привет.txt'), { cmd: 'send', path: 'zażółć привет.txt' })
    })

    it('/send without a path, with two quoted paths or an open quote is a usage error', () => {
      for (const line of ['/send', '/send   ', '/send "a" "b"', '/send ""']) {
        const r = parseSlash(line)
        assert.ok(r != null && 'error' in r && r.error.startsWith('usage: /send <path>'), `${line}: ${JSON.stringify(r)}`)
      }
      assert.deepEqual(pathArgument('"/tmp/a'), { error: '/send: the path has an unclosed "' })
    })

    it('/get takes no argument or a file id; /files none', () => {
      assert.deepEqual(parseSlash('/get'), { cmd: 'get' })
      assert.deepEqual(parseSlash(`/get ${id(7).toUpperCase()}`), { cmd: 'get', id: id(7) })
      assert.deepEqual(parseSlash('/get 0a1b2c'), { cmd: 'get', id: '0a1b2c' })
      assert.ok('error' in (parseSlash('/get report.pdf') ?? {}))
      assert.ok('error' in (parseSlash('/get 0a1b') ?? {}))
      assert.deepEqual(parseSlash('/get a1b2c3 d4e5f6'), { error: 'usage: /get [--relay] [file-id]' })
      assert.deepEqual(parseSlash('/get --relay'), { cmd: 'get', relay: true })
      assert.deepEqual(parseSlash('/get --relay 0a1b2c'), { cmd: 'get', id: '0a1b2c', relay: true })
      assert.deepEqual(parseSlash('/get 0a1b2c --relay'), { cmd: 'get', id: '0a1b2c', relay: true })
      assert.ok('error' in (parseSlash('/get --force') ?? {}))
      assert.deepEqual(parseSlash('/files'), { cmd: 'files' })
      assert.ok('error' in (parseSlash('/files all') ?? {}))
    })
  })

  describe('state', function () {
    it('file events keep each offer’s entry; a list merges in', () => {
      let s = initialState(ME, 'connected')
      s = reduce(s, { type: 'file', file: fileEntry(1, { state: 'downloading', bytes: MiB }) })
      s = reduce(s, { type: 'file', file: fileEntry(1, { state: 'downloading', bytes: 2 * MiB }) })
      assert.equal(s.files[id(1)]?.bytes, 2 * MiB)
      s = reduce(s, { type: 'files', list: [fileEntry(2), fileEntry(1, { state: 'done', bytes: 4 * MiB })] })
      assert.deepEqual(Object.keys(s.files).sort(), [id(1), id(2)])
      assert.equal(s.files[id(1)]?.state, 'done')
    })

    it('a pending send shows until it ends; progress after the end changes nothing', () => {
      let s = initialState(ME, 'connected')
      const send = { key: 'k1', target: 'bob', name: 'a.bin', size: 0, bytes: 0, startedAt: T0 }
      s = reduce(s, { type: 'send-progress', send })
      s = reduce(s, { type: 'send-progress', send: { ...send, size: 10, bytes: 5 } })
      assert.deepEqual(pendingMessages(ME, 'bob', s.sends).map(m => [m.id, m.file?.name]), [['sending:k1', 'a.bin']])
      assert.deepEqual(pendingMessages(ME, 'carol', s.sends), [])
      s = reduce(s, { type: 'send-end', key: 'k1' })
      assert.deepEqual(s.sends, {})
      assert.equal(reduce(s, { type: 'send-end', key: 'k1' }), s)
    })

    it('/files is an overlay like the others', () => {
      const s = reduce(initialState(ME, 'connected'), { type: 'overlay', overlay: 'files' })
      assert.equal(s.overlay, 'files')
    })
  })

  describe('FileCardView in ChatView', function () {
    const msgs = [textMessage(1, 'bob', 'here it comes'), offerMessage(2, 'bob', 'report.pdf', 4 * MiB)]

    function view (files: Record<string, FileEntry>, width = 70, messages = msgs): string {
      return text(render(<ChatView target='bob' messages={messages} me={ME} online scroll={0} hasMore={false} width={width} height={12} files={files} />).lastFrame())
    }

    it('an offer shows 📎, the name, the size and how to fetch it', () => {
      const f = view({})
      assert.ok(f.includes('📎 report.pdf · 4.0 MiB'), f)
      assert.ok(f.includes('offered · /get to fetch it'), f)
      assert.ok(!f.includes('['), 'no bar before it moves')
      assertFits(f, 70)
    })

    it('while it moves: a bar, percent, bytes and rate', () => {
      const f = view({ [id(2)]: fileEntry(2, { state: 'downloading', bytes: MiB, rate: 512 * 1024 }) })
      assert.match(f, /\[(█+)(░+)\] 25% · 1\.0 MiB of 4\.0 MiB · 512 KiB\/s/)
      const [, full = '', empty = ''] = /\[(█+)(░+)\]/.exec(f) ?? []
      assert.equal(full.length, Math.floor((full.length + empty.length) / 4), 'a quarter full')
    })

    it('done shows where it was saved; failed shows why and never as received', () => {
      let f = view({ [id(2)]: fileEntry(2, { state: 'done', bytes: 4 * MiB, path: '/tmp/files/report.pdf' }) })
      assert.ok(f.includes('✓ done · saved to /tmp/files/report.pdf'), f)
      f = view({ [id(2)]: fileEntry(2, { state: 'failed', bytes: 4 * MiB, path: '/tmp/x', error: { name: 'FileVerificationError', message: 'report.pdf does not match its offer\'s sha256; it was deleted' } }) })
      assert.ok(f.includes('✗ failed: report.pdf does not match'), f)
      assert.ok(!f.includes('done') && !f.includes('saved') && !f.includes('100%'), f)
    })

    it('waiting for a direct connection says why; a long name and path are cut, never wrapped', () => {
      let f = view({ [id(2)]: fileEntry(2, { state: 'waiting-direct', bytes: 0, error: { name: 'RelayOnlyError', message: 'bob is reachable only through a relay' } }) })
      assert.ok(f.includes('waiting for a direct connection'), f)
      const long = [offerMessage(2, 'bob', `${'very-long-name-'.repeat(8)}.tar.gz`, 4 * MiB)]
      f = view({ [id(2)]: fileEntry(2, { state: 'done', bytes: 4 * MiB, path: `/home/alice/${'deep/'.repeat(30)}x.tar.gz` }) }, 40, long)
      assertFits(f, 40)
      assert.equal(lines(f).filter(l => l.includes('📎')).length, 1)
    })
  })

  describe('the sender’s FileCardView in ChatView', function () {
    const msgs = [textMessage(1, 'bob', 'send it please'), offerMessage(2, ME, 'report.pdf', 4 * MiB)]
    const out = (fields: Partial<FileEntry>): FileEntry => fileEntry(2, { from: ME, direction: 'out', state: 'shared', bytes: 4 * MiB, path: '/home/alice/report.pdf', ...fields })
    const moving = (bytes: number, via: 'device' | 'node' = 'device'): FileEntry => out({ serving: [{ to: 'bob', via, bytes, total: 4 * MiB, rate: MiB }] })
    const bar = (frame: string): number => (/\[(█*)░*\]/.exec(frame)?.[1] ?? '').length

    function view (files: Record<string, FileEntry>, width = 70): string {
      return text(render(<ChatView target='bob' messages={msgs} me={ME} online scroll={0} hasMore={false} width={width} height={12} files={files} />).lastFrame())
    }

    it('while bob fetches it: a bar that advances, to whom, percent, bytes and rate; then ✓ sent to bob', () => {
      const first = view({ [id(2)]: moving(MiB) })
      assert.match(first, /\[█+░+\] to bob · 25% · 1\.0 MiB of 4\.0 MiB · 1\.0 MiB\/s/)
      const later = view({ [id(2)]: moving(3 * MiB) })
      assert.match(later, /to bob · 75% · 3\.0 MiB of 4\.0 MiB/)
      assert.ok(bar(later) > bar(first), `the bar advanced: ${bar(first)} → ${bar(later)}`)
      assertFits(later, 70)
      const sent = view({ [id(2)]: out({ sentTo: ['bob'] }) })
      assert.ok(sent.includes('✓ sent to bob'), sent)
      assert.ok(!sent.includes('░') && !sent.includes('%'), sent)
    })

    it('while it goes up to the rendezvous node for bob, a bar too; then it waits for bob there', () => {
      const up = view({ [id(2)]: moving(2 * MiB, 'node') })
      assert.match(up, /\[█+░+\] to the node for bob · 50%/)
      const stored = view({ [id(2)]: out({ sealed: { to: 'bob', state: 'stored', bytes: 4 * MiB } }) })
      assert.ok(stored.includes('waits for bob at the rendezvous node'), stored)
      assert.ok(!stored.includes('░'), stored)
    })
  })

  describe('FilesOverlay', function () {
    it('lists offers both ways with state, who, and the id /get takes; sends being hashed first', () => {
      const files = [
        fileEntry(1, { state: 'done', bytes: 4 * MiB, path: '/tmp/report.pdf' }),
        fileEntry(2, { name: 'photo.jpg', state: 'downloading', bytes: 2 * MiB, rate: MiB }),
        fileEntry(3, { name: 'mine.tar', direction: 'out', from: ME, target: '#team', state: 'shared', bytes: 4 * MiB })
      ]
      const sends = [{ key: 'k', target: 'bob', name: 'big.iso', size: 10 * MiB, bytes: 5 * MiB, startedAt: T0 }]
      const f = text(render(<FilesOverlay files={files} sends={sends} width={100} height={20} />).lastFrame())
      assert.ok(f.includes('Files (3 offers, 2 moving)'), f)
      assert.ok(/↑ big\.iso .*hashing 50% · 5\.0 MiB of 10 MiB · to bob/.test(f), f)
      assert.ok(/↓ photo\.jpg .*from bob · 00000000 .*\[█████░░░░░\] 50%/.test(f), f)
      assert.ok(/↑ mine\.tar .*to #team/.test(f), f)
      assert.ok(f.indexOf('big.iso') < f.indexOf('mine.tar') && f.indexOf('mine.tar') < f.indexOf('photo.jpg') && f.indexOf('photo.jpg') < f.indexOf('report.pdf'), 'newest first')
      assertFits(f, 100)
    })

    it('says how to send one when there is none, and cuts a long list', () => {
      let f = text(render(<FilesOverlay files={[]} sends={[]} width={80} />).lastFrame())
      assert.ok(f.includes('No files yet: /send <path>'), f)
      const many = Array.from({ length: 30 }, (_, i) => fileEntry(i + 1, { name: `f${i + 1}.txt` }))
      f = text(render(<FilesOverlay files={many} sends={[]} width={80} height={12} />).lastFrame())
      assert.ok(f.includes('… and'), f)
      assertFits(f, 80, 12)
    })
  })

  // -------------------------------------------------------------------------------------------

  describe('App', function () {
    /** The client core with files, in memory: pushes events, records calls, settles on demand. */
    class FilePort implements ChatPort {
      readonly user = ME
      connectionState: ConnectionState = 'connected'
      readonly listeners = new Set<(ev: ClientEvent) => void>()
      readonly sent: Array<{ to: string, text: string }> = []
      readonly sendFileCalls: Array<{ to: string, path: string }> = []
      readonly getFileCalls: string[] = []
      readonly getFileRelay: boolean[] = []
      pages: Record<string, ChatMessage[]> = { bob: [textMessage(1, 'bob', 'hi alice'), offerMessage(2, 'bob', 'report.pdf', 4 * MiB)] }
      entries: FileEntry[] = []
      /** Resolvers of the calls in flight, to settle them when a test says. */
      sendFileDone: Array<{ resolve: (r: SendFileResult) => void, reject: (e: Error) => void, progress?: (p: FileProgress) => void }> = []
      getFileDone: Array<{ resolve: (r: GetFileResult) => void, reject: (e: Error) => void }> = []

      on (listener: (ev: ClientEvent) => void): () => void {
        this.listeners.add(listener)
        return () => { this.listeners.delete(listener) }
      }

      emit (ev: ClientEvent): void {
        for (const l of this.listeners) l(ev)
      }

      async conversations (): Promise<ConversationEntry[]> {
        return [{ conv: 'dm:alice:bob', target: 'bob', kind: 'dm', lastActivity: T0 + 2_000, lastAuthor: 'bob', lastText: '📎 report.pdf', unread: 0, count: 2, online: true }]
      }

      async users (): Promise<UserInfo[]> { return [] }

      async send (to: string, body: string): Promise<SendResult> {
        this.sent.push({ to, text: body })
        return { id: id(100 + this.sent.length), conv: 'dm:alice:bob', sentAt: T0, deliveredTo: [], status: 'sent' }
      }

      readonly history = {
        page: async (target: string): Promise<HistoryPage> => ({ conv: 'dm:alice:bob', target, messages: this.pages[target] ?? [], gaps: [] }),
        markRead: async (): Promise<unknown> => ({})
      }

      async sendFile (to: string, path: string, options: { onProgress?: (p: FileProgress) => void } = {}): Promise<SendFileResult> {
        this.sendFileCalls.push({ to, path })
        return await new Promise((resolve, reject) => { this.sendFileDone.push({ resolve, reject, ...(options.onProgress == null ? {} : { progress: options.onProgress }) }) })
      }

      async files (): Promise<FileEntry[]> { return [...this.entries] }

      async getFile (ref: string, options: { allowRelay?: boolean } = {}): Promise<GetFileResult> {
        this.getFileCalls.push(ref)
        this.getFileRelay.push(options.allowRelay === true)
        return await new Promise((resolve, reject) => { this.getFileDone.push({ resolve, reject }) })
      }
    }

    let port: FilePort
    const screens: Screen[] = []

    function start (columns = 100, rows = 30): Screen {
      const screen = renderSized(<App port={port} />, columns, rows)
      screens.push(screen)
      return screen
    }

    async function command (screen: Screen, line: string): Promise<void> {
      await type(screen, line, line)
      await press(screen, KEY.enter)
    }

    function lastLine (frame: string): string {
      return lines(frame).filter(l => l.trim() !== '').at(-1) ?? ''
    }

    beforeEach(() => { port = new FilePort() })
    afterEach(() => {
      for (const s of screens.splice(0)) s.unmount()
    })

    it('an offer in the open chat shows as a card; /get fetches it and the bar advances on events to done', async () => {
      const screen = start()
      await frameWith(screen, '📎 report.pdf · 4.0 MiB', 'offered · /get to fetch it')
      await command(screen, '/get')
      await until(() => port.getFileCalls.length === 1, 'getFile')
      assert.deepEqual(port.getFileCalls, [id(2)])
      // the composer is free while it moves
      await type(screen, 'still chatting', 'bob › still chatting')
      port.emit({ type: 'file', file: fileEntry(2, { state: 'downloading', bytes: MiB, rate: MiB }) })
      let f = await frameWith(screen, '25% · 1.0 MiB of 4.0 MiB · 1.0 MiB/s')
      const bar = (frame: string): number => (/\[(█*)░*\]/.exec(frame)?.[1] ?? '').length
      const first = bar(f)
      port.emit({ type: 'file', file: fileEntry(2, { state: 'downloading', bytes: 3 * MiB, rate: MiB }) })
      f = await frameWith(screen, '75% · 3.0 MiB of 4.0 MiB')
      assert.ok(bar(f) > first, `the bar advanced: ${first} → ${bar(f)}\n${f}`)
      await press(screen, KEY.enter)
      await until(() => port.sent.length === 1, 'the message sent')
      assert.deepEqual(port.sent, [{ to: 'bob', text: 'still chatting' }])
      const done = fileEntry(2, { state: 'done', bytes: 4 * MiB, path: '/tmp/files/report.pdf' })
      port.entries = [done]
      port.emit({ type: 'file', file: done })
      port.getFileDone[0]!.resolve({ id: id(2), name: 'report.pdf', sha256: SHA, size: 4 * MiB, path: '/tmp/files/report.pdf', resumedFrom: 0, already: false })
      f = await frameWith(screen, '✓ done · saved to /tmp/files/report.pdf', 'report.pdf is verified and saved')
      assert.ok(!f.includes('░'), f)
    })

    it('a failed verification shows as failed, never as received, and the error is one line', async () => {
      const screen = start()
      await frameWith(screen, '📎 report.pdf')
      await command(screen, '/get')
      await until(() => port.getFileCalls.length === 1, 'getFile')
      port.emit({ type: 'file', file: fileEntry(2, { state: 'downloading', bytes: 4 * MiB }) })
      await frameWith(screen, '100%')
      const failed = fileEntry(2, { state: 'failed', bytes: 0, error: { name: 'FileVerificationError', message: 'report.pdf does not match its offer\'s sha256; it was deleted' } })
      port.entries = [failed]
      port.emit({ type: 'file', file: failed })
      const err = Object.assign(new Error('report.pdf does not match its offer\'s sha256; it was deleted\nsecond line'), { name: 'FileVerificationError' })
      port.getFileDone[0]!.reject(err)
      const f = await frameWith(screen, '✗ failed: report.pdf does not match')
      await frameWhere(screen, fr => lastLine(fr).includes('does not match its offer'), 'the error on the status line')
      const after = text(screen.lastFrame())
      assert.ok(!after.includes('second line'), after)
      assert.ok(!after.includes('✓ done') && !after.includes('saved to'), f)
    })

    it('/get <id> fetches that offer; /get with no offer here says so', async () => {
      port.pages = { bob: [textMessage(1, 'bob', 'no files here')] }
      const screen = start()
      await frameWith(screen, 'no files here')
      await command(screen, '/get')
      let f = await frameWith(screen, 'no file offered to you in bob')
      assert.deepEqual(port.getFileCalls, [])
      await command(screen, `/get ${id(2).slice(-8)}`)
      await until(() => port.getFileCalls.length === 1, 'getFile')
      assert.deepEqual(port.getFileCalls, [id(2).slice(-8)])
      port.getFileDone[0]!.reject(Object.assign(new Error('no file offer "00000002" on this device (see meshchat files)'), { name: 'UnknownFileError' }))
      f = await frameWhere(screen, fr => lastLine(fr).includes('no file offer "00000002"'), 'the error')
      assertFits(f, 100, 30)
    })

    it('a transfer waiting for a direct connection says so; /get --relay lets it go through the relay', async () => {
      port.entries = [fileEntry(2, { state: 'waiting-direct', error: { name: 'RelayOnlyError', message: 'bob is reachable only through a relay' } })]
      const screen = start(140, 30)
      const f = await frameWith(screen, 'waiting for a direct connection (bob is reachable only through a relay) · /get --relay uses the relay')
      assert.ok(!f.includes('[░'), 'no bar before a byte moved')
      await command(screen, '/get --relay')
      await until(() => port.getFileCalls.length === 1, 'getFile')
      assert.deepEqual(port.getFileCalls, [id(2)])
      assert.deepEqual(port.getFileRelay, [true])
      await command(screen, `/get ${id(2)}`)
      await until(() => port.getFileCalls.length === 2, 'getFile')
      assert.deepEqual(port.getFileRelay, [true, false])
    })

    it('the sender’s card follows events: a bar while bob fetches it, advancing, then ✓ sent to bob', async () => {
      port.pages.bob = [textMessage(1, 'bob', 'send it please'), offerMessage(2, ME, 'report.pdf', 4 * MiB)]
      const out = (fields: Partial<FileEntry>): FileEntry => fileEntry(2, { from: ME, direction: 'out', state: 'shared', bytes: 4 * MiB, path: '/home/alice/report.pdf', ...fields })
      const screen = start()
      await frameWith(screen, '📎 report.pdf', 'offered · sent from this device while meshchat runs')
      const bar = (frame: string): number => (/\[(█*)░*\]/.exec(frame)?.[1] ?? '').length
      port.emit({ type: 'file', file: out({ serving: [{ to: 'bob', via: 'device', bytes: MiB, total: 4 * MiB, rate: MiB }] }) })
      let f = await frameWith(screen, 'to bob · 25% · 1.0 MiB of 4.0 MiB · 1.0 MiB/s')
      const first = bar(f)
      port.emit({ type: 'file', file: out({ serving: [{ to: 'bob', via: 'device', bytes: 3 * MiB, total: 4 * MiB, rate: MiB }] }) })
      f = await frameWith(screen, 'to bob · 75% · 3.0 MiB of 4.0 MiB')
      assert.ok(bar(f) > first, `the bar advanced: ${first} → ${bar(f)}\n${f}`)
      port.emit({ type: 'file', file: out({ sentTo: ['bob'] }) })
      f = await frameWith(screen, '✓ sent to bob')
      assert.ok(!f.includes('░'), f)
    })

    it('/send to someone offline: the pending card shows the upload to the node, then the offer waits for them there', async () => {
      const screen = start()
      await frameWith(screen, '📎 report.pdf')
      await command(screen, '/send ~/big.bin')
      await until(() => port.sendFileCalls.length === 1, 'sendFile')
      port.sendFileDone[0]!.progress?.({ id: '', name: 'big.bin', phase: 'hashing', bytes: 4 * MiB, total: 8 * MiB, rate: 0 })
      await frameWith(screen, 'hashing 50%')
      port.sendFileDone[0]!.progress?.({ id: id(3), name: 'big.bin', phase: 'uploading', bytes: 2 * MiB, total: 8 * MiB, rate: 0 })
      await frameWith(screen, 'to the node for bob · 25% · 2.0 MiB of 8.0 MiB')
      const offer = offerMessage(3, ME, 'big.bin', 8 * MiB)
      port.emit({ type: 'message', message: offer })
      const stored = fileEntry(3, { name: 'big.bin', size: 8 * MiB, from: ME, direction: 'out', state: 'shared', bytes: 8 * MiB, sealed: { to: 'bob', state: 'stored', bytes: 8 * MiB } })
      port.entries = [stored]
      port.emit({ type: 'file', file: stored })
      port.sendFileDone[0]!.resolve({ id: id(3), conv: 'dm:alice:bob', sentAt: T0, deliveredTo: [], status: 'sent', offer: offer.file!, path: '/home/alice/big.bin', servingNow: true, sealed: { to: 'bob', state: 'stored', bytes: 8 * MiB } })
      const f = await frameWith(screen, 'waits for bob at the rendezvous node')
      assert.ok(!f.includes('hashing'), f)
    })

    it('/send offers a file to the open chat in the background: a card while hashing, then the offer', async () => {
      const screen = start()
      await frameWith(screen, '📎 report.pdf')
      await command(screen, '/send "~/My Files/big data.bin"')
      await until(() => port.sendFileCalls.length === 1, 'sendFile')
      assert.deepEqual(port.sendFileCalls, [{ to: 'bob', path: `${homedir()}/My Files/big data.bin` }])
      await frameWith(screen, '📎 big data.bin', 'preparing…')
      port.sendFileDone[0]!.progress?.({ id: '', name: 'big data.bin', phase: 'hashing', bytes: 2 * MiB, total: 8 * MiB, rate: 0 })
      await frameWith(screen, 'hashing 25% · 2.0 MiB of 8.0 MiB')
      // typing goes on meanwhile
      await type(screen, 'sending you data', 'bob › sending you data')
      const offer = { name: 'big data.bin', size: 8 * MiB, sha256: SHA, chunkSize: MiB, chunks: 8, manifest: SHA }
      port.emit({ type: 'message', message: offerMessage(3, ME, 'big data.bin', 8 * MiB) })
      port.sendFileDone[0]!.resolve({ id: id(3), conv: 'dm:alice:bob', sentAt: T0, deliveredTo: [], status: 'sent', offer, path: '/home/x/big data.bin', servingNow: true })
      const f = await frameWith(screen, 'offered big data.bin to bob', 'sent from this device')
      assert.ok(!f.includes('hashing'), f)
      assert.equal(lines(f).filter(l => l.includes('📎 big data.bin')).length, 1, f)
    })

    it('/send errors are one line on the status line and leave no card', async () => {
      const screen = start()
      await frameWith(screen, '📎 report.pdf')
      await command(screen, '/send /nope/missing.txt')
      await until(() => port.sendFileCalls.length === 1, 'sendFile')
      await frameWith(screen, 'missing.txt')
      port.sendFileDone[0]!.reject(Object.assign(new Error('no file at /nope/missing.txt'), { name: 'InvalidInputError' }))
      const f = await frameWhere(screen, fr => lastLine(fr).includes('no file at /nope/missing.txt'), 'the error')
      await frameWithout(screen, '📎 missing.txt')
      await command(screen, '/send')
      await frameWhere(screen, fr => lastLine(fr).includes('usage: /send <path>'), 'the usage')
      assert.equal(port.sendFileCalls.length, 1, f)
    })

    it('/files shows every offer with its state, live; Esc closes it', async () => {
      port.entries = [fileEntry(2, { state: 'paused', bytes: MiB, error: { name: 'OfflineError', message: 'bob is offline' } }), fileEntry(5, { name: 'old.log', state: 'done', bytes: 4 * MiB, path: '/tmp/old.log' })]
      const screen = start()
      await frameWith(screen, '📎 report.pdf', 'paused at 25%')
      await command(screen, '/files')
      let f = await frameWith(screen, 'Files (2 offers)', 'old.log', '✓ done')
      assert.ok(/report\.pdf .*paused at 25%: bob is offline/.test(f), f)
      port.emit({ type: 'file', file: fileEntry(2, { state: 'downloading', bytes: 2 * MiB }) })
      f = await frameWith(screen, 'Files (2 offers, 1 moving)', '50% · 2.0 MiB of 4.0 MiB')
      await press(screen, KEY.esc)
      f = await frameWithout(screen, 'Files (2 offers')
      assert.ok(f.includes('📎 report.pdf'), f)
    })

    it('/help lists /send, /get and /files', async () => {
      const screen = start(120, 60)
      await frameWith(screen, '📎 report.pdf')
      await command(screen, '/help')
      await frameWith(screen, '/send <path>', '/get [file-id]', '/files')
    })

    it('a client without files says so', async () => {
      const bare: ChatPort = { user: ME, connectionState: 'connected', on: l => port.on(l), conversations: async () => await port.conversations(), users: async () => [], send: async (to, t) => await port.send(to, t), history: port.history }
      const screen = renderSized(<App port={bare} />, 100, 30)
      screens.push(screen)
      await frameWith(screen, '📎 report.pdf', 'offered · /get to fetch it')
      await command(screen, '/get')
      await frameWhere(screen, fr => lastLine(fr).includes('this client cannot fetch files'), 'the error')
      await command(screen, '/send /tmp/x')
      await frameWhere(screen, fr => lastLine(fr).includes('this client cannot send files'), 'the error')
    })

    it('fits a 80×24 terminal with a moving file card', async () => {
      port.entries = [fileEntry(2, { state: 'downloading', bytes: MiB, rate: 10 * MiB, name: `${'x'.repeat(70)}.bin` })]
      const screen = start(80, 24)
      const f = await frameWith(screen, '25% · 1.0 MiB')
      assertFits(f, 80, 24)
    })
  })
})
