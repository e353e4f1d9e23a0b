/**
 * A device's records about people (DESIGN.md "Storage"): each direct chat's request, accept,
 * decline and close envelopes, messages held back until a chat allows them, the account's
 * contacts (newest change of a person wins) and the profiles last seen of others.
 */
import { MAX_CHAT_CONTROLS, MAX_HELD_PER_CHAT } from '../protocol/index.js'
import type { Db } from './db.js'
import type { Envelope, ProfileInfo } from '../protocol/index.js'

export interface ControlRecord {
  id: string
  kind: 'request' | 'accept' | 'decline' | 'close'
  author: string
  sentAt: number
  text?: string
}

export interface ContactRecord {
  user: string
  added: boolean
  /** The change's sent-at and envelope id: the newest change wins on every device. */
  sentAt: number
  id: string
}

const pad = (n: number): string => String(n).padStart(15, '0')

/**
 * Layout:
 * - `ctl!<conv>!<sentAt 15>!<id>` → ControlRecord (at most MAX_CHAT_CONTROLS per chat, oldest dropped)
 * - `held!<conv>!<id>` → Envelope (at most MAX_HELD_PER_CHAT per chat)
 * - `contact!<user>` → ContactRecord
 * - `profile!<user>` → ProfileInfo
 */
export class PeopleStore {
  private readonly controls
  private readonly held
  private readonly contactRecords
  private readonly profiles
  /** The controls of chats read lately (every direct message checks its chat's), kept in step with the database. */
  private readonly controlCache = new Map<string, ControlRecord[]>()
  /** Bumped on every control write: a read that started before one must not fill the cache. */
  private generation = 0

  constructor (private readonly db: Db, private readonly serial: <T>(fn: () => Promise<T>) => Promise<T>) {
    this.controls = db.sublevel<string, ControlRecord>('ctl', { valueEncoding: 'json' })
    this.held = db.sublevel<string, Envelope>('held', { valueEncoding: 'json' })
    this.contactRecords = db.sublevel<string, ContactRecord>('contact', { valueEncoding: 'json' })
    this.profiles = db.sublevel<string, ProfileInfo>('profile', { valueEncoding: 'json' })
  }

  /** Keeps a chat control; false when it was already here (idempotent by id). */
  async addControl (conv: string, rec: ControlRecord): Promise<boolean> {
    return await this.serial(async () => {
      const key = `${conv}!${pad(rec.sentAt)}!${rec.id}`
      if (await this.controls.get(key) != null) return false
      const existing = await this.controls.keys({ gt: `${conv}!`, lt: `${conv}"` }).all()
      const drop = existing.length + 1 - MAX_CHAT_CONTROLS
      await this.db.batch([
        { type: 'put', sublevel: this.controls, key, value: rec },
        ...existing.slice(0, Math.max(0, drop)).map(k => ({ type: 'del' as const, sublevel: this.controls, key: k }))
      ] as never)
      this.generation++
      this.controlCache.delete(conv)
      return true
    })
  }

  /** The same list object until a control of the chat is added (chat-state.ts remembers what it folded per list): never change it. */
  async controlsOf (conv: string): Promise<readonly ControlRecord[]> {
    const cached = this.controlCache.get(conv)
    if (cached != null) return cached
    const before = this.generation
    const list = await this.controls.values({ gt: `${conv}!`, lt: `${conv}"` }).all()
    if (before === this.generation) {
      if (this.controlCache.size >= 1_000) this.controlCache.clear()
      this.controlCache.set(conv, list)
    }
    return list
  }

  /** Every chat that has any control, with its controls. */
  async allControls (): Promise<Map<string, ControlRecord[]>> {
    const out = new Map<string, ControlRecord[]>()
    for await (const [key, value] of this.controls.iterator()) {
      const conv = key.slice(0, key.indexOf('!'))
      const list = out.get(conv) ?? []
      list.push(value)
      out.set(conv, list)
    }
    return out
  }

  /** Holds back a message the chat does not allow yet; false when the chat's hold is full. */
  async hold (env: Envelope): Promise<boolean> {
    return await this.serial(async () => {
      const count = (await this.held.keys({ gt: `${env.conv}!`, lt: `${env.conv}"`, limit: MAX_HELD_PER_CHAT }).all()).length
      if (count >= MAX_HELD_PER_CHAT) return false
      await this.held.put(`${env.conv}!${env.id}`, env)
      return true
    })
  }

  async heldOf (conv: string): Promise<Envelope[]> {
    return await this.held.values({ gt: `${conv}!`, lt: `${conv}"` }).all()
  }

  async release (conv: string, ids: string[]): Promise<void> {
    if (ids.length === 0) return
    await this.serial(async () => { await this.held.batch(ids.map(id => ({ type: 'del' as const, key: `${conv}!${id}` }))) })
  }

  /** Applies a contact change if it is newer than the one kept; returns true when it changed the list. */
  async setContact (rec: ContactRecord): Promise<boolean> {
    return await this.serial(async () => {
      const old = await this.contactRecords.get(rec.user)
      if (old != null && (old.sentAt > rec.sentAt || (old.sentAt === rec.sentAt && old.id >= rec.id))) return false
      await this.contactRecords.put(rec.user, rec)
      return old?.added !== rec.added
    })
  }

  async contacts (): Promise<ContactRecord[]> {
    return (await this.contactRecords.values().all()).filter(c => c.added)
  }

  async contact (user: string): Promise<ContactRecord | undefined> {
    return await this.contactRecords.get(user)
  }

  async putProfile (profile: ProfileInfo): Promise<void> {
    await this.serial(async () => {
      const old = await this.profiles.get(profile.user)
      if (old?.updatedAt != null && profile.updatedAt != null && old.updatedAt > profile.updatedAt) return
      await this.profiles.put(profile.user, profile)
    })
  }

  async getProfile (user: string): Promise<ProfileInfo | undefined> {
    return await this.profiles.get(user)
  }
}
