import assert from 'node:assert/strict'
import { DirectoryCache, pages } from '../../src/rendezvous/directory.js'
import { Presence } from '../../src/rendezvous/presence.js'
import type { SessionSink } from '../../src/rendezvous/presence.js'
import type { AccountRecord } from '../../src/store/index.js'
import type { DirectoryEntry } from '../../src/rendezvous/directory.js'
import type { UserInfo } from '../../src/protocol/index.js'

function account (user: string, lastSeen: number | null = null): AccountRecord {
  return { user, password: { algo: 'scrypt', N: 2, r: 1, p: 1, salt: 'c2FsdA', hash: 'aGFzaA' } as unknown as AccountRecord['password'], createdAt: 1, disabled: false, lastSeen, lastAddr: null }
}

function sink (user: string, peer: string): SessionSink {
  return { user, peer, addrs: [`/ip4/10.0.0.1/tcp/${peer.length}`], push: () => true, close: () => {} }
}

describe('directory cache', function () {
  let presence: Presence
  let accounts: Map<string, AccountRecord>
  let reads: number
  let cache: DirectoryCache

  beforeEach(() => {
    presence = new Presence()
    accounts = new Map([['alice', account('alice')], ['bob', account('bob', 5)]])
    reads = 0
    cache = new DirectoryCache({
      listAccounts: async () => { reads++; return [...accounts.values()].map(a => ({ ...a })) },
      userInfo: a => ({ user: a.user, online: presence.isOnline(a.user), lastSeen: a.lastSeen, createdAt: a.createdAt, devices: presence.devices(a.user), accountKey: null, ...(a.disabled ? { disabled: true } : {}) }),
      presence
    })
  })
  afterEach(() => { cache.stop() })

  const parsed = async (): Promise<UserInfo[]> => (await cache.encoded()).map(e => JSON.parse(e.json) as UserInfo)

  it('reads the accounts once while nothing changes, and keeps each entry encoded', async () => {
    const first = await cache.encoded()
    assert.deepEqual(first.map(e => JSON.parse(e.json) as UserInfo).map(u => [u.user, u.online]), [['alice', false], ['bob', false]])
    assert.deepEqual(first.map(e => e.bytes), first.map(e => Buffer.byteLength(e.json)))
    const again = await cache.encoded()
    assert.ok(again.every((e, i) => e === first[i]), 'the same entries, not encoded again')
    assert.equal(reads, 1)
  })

  it('shows a device coming online, changing addresses and going offline at the next snapshot', async () => {
    await parsed()
    const s = sink('alice', 'pa')
    presence.add(s, 10)
    let alice = (await parsed()).find(u => u.user === 'alice')!
    assert.equal(alice.online, true)
    assert.deepEqual(alice.devices, [{ peer: 'pa', addrs: s.addrs }])
    presence.updateAddrs(s, ['/ip4/10.0.0.2/tcp/9'], 11)
    alice = (await parsed()).find(u => u.user === 'alice')!
    assert.deepEqual(alice.devices, [{ peer: 'pa', addrs: ['/ip4/10.0.0.2/tcp/9'] }])
    presence.remove(s, 12, 12)
    alice = (await parsed()).find(u => u.user === 'alice')!
    assert.equal(alice.online, false)
    assert.deepEqual(alice.devices, [])
    assert.equal(reads, 1, 'presence alone does not re-read the accounts')
  })

  it('patches one account after its lastSeen write, without reading the others again', async () => {
    await parsed()
    accounts.set('alice', account('alice', 99))
    cache.accountUpdated('alice', { lastSeen: 99 })
    const users = await parsed()
    assert.equal(users.find(u => u.user === 'alice')?.lastSeen, 99)
    assert.equal(users.find(u => u.user === 'bob')?.lastSeen, 5)
    assert.equal(reads, 1)
    // before anything was read, an update changes nothing kept: the first read has it
    cache.accountsChanged()
    accounts.set('bob', account('bob', 7))
    cache.accountUpdated('bob', { lastSeen: 7 })
    assert.equal((await parsed()).find(u => u.user === 'bob')?.lastSeen, 7)
    assert.equal(reads, 2)
  })

  it('re-reads the accounts after a registration, a disable and a lastSeen write', async () => {
    await parsed()
    accounts.set('carol', account('carol'))
    presence.emit({ type: 'registered', user: 'carol', accountKey: null, at: 3 })
    assert.deepEqual((await parsed()).map(u => u.user), ['alice', 'bob', 'carol'])
    accounts.set('bob', { ...account('bob', 5), disabled: true })
    presence.emit({ type: 'disabled', user: 'bob', disabled: true, at: 4 })
    assert.equal((await parsed()).find(u => u.user === 'bob')?.disabled, true)
    accounts.set('alice', account('alice', 99))
    cache.accountsChanged()
    assert.equal((await parsed()).find(u => u.user === 'alice')?.lastSeen, 99)
    assert.equal(reads, 4)
  })

  it('does not keep a list read while an account changed', async () => {
    let release!: () => void
    const gate = new Promise<void>(resolve => { release = resolve })
    let slow = true
    const list = cache as unknown as { init: { listAccounts: () => Promise<AccountRecord[]> } }
    const original = list.init.listAccounts
    list.init.listAccounts = async () => {
      const rows = await original()
      if (slow) { slow = false; await gate }
      return rows
    }
    const stale = cache.encoded()
    accounts.set('dave', account('dave'))
    cache.accountsChanged()
    release()
    assert.deepEqual((await stale).map(e => e.user), ['alice', 'bob'], 'the answer as read')
    assert.deepEqual((await parsed()).map(u => u.user), ['alice', 'bob', 'dave'], 'not kept: the next one reads again')
  })

  it('gives a device that holds a version of this node run only the entries changed since', async () => {
    const users = (snap: { entries: DirectoryEntry[] }): string[] => snap.entries.map(e => e.user)
    const first = await cache.snapshot()
    assert.equal(first.delta, false)
    assert.deepEqual(users(first), ['alice', 'bob'], 'no version: everything')
    assert.equal(first.dir.epoch, cache.epoch)
    const quiet = await cache.snapshot(first.dir)
    assert.deepEqual([quiet.delta, users(quiet), quiet.dir], [true, [], first.dir], 'nothing changed: nothing sent, the same version')

    const s = sink('alice', 'pa')
    presence.add(s, 10)
    const online = await cache.snapshot(first.dir)
    assert.deepEqual([online.delta, users(online)], [true, ['alice']])
    assert.equal((JSON.parse(online.entries[0]!.json) as UserInfo).online, true, 'as it is now')
    assert.ok(online.dir.v > first.dir.v)

    accounts.set('carol', account('carol'))
    presence.emit({ type: 'registered', user: 'carol', accountKey: null, at: 3 })
    accounts.set('bob', account('bob', 20))
    cache.accountUpdated('bob', { lastSeen: 20 })
    const later = await cache.snapshot(online.dir)
    assert.deepEqual(users(later), ['bob', 'carol'], 'a lastSeen write and a new account; alice not again')
    assert.deepEqual(users(await cache.snapshot(first.dir)), ['alice', 'bob', 'carol'], 'an older version: every change since it')
    accounts.set('bob', { ...account('bob', 20), disabled: true })
    presence.emit({ type: 'disabled', user: 'bob', disabled: true, at: 4 })
    assert.deepEqual(users(await cache.snapshot(later.dir)), ['bob'])

    // a version of another run, or one this run never gave: everything
    for (const since of [{ epoch: 'another-run', v: 0 }, { epoch: cache.epoch, v: later.dir.v + 100 }]) {
      const snap = await cache.snapshot(since)
      assert.deepEqual([snap.delta, users(snap)], [false, ['alice', 'bob', 'carol']], JSON.stringify(since))
    }
  })
})

