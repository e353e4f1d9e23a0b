import assert from 'node:assert/strict'
import { askDirectoryPages, readDirectoryPages } from '../../src/client/directory-pages.js'
import { MAX_DIRECTORY_USERS } from '../../src/protocol/index.js'
import type { Certificate, SessionServerFrame, UserInfo } from '../../src/protocol/index.js'
import { rejectsNamed } from '../assert.js'

function user (name: string): UserInfo {
  return { user: name, online: false, lastSeen: null, createdAt: 1, devices: [], accountKey: null }
}
const users = (...names: string[]): UserInfo[] => names.map(user)
const names = (list: UserInfo[]): string[] => list.map(u => u.user)

function welcome (list: UserInfo[], more?: boolean): Extract<SessionServerFrame, { t: 'welcome' }> {
  return { t: 'welcome', cert: {} as unknown as Certificate, heartbeatMs: 1000, users: list, ...(more == null ? {} : { more }) }
}

/** Frames read one after the other; reading past them fails the test. */
function frames (...list: SessionServerFrame[]): () => Promise<SessionServerFrame> {
  return async () => {
    const next = list.shift()
    assert.ok(next != null, 'read past the frames the node sent')
    return next
  }
}


describe('client directory pages', () => {
  describe('in a session (readDirectoryPages)', () => {
    it('takes the welcome alone when nothing more comes, old nodes included', async () => {
      assert.deepEqual(names(await readDirectoryPages(welcome(users('alice', 'bob')), frames())), ['alice', 'bob'])
      assert.deepEqual(names(await readDirectoryPages(welcome(users('alice'), false), frames())), ['alice'])
    })

    it('reads users frames until the last, in order', async () => {
      const got = await readDirectoryPages(welcome(users('alice'), true), frames(
        { t: 'users', users: users('bob', 'carol'), more: true },
        { t: 'users', users: [], more: true },
        { t: 'users', users: users('dave'), more: false }
      ))
      assert.deepEqual(names(got), ['alice', 'bob', 'carol', 'dave'])
    })

    it('refuses a directory cut short by another frame, and passes on an error frame', async () => {
      await rejectsNamed(readDirectoryPages(welcome(users('alice'), true), frames({ t: 'pong', n: 1 })), 'InvalidMessageError', /cut the directory short/)
      await rejectsNamed(readDirectoryPages(welcome([], true), frames({ t: 'error', error: { name: 'RateLimitedError', message: 'slow down' } })), 'RateLimitedError', /slow down/)
    })

    it('refuses a directory longer than MAX_DIRECTORY_USERS', async () => {
      const page = Array.from({ length: 1000 }, (_, i) => user(`u${i}`))
      let sent = 0
      const endless = async (): Promise<SessionServerFrame> => { sent++; return { t: 'users', users: page, more: true } }
      await rejectsNamed(readDirectoryPages(welcome([], true), endless), 'InvalidMessageError', /over 100000 users/)
      assert.equal(sent, MAX_DIRECTORY_USERS / 1000 + 1, 'stops at the first page past the bound')
    })
  })

  describe('asked for (askDirectoryPages)', () => {
    it('asks after the last name of each page until no more are left', async () => {
      const asked: Array<string | undefined> = []
      const pages: Record<string, { users: UserInfo[], more: boolean }> = {
        '': { users: users('alice', 'bob'), more: true },
        bob: { users: users('carol'), more: true },
        carol: { users: users('dave'), more: false }
      }
      const got = await askDirectoryPages(async after => { asked.push(after); return pages[after ?? '']! })
      assert.deepEqual(names(got), ['alice', 'bob', 'carol', 'dave'])
      assert.deepEqual(asked, [undefined, 'bob', 'carol'])
    })

    it('refuses a page that does not move on: empty, or ending where the one before ended', async () => {
      await rejectsNamed(askDirectoryPages(async () => ({ users: [], more: true })), 'InvalidMessageError', /does not move on/)
      await rejectsNamed(askDirectoryPages(async after => ({ users: users(after ?? 'alice'), more: true })), 'InvalidMessageError', /does not move on/)
      await rejectsNamed(askDirectoryPages(async after => ({ users: users(after == null ? 'bob' : 'alice'), more: true })), 'InvalidMessageError', /does not move on/)
    })

    it('refuses a directory longer than MAX_DIRECTORY_USERS', async () => {
      let n = 0
      const endless = async (): Promise<{ users: UserInfo[], more: boolean }> => ({ users: Array.from({ length: 1000 }, () => user(`u${String(n++).padStart(7, '0')}`)), more: true })
      await rejectsNamed(askDirectoryPages(endless), 'InvalidMessageError', /over 100000 users/)
    })
  })
})
