import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ClientStore, CLIENT_SCHEMA_VERSION, openDb } from '../../src/store/index.js'
import type { MessageCursor, OutboxItem, StoredMessage } from '../../src/store/index.js'

const ME = 'alice'
const DM = 'dm:alice:bob'
const ROOM = 'room:lobby'
const BOB_DEVICE = '12D3KooWBobBobBobBobBobBobBobBobBobBobBobBobBobBob'
const ALICE_DEVICE = '12D3KooWAliceAliceAliceAliceAliceAliceAliceAlice'
const T0 = 1_700_000_000_000

function id (i: number): string {
  return i.toString(16).padStart(32, '0')
}

/** Message `i` from bob in the dm, sent at T0 + i unless told otherwise. */
function message (i: number, extra: Partial<StoredMessage> = {}): StoredMessage {
  return {
    id: id(i),
    conv: DM,
    author: 'bob',
    device: BOB_DEVICE,
    sentAt: T0 + i,
    text: `message ${i}`,
    receivedAt: T0 + i + 5,
    ...extra
  }
}

/** Message `i` written by this account. */
function mine (i: number, extra: Partial<StoredMessage> = {}): StoredMessage {
  return message(i, { author: ME, device: ALICE_DEVICE, ...extra })
}

function cursor (m: StoredMessage): MessageCursor {
  return { sentAt: m.sentAt, id: m.id }
}

function range (from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, k) => from + k)
}

/** Counts the LevelDB batches the store writes from now on; while `failing`, each fails as a full disk would. */
function countBatches (store: ClientStore): { batches: number, failing: boolean } {
  const counter = { batches: 0, failing: false }
  const db = (store as unknown as { db: { batch: (...args: unknown[]) => Promise<void> } }).db
  const original = db.batch.bind(db)
  db.batch = async (...args: unknown[]) => {
    if (counter.failing) throw new Error('disk full')
    counter.batches += 1
    await original(...args)
  }
  return counter
}

/** Holds the store's LevelDB batches that `which` picks until `release()`; `batches` counts every batch begun. */
function holdBatches (store: ClientStore, which: (ops: unknown[]) => boolean = () => true): { batches: number, release: () => void } {
  const db = (store as unknown as { db: { batch: (ops: unknown[]) => Promise<void> } }).db
  const original = db.batch.bind(db)
  let release!: () => void
  const held = new Promise<void>(resolve => { release = resolve })
  const hold = { batches: 0, release }
  db.batch = async (ops: unknown[]) => {
    hold.batches += 1
    if (which(ops)) await held
    await original(ops)
  }
  return hold
}

interface Countable {
  next: () => Promise<unknown>
  nextv: (size: number, options?: unknown) => Promise<unknown[]>
  all: (options?: unknown) => Promise<unknown[]>
}

/**
 * Counts the rows every iterator of the store's message sublevel hands back to JavaScript.
 * It reaches into the private `messages` field: a page that read every row and sliced would
 * show up here however fast the machine is.
 */
function countRows (store: ClientStore): { rows: number } {
  const counter = { rows: 0 }
  const sub = (store as unknown as { messages: Record<'iterator' | 'values' | 'keys', (...args: unknown[]) => Countable> }).messages
  for (const method of ['iterator', 'values', 'keys'] as const) {
    const original = sub[method].bind(sub)
    sub[method] = (...args: unknown[]) => {
      const it = original(...args)
      const next = it.next.bind(it)
      const nextv = it.nextv.bind(it)
      const all = it.all.bind(it)
      it.next = async () => {
        const item = await next()
        if (item !== undefined) counter.rows += 1
        return item
      }
      it.nextv = async (size, options) => {
        const items = await nextv(size, options)
        counter.rows += items.length
        return items
      }
      it.all = async (options) => {
        const items = await all(options)
        counter.rows += items.length
        return items
      }
      return it
    }
  }
  return counter
}

