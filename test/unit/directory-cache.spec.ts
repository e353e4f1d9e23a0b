import assert from 'node:assert/strict'
import { DirectoryCache } from '../../src/rendezvous/directory.js'
import { Presence } from '../../src/rendezvous/presence.js'
import type { SessionSink } from '../../src/rendezvous/presence.js'
import type { AccountRecord } from '../../src/store/index.js'
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

  const parsed = async (): Promise<UserInfo[]> => JSON.parse(await cache.usersJson()) as UserInfo[]

  it('reads the accounts once while nothing changes, and answers the same list both ways', async () => {
    const first = await parsed()
    assert.deepEqual(first.map(u => [u.user, u.online]), [['alice', false], ['bob', false]])
    await parsed()
    assert.deepEqual(await cache.users(), first)
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
    const stale = cache.usersJson()
    accounts.set('dave', account('dave'))
    cache.accountsChanged()
    release()
    assert.deepEqual((JSON.parse(await stale) as UserInfo[]).map(u => u.user), ['alice', 'bob'], 'the answer as read')
    assert.deepEqual((await parsed()).map(u => u.user), ['alice', 'bob', 'dave'], 'not kept: the next one reads again')
  })
})
