import assert from 'node:assert/strict'
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LevelRendezvousState, RENDEZVOUS_SCHEMA_VERSION, SYNC_READ_KEYS, openDb, readKeys } from '../../src/store/index.js'
import type { AccountRecord, DeviceRecord } from '../../src/store/index.js'

function account (user: string, extra: Partial<AccountRecord> = {}): AccountRecord {
  return {
    user,
    password: { alg: 'scrypt', N: 1024, r: 8, p: 1, salt: `salt-of-${user}`, hash: `hash-of-${user}` },
    createdAt: 1_700_000_000_000,
    disabled: false,
    lastSeen: null,
    lastAddr: null,
    ...extra
  }
}

function device (peer: string, user: string, extra: Partial<DeviceRecord> = {}): DeviceRecord {
  return { peer, user, firstSeen: 1, lastSeen: 2, lastAddr: null, loggedIn: true, ...extra }
}

describe('LevelRendezvousState', function () {
  let dir: string
  /** Every state opened by a test, closed in afterEach whatever happened. */
  let opened: LevelRendezvousState[]

  async function open (at = dir): Promise<LevelRendezvousState> {
    const state = await LevelRendezvousState.open(at)
    opened.push(state)
    return state
  }

  async function close (state: LevelRendezvousState): Promise<void> {
    opened = opened.filter(s => s !== state)
    await state.close()
  }

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshchat-store-'))
    opened = []
  })

  afterEach(async () => {
    for (const s of opened) await s.close().catch(() => {})
    await rm(dir, { recursive: true, force: true })
  })

  it('creates the data folder owner-only', async () => {
    const at = join(dir, 'data', 'db')
    await open(at)
    assert.equal((await stat(at)).mode & 0o077, 0)
  })

  it('creates an account and reads it back', async () => {
    const state = await open()
    assert.equal(await state.getAccount('alice'), undefined)
    assert.equal(await state.createAccount(account('alice')), true)
    assert.deepEqual(await state.getAccount('alice'), account('alice'))
  })

  it('refuses a taken name and keeps the first account', async () => {
    const state = await open()
    assert.equal(await state.createAccount(account('alice')), true)
    assert.equal(await state.createAccount(account('alice', { createdAt: 5, disabled: true })), false)
    assert.deepEqual(await state.getAccount('alice'), account('alice'))
    assert.equal((await state.listAccounts()).length, 1)
  })

  it('lets exactly one of many concurrent creations of one name win', async () => {
    const state = await open()
    const attempts = Array.from({ length: 20 }, (_, i) => account('alice', { createdAt: i }))
    const results = await Promise.all(attempts.map(async a => await state.createAccount(a)))
    assert.equal(results.filter(r => r).length, 1)
    const winner = results.indexOf(true)
    assert.deepEqual(await state.getAccount('alice'), attempts[winner])
  })

  it('creates different names concurrently', async () => {
    const state = await open()
    const names = ['alice', 'bob', 'carol', 'dave']
    const results = await Promise.all(names.map(async n => await state.createAccount(account(n))))
    assert.deepEqual(results, [true, true, true, true])
    assert.deepEqual((await state.listAccounts()).map(a => a.user).sort(), names)
  })

  it('updates an account by merging the change', async () => {
    const state = await open()
    await state.createAccount(account('alice'))
    await state.updateAccount('alice', { lastSeen: 42, lastAddr: '/ip4/1.2.3.4/tcp/5' })
    await state.updateAccount('alice', { disabled: true })
    assert.deepEqual(await state.getAccount('alice'), account('alice', { lastSeen: 42, lastAddr: '/ip4/1.2.3.4/tcp/5', disabled: true }))
  })

  it('does not create an account by updating an unknown one', async () => {
    const state = await open()
    await state.updateAccount('ghost', { disabled: true })
    assert.equal(await state.getAccount('ghost'), undefined)
    assert.deepEqual(await state.listAccounts(), [])
  })

  it('keeps creations and updates of one account in order', async () => {
    const state = await open()
    const create = state.createAccount(account('alice'))
    const update = state.updateAccount('alice', { lastSeen: 7 })
    await Promise.all([create, update])
    assert.equal((await state.getAccount('alice'))?.lastSeen, 7)
  })

  it('stores devices and lists them by user', async () => {
    const state = await open()
    await state.putDevice(device('peer-a1', 'alice'))
    await state.putDevice(device('peer-a2', 'alice'))
    await state.putDevice(device('peer-b1', 'bob'))
    assert.deepEqual(await state.getDevice('peer-a1'), device('peer-a1', 'alice'))
    assert.equal(await state.getDevice('peer-zz'), undefined)
    assert.deepEqual((await state.listDevices('alice')).map(d => d.peer).sort(), ['peer-a1', 'peer-a2'])
    assert.deepEqual(await state.listDevices('bob'), [device('peer-b1', 'bob')])
    assert.deepEqual(await state.listDevices('carol'), [])
  })

  it('does not mix up users whose names share a prefix', async () => {
    const state = await open()
    await state.putDevice(device('peer-1', 'bob'))
    await state.putDevice(device('peer-2', 'bobby'))
    await state.putDevice(device('peer-3', 'bob-x'))
    await state.putDevice(device('peer-4', 'bob_x'))
    await state.putDevice(device('peer-5', 'bo'))
    assert.deepEqual((await state.listDevices('bob')).map(d => d.peer), ['peer-1'])
    assert.deepEqual((await state.listDevices('bobby')).map(d => d.peer), ['peer-2'])
    assert.deepEqual((await state.listDevices('bob-x')).map(d => d.peer), ['peer-3'])
    assert.deepEqual((await state.listDevices('bo')).map(d => d.peer), ['peer-5'])
  })

  it('overwrites a device record without listing it twice', async () => {
    const state = await open()
    await state.putDevice(device('peer-a1', 'alice'))
    await state.putDevice(device('peer-a1', 'alice', { lastSeen: 99, loggedIn: false }))
    assert.deepEqual(await state.listDevices('alice'), [device('peer-a1', 'alice', { lastSeen: 99, loggedIn: false })])
  })

  it('lists a device only under the user it now belongs to', async () => {
    const state = await open()
    await state.putDevice(device('peer-1', 'alice'))
    await state.putDevice(device('peer-1', 'bob'))
    assert.deepEqual(await state.listDevices('alice'), [])
    assert.deepEqual(await state.listDevices('bob'), [device('peer-1', 'bob')])
  })

  it('keeps its data when reopened', async () => {
    const first = await open()
    await first.createAccount(account('alice'))
    await first.updateAccount('alice', { lastSeen: 5 })
    await first.putDevice(device('peer-a1', 'alice'))
    await close(first)

    const second = await open()
    assert.deepEqual(await second.getAccount('alice'), account('alice', { lastSeen: 5 }))
    assert.equal(await second.createAccount(account('alice')), false, 'the name is still taken')
    assert.deepEqual(await second.listDevices('alice'), [device('peer-a1', 'alice')])
  })

  it('refuses a folder that holds another kind of database', async () => {
    const other = await openDb(dir, 'device', 1)
    await other.close()
    await assert.rejects(LevelRendezvousState.open(dir), { name: 'MeshchatError' })
    // the refused open let go of the folder: the right kind can still open it
    const again = await openDb(dir, 'device', 1)
    await again.close()
  })

  it('refuses a folder written by a newer schema version', async () => {
    const newer = await openDb(dir, 'rendezvous', RENDEZVOUS_SCHEMA_VERSION + 1)
    await newer.close()
    await assert.rejects(LevelRendezvousState.open(dir), { name: 'MeshchatError' })
  })

  it('opens a folder written by its own schema version', async () => {
    const same = await openDb(dir, 'rendezvous', RENDEZVOUS_SCHEMA_VERSION)
    await same.close()
    await open()
  })

  it('refuses to open a folder that is already open', async () => {
    await open()
    await assert.rejects(LevelRendezvousState.open(dir), (err: unknown) => {
      assert.equal((err as Error).name, 'StoreLockedError')
      assert.equal((err as { exitCode: number }).exitCode, 11)
      return true
    })
  })

  it('opens the folder again once the other holder closed it', async () => {
    const first = await open()
    await close(first)
    const second = await open()
    assert.deepEqual(await second.listAccounts(), [])
  })

  it('waits for pending writes before it closes', async () => {
    const first = await open()
    const pending = first.createAccount(account('alice'))
    await close(first)
    assert.equal(await pending, true)
    const second = await open()
    assert.deepEqual(await second.getAccount('alice'), account('alice'))
  })
})

