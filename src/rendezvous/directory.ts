/**
 * The directory snapshot every session's welcome carries (and the directory's `users` answer),
 * without reading every account from LevelDB and encoding every entry again on each hello
 * (issue 10). Accounts are read once and kept until one of them changes; each user's encoded
 * entry is kept until that user's presence changes.
 *
 * What changes an entry, and how this cache hears of it:
 * - a device of the user comes online, goes offline or announces new addresses: Presence emits a
 *   `presence` event for that user (the entry is dropped);
 * - an account is created, disabled or enabled, or gets a new account key: the node or the admin
 *   emits `registered` / `disabled` on Presence after the write (everything is dropped);
 * - the node writes `lastSeen` when an account goes offline: it calls `accountsChanged()` after
 *   the write.
 */
import type { AccountRecord } from '../store/index.js'
import type { UserInfo } from '../protocol/index.js'
import type { Presence } from './presence.js'

export interface DirectoryInit {
  /** Every account, from the store. */
  listAccounts: () => Promise<AccountRecord[]>
  /** One account as the directory shows it (with its presence now). */
  userInfo: (account: AccountRecord) => UserInfo
  presence: Presence
}

export class DirectoryCache {
  /** Bumped by every change of an account; a read begun under an older one is not kept. */
  private version = 0
  private accounts?: AccountRecord[]
  /** Each user's entry, JSON-encoded. */
  private readonly entries = new Map<string, string>()
  private readonly unsubscribe: () => void

  constructor (private readonly init: DirectoryInit) {
    this.unsubscribe = init.presence.onEvent(ev => {
      if (ev.type === 'presence') this.entries.delete(ev.user)
      else if (ev.type !== 'room') this.accountsChanged()
    })
  }

  /** An account record changed in the store (after the write). */
  accountsChanged (): void {
    this.version++
    this.accounts = undefined
    this.entries.clear()
  }

  /** Every account as the directory shows it. */
  async users (): Promise<UserInfo[]> {
    return (await this.records()).map(a => this.init.userInfo(a))
  }

  /** The same list as a JSON array, from the kept entries. */
  async usersJson (): Promise<string> {
    const version = this.version
    const accounts = await this.records()
    // a change while the list was read: this answer is built from it as read, nothing is kept
    const keep = version === this.version
    const parts: string[] = []
    for (const a of accounts) {
      let entry = keep ? this.entries.get(a.user) : undefined
      if (entry == null) {
        entry = JSON.stringify(this.init.userInfo(a))
        if (keep) this.entries.set(a.user, entry)
      }
      parts.push(entry)
    }
    return `[${parts.join(',')}]`
  }

  stop (): void {
    this.unsubscribe()
    this.accountsChanged()
  }

  private async records (): Promise<AccountRecord[]> {
    if (this.accounts != null) return this.accounts
    const version = this.version
    const accounts = await this.init.listAccounts()
    if (version === this.version) this.accounts = accounts
    return accounts
  }
}
