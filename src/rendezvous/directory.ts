/**
 * The directory every session's welcome carries (and the directory's `users` answer), without
 * reading every account from LevelDB and encoding every entry again on each hello (issue 10).
 * Accounts are read once and kept until one of them changes; each user's encoded entry is kept
 * until that user's presence changes. The directory goes out in pages of at most
 * MAX_DIRECTORY_PAGE_BYTES (`pages`), so it fits in frames whatever its size.
 *
 * What changes an entry, and how this cache hears of it:
 * - a device of the user comes online, goes offline or announces new addresses: Presence emits a
 *   `presence` event for that user (the entry is dropped);
 * - an account is created, disabled or enabled, or gets a new account key: the node or the admin
 *   emits `registered` / `disabled` on Presence after the write (everything is dropped);
 * - the node writes `lastSeen` when an account goes offline: it calls `accountUpdated()` after
 *   the write (that account's record is patched, the others are kept).
 *
 * Each of those changes also stamps the user's entry with the next directory version. A welcome
 * says which version its directory is (`snapshot`), and a device reconnecting to the same node run
 * (`epoch`) says which one it holds: it is sent only the entries stamped since, not every account
 * again (at 10,000 accounts the whole directory is ~3 MB a reconnect). Accounts are never deleted,
 * so an entry changed or added is all a delta needs to carry.
 */
import { randomBytes } from 'node:crypto'
import type { AccountRecord } from '../store/index.js'
import type { DirectoryVersion, UserInfo } from '../protocol/index.js'
import type { Presence } from './presence.js'

export interface DirectoryInit {
  /** Every account, from the store, in name order. */
  listAccounts: () => Promise<AccountRecord[]>
  /** One account as the directory shows it (with its presence now). */
  userInfo: (account: AccountRecord) => UserInfo
  presence: Presence
}

/** One user's directory entry, JSON-encoded, and its size in UTF-8 bytes. */
export interface DirectoryEntry {
  user: string
  json: string
  bytes: number
}

/** What a welcome carries: every entry, or those changed since the device's version (`delta`). */
export interface DirectorySnapshot {
  entries: DirectoryEntry[]
  dir: DirectoryVersion
  delta: boolean
}

export class DirectoryCache {
  /** This node run's name for its directory versions; a `since` from another run means nothing here. */
  readonly epoch = randomBytes(12).toString('base64url')
  /** The directory's version: the stamp of its latest change. */
  private seq = 0
  /** The version each user's entry last changed at (absent: not since this node started). */
  private readonly stamps = new Map<string, number>()
  /** Bumped by every change of an account; a read begun under an older one is not kept. */
  private version = 0
  private accounts?: AccountRecord[]
  /** Where each account is in `accounts`. */
  private readonly index = new Map<string, number>()
  /** Each user's entry, encoded. */
  private readonly entries = new Map<string, DirectoryEntry>()
  private readonly unsubscribe: () => void

  constructor (private readonly init: DirectoryInit) {
    this.unsubscribe = init.presence.onEvent(ev => {
      if (ev.type === 'presence') {
        this.entries.delete(ev.user)
        this.stamp(ev.user)
      } else if (ev.type === 'registered' || ev.type === 'disabled') {
        this.accountsChanged()
        this.stamp(ev.user)
      }
    })
  }

  /** The directory's version now: the stamp of its latest change. */
  get latest (): number {
    return this.seq
  }

  /** Account records changed in the store (after the write): everything is read again. */
  accountsChanged (): void {
    this.version++
    this.accounts = undefined
    this.index.clear()
    this.entries.clear()
  }

  /** One account's record changed in the store (after the write): only it is patched. */
  accountUpdated (user: string, change: Partial<Omit<AccountRecord, 'user'>>): void {
    this.version++
    this.entries.delete(user)
    this.stamp(user)
    const at = this.index.get(user)
    if (this.accounts == null || at == null) return
    this.accounts[at] = { ...this.accounts[at]!, ...change }
  }

  /** Every account's entry, encoded, from the kept ones where they are still true. */
  async encoded (): Promise<DirectoryEntry[]> {
    const version = this.version
    const accounts = await this.records()
    // a change while the list was read: this answer is built from it as read, nothing is kept
    const keep = version === this.version
    const out: DirectoryEntry[] = []
    for (const a of accounts) {
      let entry = keep ? this.entries.get(a.user) : undefined
      if (entry == null) {
        const json = JSON.stringify(this.init.userInfo(a))
        entry = { user: a.user, json, bytes: Buffer.byteLength(json) }
        if (keep) this.entries.set(a.user, entry)
      }
      out.push(entry)
    }
    return out
  }

  /**
   * The directory for a welcome: only the entries changed since `since` when it is a version of
   * this node run's, else every entry. The version is taken before the entries are read, so an
   * entry that changes meanwhile is sent as it is after (and again, as an event, to a session that
   * joined presence first), never older than the version says.
   */
  async snapshot (since?: DirectoryVersion): Promise<DirectorySnapshot> {
    const dir = { epoch: this.epoch, v: this.seq }
    const all = await this.encoded()
    if (since == null || since.epoch !== this.epoch || since.v > dir.v) return { entries: all, dir, delta: false }
    return { entries: all.filter(e => (this.stamps.get(e.user) ?? 0) > since.v), dir, delta: true }
  }

  stop (): void {
    this.unsubscribe()
    this.accountsChanged()
  }

  private stamp (user: string): void {
    this.stamps.set(user, ++this.seq)
  }

  private async records (): Promise<AccountRecord[]> {
    if (this.accounts != null) return this.accounts
    const version = this.version
    const accounts = await this.init.listAccounts()
    if (version === this.version) {
      this.accounts = accounts
      this.index.clear()
      accounts.forEach((a, i) => this.index.set(a.user, i))
    }
    return accounts
  }
}

export interface DirectoryPages {
  /** Each page's entries, in order; always at least one page (it may be empty). */
  pages: DirectoryEntry[][]
  /** Entries left out because one alone is larger than a page. */
  skipped: string[]
}

/**
 * Splits the directory into pages of at most `budget` bytes of entries (the first page at most
 * `firstBudget`, since the welcome carries more besides). An entry larger than a page cannot be
 * sent at all and is left out (the node bounds a user's devices and addresses so that it never is).
 */
export function pages (entries: DirectoryEntry[], budget: number, firstBudget = budget): DirectoryPages {
  const out: DirectoryEntry[][] = [[]]
  const skipped: string[] = []
  let used = 0
  for (const e of entries) {
    const size = e.bytes + 1 // the comma between entries
    if (size > budget) { skipped.push(e.user); continue }
    // a full page starts the next (the welcome's first page may stay empty if its budget is small)
    if (used + size > (out.length === 1 ? firstBudget : budget)) {
      out.push([])
      used = 0
    }
    out.at(-1)!.push(e)
    used += size
  }
  return { pages: out, skipped }
}