describe('readKeys', function () {
  let dir: string

  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'meshchat-readkeys-')) })
  afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

  it('reads a few keys on the spot and many through LevelDB\'s pool, with the same answers, and waits for a sublevel still opening', async () => {
    const db = await openDb(dir, 'test', 1)
    try {
      const made = db.sublevel<string, number>('n', { valueEncoding: 'json' })
      // a sublevel opens a moment after it is made: the read waits for it instead of failing
      assert.notEqual(made.status, 'open')
      assert.deepEqual(await readKeys<number>(made, ['a']), [undefined])
      const keys = Array.from({ length: SYNC_READ_KEYS * 2 }, (_v, i) => `k${i}`)
      await made.batch(keys.filter((_k, i) => i % 2 === 0).map((key, i) => ({ type: 'put' as const, key, value: i })))
      const calls = { sync: 0, many: 0 }
      const sub = made as unknown as { getMany: (...a: unknown[]) => Promise<unknown>, getSync: (...a: unknown[]) => unknown }
      const many = sub.getMany.bind(made)
      const one = sub.getSync.bind(made)
      sub.getMany = async (...a) => { calls.many++; return await many(...a) }
      sub.getSync = (...a) => { calls.sync++; return one(...a) }
      const expected = keys.map((_k, i) => i % 2 === 0 ? i / 2 : undefined)
      assert.deepEqual(await readKeys<number>(made, keys.slice(0, SYNC_READ_KEYS)), expected.slice(0, SYNC_READ_KEYS))
      assert.deepEqual(calls, { sync: SYNC_READ_KEYS, many: 0 })
      assert.deepEqual(await readKeys<number>(made, keys), expected)
      assert.deepEqual(calls, { sync: SYNC_READ_KEYS, many: 1 })
    } finally {
      await db.close()
    }
  })
})