describe('ClientStore', function () {
  let dir: string
  /** Every store opened by a test, closed in afterEach whatever happened. */
  let opened: ClientStore[]

  async function open (me = ME): Promise<ClientStore> {
    const store = await ClientStore.open(dir, me)
    opened.push(store)
    return store
  }

  async function close (store: ClientStore): Promise<void> {
    opened = opened.filter(s => s !== store)
    await store.close()
  }

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshchat-client-store-'))
    opened = []
  })

  afterEach(async () => {
    for (const s of opened) await s.close().catch(() => {})
    await rm(dir, { recursive: true, force: true })
  })

  describe('addMessages', () => {
    it('stores a message once however often it is added', async () => {
      const store = await open()
      assert.deepEqual(await store.addMessages([message(1)]), [message(1)])
      assert.deepEqual(await store.addMessages([message(1), message(2)]), [message(2)])
      assert.deepEqual(await store.addMessages([message(3), message(3)]), [message(3)])
      assert.deepEqual(await store.addMessages([message(1), message(2), message(3)]), [])
      const record = await store.conversation(DM)
      assert.equal(record?.count, 3)
      assert.equal(record?.unread, 3)
      assert.deepEqual(await store.getMessage(id(2)), message(2))
      assert.equal(await store.getMessage(id(99)), undefined)
      assert.deepEqual((await store.page(DM)).map(m => m.id), [id(1), id(2), id(3)])
    })

    it('stores a message once when two adds of it race', async () => {
      const store = await open()
      const results = await Promise.all([store.addMessages([message(1)]), store.addMessages([message(1)])])
      assert.equal(results.flat().length, 1)
      assert.equal((await store.conversation(DM))?.count, 1)
      assert.equal((await store.conversation(DM))?.unread, 1)
    })

    it('returns the new messages in the order given', async () => {
      const store = await open()
      await store.addMessages([message(5)])
      const added = await store.addMessages([message(9), message(5), message(2), message(7)])
      assert.deepEqual(added.map(m => m.id), [id(9), id(2), id(7)])
    })

    it('writes one batch per call', async () => {
      const store = await open()
      const written = countBatches(store)
      const msgs = [
        ...range(1, 20).map(i => message(i, { n: i })),
        ...range(21, 30).map(i => mine(i, { status: 'sending', n: i })),
        ...range(31, 40).map(i => message(i, { conv: ROOM }))
      ]
      assert.equal((await store.addMessages(msgs)).length, 40)
      assert.equal(written.batches, 1)
    })

    it('writes calls that come at once together, and gives each caller only its own new messages', async () => {
      const store = await open()
      const written = countBatches(store)
      const results = await Promise.all(range(1, 30).map(async i => await store.addMessages([message(i, { n: i }), message(1, { n: 1 })])))
      // the first call has 1 and 1 again; every other call has its own and a copy of 1 (already there)
      assert.deepEqual(results[0]!.map(m => m.id), [id(1)])
      for (let i = 2; i <= 30; i++) assert.deepEqual(results[i - 1]!.map(m => m.id), [id(i)])
      assert.ok(written.batches < 30, `${written.batches} batches for 30 calls`)
      const record = await store.conversation(DM)
      assert.equal(record?.count, 30)
      assert.equal(record?.unread, 30)
      assert.deepEqual(await store.gaps(DM), [])
    })

    it('writes together only what nothing else was queued between: a read mark in between stays between', async () => {
      const store = await open()
      const first = store.addMessages([message(1)])
      const read = store.markRead(DM)
      const second = store.addMessages([message(2)])
      await Promise.all([first, read, second])
      assert.equal((await store.conversation(DM))?.unread, 1)
      assert.deepEqual((await store.conversation(DM))?.readUpTo, cursor(message(1)))
    })

    it('keeps what it remembers in step with the disk: after a failed write, and after reopening', async () => {
      let store = await open()
      await store.addMessages([message(1, { n: 1 }), mine(2, { status: 'sending' })])
      const written = countBatches(store)
      written.failing = true
      await assert.rejects(store.addMessages([message(3, { n: 3 })]), /disk full/)
      await assert.rejects(store.raiseStatus([id(2)], 'delivered'), /disk full/)
      written.failing = false
      // nothing of the failed writes shows: not in the records, not in the statuses
      assert.equal((await store.conversation(DM))?.count, 2)
      assert.equal((await store.getMessage(id(2)))?.status, 'sending')
      assert.deepEqual((await store.raiseStatus([id(2)], 'delivered')).map(m => m.id), [id(2)])
      assert.deepEqual(await store.addMessages([message(3, { n: 3 })]), [message(3, { n: 3 })])
      assert.equal(await store.nextSeq(DM), 1)
      const before = await store.conversation(DM)
      await close(store)
      store = await open()
      assert.deepEqual(await store.conversation(DM), before)
      assert.equal((await store.getMessage(id(2)))?.status, 'delivered')
      assert.equal(await store.nextSeq(DM), 2)
      assert.deepEqual(await store.gaps(DM), [{ device: BOB_DEVICE, author: 'bob', missing: [2] }])
    })

    it('keeps the conversation record on the newest message, whatever the arrival order', async () => {
      const store = await open()
      await store.addMessages([message(5, { text: 'x'.repeat(300) })])
      await store.addMessages([mine(3)])
      const record = await store.conversation(DM)
      assert.deepEqual(record, {
        conv: DM,
        lastActivity: T0 + 5,
        lastId: id(5),
        lastAuthor: 'bob',
        lastText: 'x'.repeat(200),
        unread: 1,
        readUpTo: null,
        count: 2
      })
      await store.addMessages([mine(8, { text: 'newest' })])
      assert.equal((await store.conversation(DM))?.lastId, id(8))
      assert.equal((await store.conversation(DM))?.lastAuthor, ME)
      assert.equal((await store.conversation(DM))?.lastText, 'newest')
    })

    it('orders messages sent in the same millisecond by id', async () => {
      const store = await open()
      await store.addMessages([message(2, { sentAt: T0 }), message(1, { sentAt: T0 }), message(3, { sentAt: T0 })])
      assert.deepEqual((await store.page(DM)).map(m => m.id), [id(1), id(2), id(3)])
      assert.equal((await store.conversation(DM))?.lastId, id(3))
    })

    it('keeps statuses only on this account\'s direct messages', async () => {
      const store = await open()
      await store.addMessages([
        mine(1, { status: 'sending' }),
        message(2, { status: 'read' }),
        mine(3, { conv: ROOM, status: 'sent' })
      ])
      assert.equal((await store.getMessage(id(1)))?.status, 'sending')
      assert.equal((await store.getMessage(id(2)))?.status, undefined)
      assert.equal((await store.getMessage(id(3)))?.status, undefined)
    })

    it('refuses a batch holding an invalid message and stores none of it', async () => {
      const store = await open()
      for (const bad of [
        message(1, { id: 'not-an-id' }),
        message(1, { conv: 'dm:a!b' }),
        message(1, { conv: '' }),
        message(1, { device: 'a!b' }),
        message(1, { sentAt: -1 }),
        message(1, { sentAt: 1.5 }),
        message(1, { n: 0 }),
        mine(1, { status: 'lost' as never })
      ]) {
        await assert.rejects(store.addMessages([message(2), bad]), { name: 'InvalidInputError' })
      }
      assert.equal(await store.getMessage(id(2)), undefined)
      assert.deepEqual(await store.conversations(), [])
    })

    it('keeps conversations whose names share a prefix apart', async () => {
      const store = await open()
      await store.addMessages([
        message(1, { conv: 'room:a' }),
        message(2, { conv: 'room:a-b' }),
        message(3, { conv: 'room:ab' }),
        message(4, { conv: 'room:a' })
      ])
      assert.deepEqual((await store.page('room:a')).map(m => m.id), [id(1), id(4)])
      assert.deepEqual((await store.page('room:a-b')).map(m => m.id), [id(2)])
      assert.deepEqual((await store.conversations()).map(c => `${c.conv}=${c.count}`).sort(), ['room:a-b=1', 'room:a=2', 'room:ab=1'])
    })
  })

  describe('unread and markRead', () => {
    it('counts incoming messages only and moves the read position forward only', async () => {
      const store = await open()
      const [b1, b2, m3, b4] = [message(1), message(2), mine(3), message(4)] as [StoredMessage, StoredMessage, StoredMessage, StoredMessage]
      await store.addMessages([b1, b2, m3, b4])
      assert.equal((await store.conversation(DM))?.unread, 3)

      let result = await store.markRead(DM, cursor(b2))
      assert.equal(result.changed, true)
      assert.deepEqual(result.record.readUpTo, cursor(b2))
      assert.equal(result.record.unread, 1, 'only b4: m3 is mine')
      assert.deepEqual(await store.conversation(DM), result.record)

      // an older position does not move it back
      result = await store.markRead(DM, cursor(b1))
      assert.equal(result.changed, false)
      assert.deepEqual(result.record.readUpTo, cursor(b2))
      assert.equal(result.record.unread, 1)

      // no position: up to the newest message
      result = await store.markRead(DM)
      assert.equal(result.changed, true)
      assert.deepEqual(result.record.readUpTo, cursor(b4))
      assert.equal(result.record.unread, 0)
      assert.equal((await store.markRead(DM)).changed, false)

      // a late message that sorts before the read position is not unread
      await store.addMessages([message(0)])
      assert.equal((await store.conversation(DM))?.unread, 0)
      assert.equal((await store.conversation(DM))?.count, 5)
      assert.equal((await store.conversation(DM))?.lastId, id(4))

      // new incoming messages count, my own do not
      await store.addMessages([message(5), mine(6), message(7)])
      assert.equal((await store.conversation(DM))?.unread, 2)
      result = await store.markRead(DM, cursor(message(5)))
      assert.equal(result.record.unread, 1)
    })

    it('counts a late incoming message that sorts after the read position', async () => {
      const store = await open()
      await store.addMessages([message(1), message(10)])
      await store.markRead(DM, cursor(message(5)))
      assert.equal((await store.conversation(DM))?.unread, 1)
      await store.addMessages([message(7), message(3)])
      assert.equal((await store.conversation(DM))?.unread, 2, 'message 7 is after the read position, 3 is not')
      assert.equal((await store.markRead(DM)).record.unread, 0)
    })

    it('takes a read position past the newest message as the newest message', async () => {
      const store = await open()
      await store.addMessages([message(1), message(2)])
      const { record } = await store.markRead(DM, cursor(message(50)))
      assert.deepEqual(record.readUpTo, cursor(message(2)))
      await store.addMessages([message(3)])
      assert.equal((await store.conversation(DM))?.unread, 1)
    })

    it('never counts my own messages, even before anything was read', async () => {
      const store = await open()
      await store.addMessages(range(1, 5).map(i => mine(i)))
      assert.equal((await store.conversation(DM))?.unread, 0)
      assert.equal((await store.markRead(DM)).record.unread, 0)
    })

    it('refuses an unknown conversation', async () => {
      const store = await open()
      await assert.rejects(store.markRead('dm:alice:carol'), { name: 'InvalidInputError' })
      await store.addMessages([message(1)])
      await assert.rejects(store.markRead(DM, { sentAt: T0, id: 'nope' }), { name: 'InvalidInputError' })
    })
  })

  describe('page', () => {
    const COUNT = 20_000
    let store: ClientStore

    beforeEach(async () => {
      store = await open()
      for (let i = 0; i < COUNT; i += 2000) {
        await store.addMessages(range(i + 1, i + 2000).map(k => message(k)))
      }
      // neighbours on both sides of the conversation in key order
      await store.addMessages([message(COUNT + 1, { conv: 'dm:alice:bo' }), message(COUNT + 2, { conv: 'dm:alice:boc' })])
    })

    it('returns the newest messages, oldest first, by default ten', async () => {
      const counter = countRows(store)
      const page = await store.page(DM)
      assert.deepEqual(page.map(m => m.id), range(COUNT - 9, COUNT).map(id))
      assert.deepEqual(page[0], message(COUNT - 9))
      assert.ok(counter.rows <= 20, `read ${counter.rows} rows for a page of 10`)
    })

    it('returns the page before a message, reading about `limit` rows', async () => {
      const counter = countRows(store)
      const page = await store.page(DM, { limit: 100, before: id(10_001) })
      assert.deepEqual(page.map(m => m.id), range(9_901, 10_000).map(id))
      assert.ok(counter.rows <= 200, `read ${counter.rows} rows for a page of 100`)
    })

    it('reaches both ends of the conversation', async () => {
      assert.deepEqual((await store.page(DM, { limit: 3, before: id(4) })).map(m => m.id), [id(1), id(2), id(3)])
      assert.deepEqual((await store.page(DM, { limit: 5, before: id(3) })).map(m => m.id), [id(1), id(2)])
      assert.deepEqual(await store.page(DM, { before: id(1) }), [])
      assert.deepEqual((await store.page(DM, { limit: 2 })).map(m => m.id), [id(COUNT - 1), id(COUNT)])
    })

    it('walks the whole conversation page by page', async () => {
      const seen: string[] = []
      let before: string | undefined
      for (;;) {
        const page = await store.page(DM, { limit: 1000, before })
        if (page.length === 0) break
        seen.unshift(...page.map(m => m.id))
        before = page[0]?.id
      }
      assert.equal(seen.length, COUNT)
      assert.equal(seen[0], id(1))
      assert.equal(seen[COUNT - 1], id(COUNT))
    })

    it('caps a page at 1000 messages', async () => {
      const counter = countRows(store)
      const page = await store.page(DM, { limit: 5000 })
      assert.equal(page.length, 1000)
      assert.equal(page[999]?.id, id(COUNT))
      assert.ok(counter.rows <= 2000, `read ${counter.rows} rows for a page of 1000`)
    })

    it('refuses an unknown `before`, one from another conversation, and a bad limit', async () => {
      await assert.rejects(store.page(DM, { before: id(COUNT + 50) }), (err: Error) => {
        assert.equal(err.name, 'InvalidInputError')
        assert.ok(err.message.includes(id(COUNT + 50)), 'the error names the id')
        return true
      })
      await assert.rejects(store.page(DM, { before: id(COUNT + 1) }), { name: 'InvalidInputError' })
      await assert.rejects(store.page(DM, { limit: 0 }), { name: 'InvalidInputError' })
      await assert.rejects(store.page(DM, { limit: 2.5 }), { name: 'InvalidInputError' })
    })

    it('returns nothing for a conversation it never saw', async () => {
      assert.deepEqual(await store.page('dm:alice:zed'), [])
    })
  })

  describe('statuses', () => {
    it('applies raises that come together in one batch, each in its order, never ahead of work queued before them', async () => {
      const store = await open()
      await store.addMessages([mine(1, { status: 'sending' }), mine(2, { status: 'sending' })])
      const written = countBatches(store)
      const statusOf = (ms: StoredMessage[]): Array<[string, string | undefined]> => ms.map(m => [m.id, m.status])
      const [a, b, c] = await Promise.all([
        store.raiseStatus([id(1)], 'delivered'), store.raiseStatus([id(1), id(2)], 'read'), store.raiseStatus([id(2)], 'delivered')
      ])
      assert.deepEqual(statusOf(a), [[id(1), 'delivered']])
      assert.deepEqual(statusOf(b), [[id(1), 'read'], [id(2), 'read']], 'sees the raise before it')
      assert.deepEqual(c, [], 'already read')
      assert.equal(written.batches, 1, 'one write for the three')
      assert.equal((await store.getMessage(id(2)))?.status, 'read')

      // a raise of a message whose add was queued after a waiting raise does not join that raise
      const first = store.raiseStatus([id(1)], 'read')
      const added = store.addMessages([mine(3, { status: 'sending' })])
      const later = store.raiseStatus([id(3)], 'delivered')
      await Promise.all([first, added])
      assert.deepEqual(statusOf(await later), [[id(3), 'delivered']])

      written.failing = true
      const failed = await Promise.allSettled([store.raiseStatus([id(3)], 'read'), store.raiseStatus([id(3)], 'read')])
      assert.deepEqual(failed.map(r => r.status), ['rejected', 'rejected'])
      written.failing = false
      assert.equal((await store.getMessage(id(3)))?.status, 'delivered', 'nothing of a failed write is kept')
    })

    it('raises statuses and never lowers them', async () => {
      const store = await open()
      await store.addMessages([mine(1, { status: 'sending' }), mine(2, { status: 'sending' }), message(3)])

      let changed = await store.raiseStatus([id(1), id(2), id(3), id(99)], 'delivered')
      assert.deepEqual(changed.map(m => [m.id, m.status]), [[id(1), 'delivered'], [id(2), 'delivered']])

      assert.deepEqual(await store.raiseStatus([id(1)], 'sent'), [])
      assert.deepEqual(await store.raiseStatus([id(1)], 'delivered'), [])
      assert.equal((await store.getMessage(id(1)))?.status, 'delivered')

      changed = await store.raiseStatus([id(1), id(1)], 'read')
      assert.deepEqual(changed.map(m => [m.id, m.status]), [[id(1), 'read']])
      assert.equal((await store.getMessage(id(1)))?.status, 'read')
      assert.equal((await store.getMessage(id(2)))?.status, 'delivered')
      assert.equal((await store.getMessage(id(3)))?.status, undefined, 'an incoming message has no status')
    })

    it('leaves my room messages without a status', async () => {
      const store = await open()
      await store.addMessages([mine(1, { conv: ROOM })])
      assert.deepEqual(await store.raiseStatus([id(1)], 'read'), [])
      assert.deepEqual(await store.raiseStatusUpTo(ROOM, cursor(mine(1)), 'read'), [])
      assert.equal((await store.getMessage(id(1)))?.status, undefined)
    })

    it('raises many ids', async () => {
      const store = await open()
      await store.addMessages(range(1, 1200).map(i => mine(i, { status: 'sent' })))
      const changed = await store.raiseStatus(range(1, 1200).map(id), 'delivered')
      assert.equal(changed.length, 1200)
      assert.equal((await store.getMessage(id(1200)))?.status, 'delivered')
    })

    it('raises my messages up to a position, scanning only past where it got before', async () => {
      const store = await open()
      await store.addMessages(range(1, 1000).map(i => i % 2 === 0 ? mine(i, { status: 'sent' }) : message(i)))
      await store.raiseStatus([id(4)], 'read')

      let changed = await store.raiseStatusUpTo(DM, cursor(message(10)), 'read')
      assert.deepEqual(changed.map(m => m.id), [2, 6, 8, 10].map(id))
      assert.ok(changed.every(m => m.status === 'read'))
      assert.equal((await store.getMessage(id(9)))?.status, undefined)
      assert.equal((await store.getMessage(id(12)))?.status, 'sent')

      // already done: nothing to scan, also for a lower status
      const counter = countRows(store)
      assert.deepEqual(await store.raiseStatusUpTo(DM, cursor(message(10)), 'read'), [])
      assert.deepEqual(await store.raiseStatusUpTo(DM, cursor(message(8)), 'delivered'), [])
      assert.equal(counter.rows, 0)

      changed = await store.raiseStatusUpTo(DM, cursor(message(900)), 'delivered')
      assert.deepEqual(changed.map(m => m.id), range(6, 450).map(k => id(2 * k)))
      assert.ok(changed.every(m => m.status === 'delivered'))

      counter.rows = 0
      changed = await store.raiseStatusUpTo(DM, cursor(message(950)), 'delivered')
      assert.deepEqual(changed.map(m => m.id), range(451, 475).map(k => id(2 * k)))
      assert.ok(counter.rows <= 50, `read ${counter.rows} rows for 50 new messages`)

      assert.equal((await store.getMessage(id(900)))?.status, 'delivered')
      assert.equal((await store.getMessage(id(902)))?.status, 'delivered')
      assert.equal((await store.getMessage(id(10)))?.status, 'read')
      assert.equal((await store.getMessage(id(952)))?.status, 'sent')
    })

    it('raises a late message of mine that sorts before where it got', async () => {
      const store = await open()
      await store.addMessages([mine(2, { status: 'sent' }), mine(6, { status: 'sent' })])
      assert.equal((await store.raiseStatusUpTo(DM, cursor(message(10)), 'read')).length, 2)

      // sent from my other device, synced later
      await store.addMessages([mine(4, { status: 'sent' }), mine(5, { status: 'read' })])
      const changed = await store.raiseStatusUpTo(DM, cursor(message(12)), 'read')
      assert.deepEqual(changed.map(m => m.id), [id(4)])
      assert.equal((await store.getMessage(id(4)))?.status, 'read')
    })

    it('ignores an unknown conversation', async () => {
      const store = await open()
      assert.deepEqual(await store.raiseStatusUpTo('dm:alice:carol', cursor(message(1)), 'read'), [])
    })
  })

  describe('sequence numbers', () => {
    it('gives out 1, 2, 3 … per conversation, across restarts', async () => {
      let store = await open()
      assert.equal(await store.nextSeq(DM), 1)
      assert.equal(await store.nextSeq(DM), 2)
      assert.equal(await store.nextSeq(ROOM), 1)
      assert.equal(await store.nextSeq(DM), 3)
      await close(store)

      store = await open()
      assert.equal(await store.nextSeq(DM), 4)
      assert.equal(await store.nextSeq(ROOM), 2)
      const many = await Promise.all(range(1, 20).map(async () => await store.nextSeq(DM)))
      assert.deepEqual([...many].sort((a, b) => a - b), range(5, 24))
    })

    it('numbers calls that come together in one write, each number once, and fails them all if it fails', async () => {
      const store = await open()
      // (a conversation's first number waits for its last one to be read from disk)
      await store.nextSeq(DM)
      await store.nextSeq(ROOM)
      const written = countBatches(store)
      const got = await Promise.all([DM, DM, ROOM, DM, ROOM].map(async conv => await store.nextSeq(conv)))
      assert.deepEqual(got, [2, 3, 2, 4, 3], 'in the order asked, per conversation')
      assert.equal(written.batches, 1, 'one write for the five')
      written.failing = true
      const failed = await Promise.allSettled([store.nextSeq(DM), store.nextSeq(DM)])
      assert.deepEqual(failed.map(r => r.status), ['rejected', 'rejected'])
      written.failing = false
      assert.equal(await store.nextSeq(DM), 7, 'numbers whose write failed are not given out again (a message may carry one)')
      await close(store)
      const again = await open()
      assert.equal(await again.nextSeq(DM), 8, 'and the last one written is on disk')
    })

    it('takeSeq gives the number before its write lands; close waits for the write, and a restart goes on after it', async () => {
      const store = await open()
      assert.equal(await store.nextSeq(DM), 1)
      const hold = holdBatches(store)
      let closing: Promise<void> | undefined
      let taken: Array<{ n: number, written: Promise<void> }> = []
      try {
        taken = [await store.takeSeq(DM), await store.takeSeq(DM)]
        assert.deepEqual(taken.map(t => t.n), [2, 3], 'given out while the write is held')
        assert.equal(hold.batches, 0, 'nothing of the write runs in the taker\'s turn (it signs and sends first)')
        await new Promise(resolve => setImmediate(resolve))
        assert.equal(hold.batches, 1, 'both numbers in one write, from the next turn')
        let landed = false
        void taken[1]!.written.then(() => { landed = true })
        await new Promise(resolve => setImmediate(resolve))
        assert.equal(landed, false)
        closing = close(store)
      } finally {
        hold.release()
      }
      await Promise.all([...taken.map(t => t.written), closing])
      const again = await open()
      assert.equal(await again.nextSeq(DM), 4)
      await close(again)

      // a write that fails: the taker hears it from `written`, and the number is not given again
      const third = await open()
      const failing = countBatches(third)
      failing.failing = true
      const lost = await third.takeSeq(DM)
      assert.equal(lost.n, 5)
      await assert.rejects(lost.written, /disk full/)
      failing.failing = false
      assert.equal(await third.nextSeq(DM), 6)
    })

    it('gives out a number while a history write is still out, and close waits for both', async () => {
      const store = await open()
      // holds the history write (several records); a number is one record
      const hold = holdBatches(store, ops => ops.length > 1)
      const adding = store.addMessages([message(1, { n: 1 })])
      const marking = store.markRead(DM).catch(() => undefined)
      assert.equal(await store.nextSeq(DM), 1, 'not behind the add and the markRead queued before it')
      let added = false
      void adding.then(() => { added = true })
      await new Promise(resolve => setImmediate(resolve))
      assert.equal(added, false)
      hold.release()
      assert.equal((await adding).length, 1)
      await marking
      const numbering = store.nextSeq(DM)
      await close(store)
      assert.equal(await numbering, 2)
      const again = await open()
      assert.equal(await again.nextSeq(DM), 3)
    })

    it('lists the sequence numbers missing per device', async () => {
      let store = await open()
      const OTHER = '12D3KooWOtherOtherOtherOtherOtherOtherOtherOther'
      await store.addMessages([
        ...[1, 2, 4, 7].map((n, k) => message(100 + k, { n })),
        ...[1, 2, 3].map((n, k) => message(200 + k, { n, device: OTHER, author: 'carol' })),
        message(300),
        message(400, { conv: ROOM, n: 5 })
      ])
      assert.deepEqual(await store.gaps(DM), [{ device: BOB_DEVICE, author: 'bob', missing: [3, 5, 6] }])
      assert.deepEqual(await store.gaps(ROOM), [{ device: BOB_DEVICE, author: 'bob', missing: [1, 2, 3, 4] }])

      // another message claiming a number already seen does not hide a hole
      await store.addMessages([message(500, { n: 4 })])
      assert.deepEqual(await store.gaps(DM), [{ device: BOB_DEVICE, author: 'bob', missing: [3, 5, 6] }])

      await store.addMessages([message(600, { n: 5 }), message(601, { n: 3 })])
      assert.deepEqual(await store.gaps(DM), [{ device: BOB_DEVICE, author: 'bob', missing: [6] }])
      await store.addMessages([message(602, { n: 6 })])
      assert.deepEqual(await store.gaps(DM), [])
      // after a restart (nothing in memory) a number already seen is still recognised
      await close(store)
      store = await open()
      await store.addMessages([message(603, { n: 5 }), message(604, { n: 10 })])
      assert.deepEqual(await store.gaps(DM), [{ device: BOB_DEVICE, author: 'bob', missing: [8, 9] }])
      assert.deepEqual(await store.gaps('dm:alice:zed'), [])
    })

    it('writes a sequence key only for a number seen while its device has holes, and still knows every number seen', async () => {
      let store = await open()
      const seqKeys = async (): Promise<string[]> => {
        const keys: string[] = []
        for await (const k of (store as unknown as { seqs: { keys: () => AsyncIterable<string> } }).seqs.keys()) keys.push(k)
        return keys
      }
      const numbered = (n: number, i = n): StoredMessage => message(i, { n })
      // in order, one batch or many: no keys
      await store.addMessages(range(1, 20).map(n => numbered(n)))
      for (const n of range(21, 50)) await store.addMessages([numbered(n)])
      assert.deepEqual(await seqKeys(), [])
      assert.deepEqual(await store.gaps(DM), [])
      // a hole: the number past it gets a key; filling it needs none, nor do the next ones
      await store.addMessages([numbered(52)])
      assert.deepEqual(await store.gaps(DM), [{ device: BOB_DEVICE, author: 'bob', missing: [51] }])
      await store.addMessages([numbered(51)])
      await store.addMessages([numbered(53)])
      assert.equal((await seqKeys()).length, 1)
      assert.deepEqual(await store.gaps(DM), [])
      // after a restart, numbers already seen (under new ids) are known without their keys: they
      // are not counted again, so the next number in order still needs no key and shows no hole
      await close(store)
      store = await open()
      assert.equal((await store.addMessages([numbered(30, 1030), numbered(52, 1052), numbered(53, 1053)])).length, 3)
      await store.addMessages([numbered(54)])
      assert.equal((await seqKeys()).length, 1)
      assert.deepEqual(await store.gaps(DM), [])
      // holes past that are listed from the keys above the run
      await store.addMessages([numbered(57), numbered(60)])
      assert.deepEqual(await store.gaps(DM), [{ device: BOB_DEVICE, author: 'bob', missing: [55, 56, 58, 59] }])
      assert.equal((await store.conversation(DM))?.count, 59)
    })

    it('reads the sequence records of a store written before they had a run (a key for every number)', async () => {
      let store = await open()
      const raw = store as unknown as Record<'seqs' | 'seqMax', { put: (k: string, v: unknown) => Promise<void> }>
      const device = `${DM}!${BOB_DEVICE}`
      for (const n of [1, 2, 4]) await raw.seqs.put(`${device}!${String(n).padStart(15, '0')}`, '')
      await raw.seqMax.put(device, { max: 4, author: 'bob', count: 3 })
      await close(store)
      store = await open()
      assert.deepEqual(await store.gaps(DM), [{ device: BOB_DEVICE, author: 'bob', missing: [3] }])
      // a number it has a key for is not counted again; the missing one closes the hole
      await store.addMessages([message(1, { n: 2 }), message(2, { n: 3 })])
      assert.deepEqual(await store.gaps(DM), [])
      await store.addMessages([message(3, { n: 6 })])
      assert.deepEqual(await store.gaps(DM), [{ device: BOB_DEVICE, author: 'bob', missing: [5] }])
    })

    it('keeps the holes it has read in step with later writes, and does not keep a read that a write raced', async () => {
      const store = await open()
      const OTHER = '12D3KooWOtherOtherOtherOtherOtherOtherOtherOther'
      await store.addMessages([message(1, { n: 1 }), message(2, { n: 2 })])
      assert.deepEqual(await store.gaps(DM), [])
      await store.addMessages([message(3, { n: 5 })])
      assert.deepEqual(await store.gaps(DM), [{ device: BOB_DEVICE, author: 'bob', missing: [3, 4] }])
      await store.addMessages([message(4, { n: 2, device: OTHER, author: 'carol' })])
      const both = [{ device: BOB_DEVICE, author: 'bob', missing: [3, 4] }, { device: OTHER, author: 'carol', missing: [1] }]
      assert.deepEqual(await store.gaps(DM), both.sort((a, b) => a.device.localeCompare(b.device)))
      await store.addMessages([message(5, { n: 3 }), message(6, { n: 4 }), message(7, { n: 1, device: OTHER, author: 'carol' })])
      assert.deepEqual(await store.gaps(DM), [])
      // a conversation's first read, its snapshot taken before a write that makes a hole commits:
      // what it read is answered, not kept
      const seqMax = (store as unknown as { seqMax: { iterator: (o: unknown) => AsyncIterable<unknown> } }).seqMax
      const iterator = seqMax.iterator.bind(seqMax)
      let release!: () => void
      const gate = new Promise<void>(resolve => { release = resolve })
      seqMax.iterator = o => {
        const real = iterator(o)
        return (async function * () { await gate; yield * real })()
      }
      const reading = store.gaps(ROOM)
      await store.addMessages([message(8, { conv: ROOM, n: 3 })])
      release()
      assert.deepEqual(await reading, [])
      seqMax.iterator = iterator
      assert.deepEqual(await store.gaps(ROOM), [{ device: BOB_DEVICE, author: 'bob', missing: [1, 2] }])
    })

    it('lists at most 100 missing numbers per device', async () => {
      const store = await open()
      await store.addMessages([message(1, { n: 2 }), message(2, { n: 250 })])
      const [gap, ...rest] = await store.gaps(DM)
      assert.deepEqual(rest, [])
      assert.deepEqual(gap?.missing, [1, ...range(3, 101)])
    })
  })

  describe('cursors', () => {
    it('reads 0 until set, then what was set', async () => {
      const store = await open()
      assert.equal(await store.getCursor('archive'), 0)
      await store.setCursor('archive', 42)
      await store.setCursor('other', 7)
      assert.equal(await store.getCursor('archive'), 42)
      await store.setCursor('archive', 43)
      assert.equal(await store.getCursor('archive'), 43)
      assert.equal(await store.getCursor('other'), 7)
      await assert.rejects(store.setCursor('archive', 1.5), { name: 'InvalidInputError' })
      assert.equal(await store.getCursor('archive'), 43)
    })
  })

  describe('outbox', () => {
    const item = (k: number): OutboxItem => ({ id: id(k), queuedAt: 1_000 + k, to: 'bob', envelope: { k } })

    it('writes the puts and deletes of one turn in one batch, in order, oldest first when read', async () => {
      const store = await open()
      const written = countBatches(store)
      await Promise.all([store.putOutbox(item(2)), store.putOutbox(item(1)), store.putOutbox(item(3)), store.deleteOutbox(item(3))])
      assert.equal(written.batches, 1)
      assert.deepEqual((await store.outboxItems()).map(i => i.id), [id(1), id(2)], 'a put then a delete of one item in a batch: gone')
      await store.deleteOutbox(item(1))
      assert.deepEqual((await store.outboxItems()).map(i => i.id), [id(2)])
    })

    it('goes in the same batch as the message being sent, or not at all', async () => {
      const store = await open()
      const written = countBatches(store)
      await store.addMessages([mine(1, { status: 'sending' })], { outbox: [item(1)] })
      assert.equal(written.batches, 1)
      assert.deepEqual((await store.outboxItems()).map(i => i.id), [id(1)])
      assert.equal((await store.getMessage(id(1)))?.status, 'sending')
      written.failing = true
      await assert.rejects(store.addMessages([mine(2, { status: 'sending' })], { outbox: [item(2)] }))
      written.failing = false
      assert.equal(await store.getMessage(id(2)), undefined)
      assert.deepEqual((await store.outboxItems()).map(i => i.id), [id(1)], 'neither the message nor its outbox entry')
      // a message already stored still gets its outbox entry (a send again after a crash)
      await store.addMessages([mine(1, { status: 'sending' })], { outbox: [item(3)] })
      assert.deepEqual((await store.outboxItems()).map(i => i.id), [id(1), id(3)])
    })

    it('stores a fresh message without looking for it first, still counted and ordered with the rest', async () => {
      const store = await open()
      await store.addMessages([message(1, { n: 1 })])
      // count the lookups by id and by sequence number (the store's private sublevels; a few
      // keys are read with getSync, many with getMany)
      let lookups = 0
      for (const name of ['ids', 'seqs']) {
        const sub = (store as unknown as Record<string, { getMany: (...args: unknown[]) => Promise<unknown[]>, getSync: (...args: unknown[]) => unknown }>)[name]!
        const many = sub.getMany.bind(sub)
        const one = sub.getSync.bind(sub)
        sub.getMany = async (...args: unknown[]) => { lookups++; return await many(...args) }
        sub.getSync = (...args: unknown[]) => { lookups++; return one(...args) }
      }
      await store.addMessages([mine(3, { status: 'sending', n: 2 })])
      assert.equal(lookups, 1, 'a message not marked fresh is looked for by id (its number is above any seen from its device, so not by number)')
      lookups = 0
      await store.addMessages([message(4, { n: 1 })])
      assert.equal(lookups, 1, 'one whose number its device\'s numbers seen in order cover is known without a lookup by number')
      assert.deepEqual((await store.gaps(DM)).filter(g => g.device === BOB_DEVICE), [], 'and its number is not counted twice')
      await store.addMessages([message(5, { n: 3 })])
      lookups = 0
      await store.addMessages([message(6, { n: 3 })])
      assert.equal(lookups, 2, 'one past a hole, not above the highest seen from its device, is looked for by number too')
      assert.deepEqual((await store.gaps(DM)).filter(g => g.device === BOB_DEVICE), [{ device: BOB_DEVICE, author: 'bob', missing: [2] }], 'and its number is not counted twice')
      lookups = 0
      const added = await store.addMessages([mine(2, { status: 'sending', n: 1 })], { outbox: [item(2)], fresh: true })
      assert.deepEqual(added.map(m => m.id), [id(2)])
      assert.equal(lookups, 0, 'a fresh one is not')
      assert.deepEqual((await store.page(DM)).map(m => m.id), [id(1), id(2), id(3), id(4), id(5), id(6)])
      assert.equal((await store.conversation(DM))?.count, 6)
      assert.deepEqual((await store.outboxItems()).map(i => i.id), [id(2)])
    })

    it('fails every caller of a failed batch, keeps nothing of it, and is written before close', async () => {
      const store = await open()
      const written = countBatches(store)
      written.failing = true
      const failed = await Promise.allSettled([store.putOutbox(item(1)), store.putOutbox(item(2))])
      assert.deepEqual(failed.map(r => r.status), ['rejected', 'rejected'])
      written.failing = false
      assert.deepEqual(await store.outboxItems(), [])
      void store.putOutbox(item(4))
      await close(store)
      const again = await open()
      assert.deepEqual((await again.outboxItems()).map(i => i.id), [id(4)], 'a put not awaited is on disk after close')
    })
  })

  describe('open and close', () => {
    it('keeps everything when reopened', async () => {
      let store = await open()
      await store.addMessages([
        message(1, { n: 1 }), mine(2, { status: 'sending' }), message(3, { n: 3 }), mine(4, { status: 'sent' }),
        message(5, { conv: ROOM })
      ])
      await store.raiseStatus([id(2)], 'delivered')
      await store.raiseStatusUpTo(DM, cursor(message(4)), 'read')
      await store.markRead(DM, cursor(message(1)))
      await store.nextSeq(DM)
      await store.setCursor('archive', 9)
      const records = (await store.conversations()).sort((a, b) => a.conv.localeCompare(b.conv))
      await close(store)

      store = await open()
      assert.deepEqual((await store.conversations()).sort((a, b) => a.conv.localeCompare(b.conv)), records)
      assert.equal((await store.conversation(DM))?.unread, 1)
      assert.deepEqual((await store.page(DM)).map(m => [m.id, m.status]), [
        [id(1), undefined], [id(2), 'read'], [id(3), undefined], [id(4), 'read']
      ])
      assert.deepEqual(await store.addMessages([message(1), message(5, { conv: ROOM })]), [], 'the ids are still known')
      assert.deepEqual(await store.gaps(DM), [{ device: BOB_DEVICE, author: 'bob', missing: [2] }])
      assert.equal(await store.nextSeq(DM), 2)
      assert.equal(await store.getCursor('archive'), 9)
      assert.deepEqual(await store.raiseStatusUpTo(DM, cursor(message(4)), 'read'), [])
    })

    it('refuses a second open of the same folder', async () => {
      await open()
      await assert.rejects(ClientStore.open(dir, ME), (err: unknown) => {
        assert.equal((err as Error).name, 'StoreLockedError')
        return true
      })
    })

    it('refuses a folder that holds another kind of database', async () => {
      const other = await openDb(dir, 'rendezvous', CLIENT_SCHEMA_VERSION)
      await other.close()
      await assert.rejects(ClientStore.open(dir, ME), { name: 'MeshchatError' })
    })

    it('waits for pending writes before it closes', async () => {
      const store = await open()
      const pending = store.addMessages([message(1)])
      await close(store)
      assert.equal((await pending).length, 1)
      const again = await open()
      assert.deepEqual(await again.getMessage(id(1)), message(1))
    })
  })
})