describe('directory pages', function () {
  const entry = (user: string, bytes: number): DirectoryEntry => ({ user, json: 'x'.repeat(bytes), bytes })
  const names = (split: DirectoryEntry[][]): string[][] => split.map(p => p.map(e => e.user))

  it('fills each page up to its budget (entries and the commas between them), in order', function () {
    const entries = ['a', 'b', 'c', 'd', 'e'].map(u => entry(u, 9))
    assert.deepEqual(names(pages(entries, 20).pages), [['a', 'b'], ['c', 'd'], ['e']])
    assert.deepEqual(names(pages(entries, 30, 10).pages), [['a'], ['b', 'c', 'd'], ['e']], 'the first page has its own budget')
    assert.deepEqual(names(pages(entries, 50).pages), [['a', 'b', 'c', 'd', 'e']])
  })

  it('always gives one page, and leaves the first empty when its budget is smaller than an entry', function () {
    assert.deepEqual(names(pages([], 20).pages), [[]])
    assert.deepEqual(names(pages([entry('a', 15)], 20, 5).pages), [[], ['a']])
  })

  it('leaves out an entry larger than a page, and says which', function () {
    const split = pages([entry('a', 5), entry('huge', 100), entry('b', 5)], 20)
    assert.deepEqual(names(split.pages), [['a', 'b']])
    assert.deepEqual(split.skipped, ['huge'])
  })
})
