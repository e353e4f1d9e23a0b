/**
 * The directory (every account with its presence) comes from the rendezvous node in pages: in a
 * session, the welcome's page and `users` frames after it; without one, `users` answers asked
 * for page after page (rendezvous/directory.ts makes them). A node that cuts the directory short,
 * repeats itself or never ends is refused with InvalidMessageError.
 */
import { InvalidMessageError, MAX_DIRECTORY_USERS, fromWireError } from '../protocol/index.js'
import type { SessionServerFrame, UserInfo } from '../protocol/index.js'

/** The directory a session starts with: the welcome's page and the `users` frames after it (`next` reads one). */
export async function readDirectoryPages (welcome: Extract<SessionServerFrame, { t: 'welcome' }>, next: () => Promise<SessionServerFrame>): Promise<UserInfo[]> {
  const users = [...welcome.users]
  let more = welcome.more === true
  while (more) {
    const page = await next()
    if (page.t === 'error') throw fromWireError(page.error)
    if (page.t !== 'users') throw new InvalidMessageError('the rendezvous node cut the directory short')
    if (users.length + page.users.length > MAX_DIRECTORY_USERS) throw new InvalidMessageError(`the rendezvous node sent a directory of over ${MAX_DIRECTORY_USERS} users`)
    users.push(...page.users)
    more = page.more
  }
  return users
}

/** Every account, asked page by page (`ask` answers the accounts after a name), each after the last name of the one before. */
export async function askDirectoryPages (ask: (after: string | undefined) => Promise<{ users: UserInfo[], more: boolean }>): Promise<UserInfo[]> {
  const all: UserInfo[] = []
  let after: string | undefined
  for (;;) {
    const page = await ask(after)
    const last = page.users.at(-1)?.user
    all.push(...page.users)
    if (all.length > MAX_DIRECTORY_USERS) throw new InvalidMessageError(`the rendezvous node sent a directory of over ${MAX_DIRECTORY_USERS} users`)
    if (!page.more) return all
    if (last == null || (after != null && last <= after)) throw new InvalidMessageError('the rendezvous node sent a directory page that does not move on')
    after = last
  }
}
