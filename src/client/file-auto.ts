/**
 * Fetching offered files without being asked (issue 9: "auto-accept for contacts is a
 * setting"): a running device fetches an offer into the download folder when its author is in
 * this account's contacts (`contacts`, the default), from anyone (`all`), or never (`none`).
 * Bounded: only files up to a size, only offers sent lately (a new device that syncs a year of
 * history does not fetch a year of files), and one automatic fetch at a time per sender.
 */
import type { ChatMessage } from './events.js'

export type AutoGetMode = 'contacts' | 'all' | 'none'

export const AUTO_GET_MODES: readonly AutoGetMode[] = ['contacts', 'all', 'none']
/** The largest file fetched without being asked. @default 100 MiB */
export const DEFAULT_AUTO_GET_MAX = 100 * 1024 * 1024
/** Offers older than this are left for the person to fetch. */
export const AUTO_GET_MAX_AGE_MS = 7 * 24 * 3600_000
/** Offers waiting for their turn per sender; more are left for the person. */
export const AUTO_GET_QUEUE = 64

export interface AutoGetDeps {
  mode: () => AutoGetMode
  maxBytes: () => number
  me: () => string
  isContact: (user: string) => Promise<boolean>
  /** True when this device has the file, or a transfer of it already (resumed by other means). */
  known: (sha256: string) => Promise<boolean>
  fetch: (id: string) => Promise<unknown>
}

/** Whether an offer may be fetched without being asked, before the contact and disk checks. */
export function autoGetCandidate (m: Pick<ChatMessage, 'file' | 'from' | 'sentAt'>, mode: AutoGetMode, maxBytes: number, me: string, now = Date.now()): boolean {
  if (mode === 'none' || m.file == null || m.from === me) return false
  if (m.file.size > maxBytes) return false
  return now - m.sentAt <= AUTO_GET_MAX_AGE_MS
}

export class AutoGet {
  private readonly queues = new Map<string, string[]>()
  private stopped = false
  /** Automatic fetches begun (for tests). */
  started = 0

  constructor (private readonly deps: AutoGetDeps) {}

  start (): void { this.stopped = false }

  stop (): void {
    this.stopped = true
    this.queues.clear()
  }

  /** A message arrived: fetch it in the background when the setting says so. */
  consider (m: ChatMessage): void {
    const mode = this.deps.mode()
    if (this.stopped || !autoGetCandidate(m, mode, this.deps.maxBytes(), this.deps.me())) return
    const file = m.file!
    void (async () => {
      if (mode === 'contacts' && !await this.deps.isContact(m.from)) return
      if (await this.deps.known(file.sha256)) return
      this.enqueue(m.from, m.id)
    })().catch(() => {})
  }

  /** One automatic fetch at a time per sender: the queue of a sender is worked through in order. */
  private enqueue (from: string, id: string): void {
    const queue = this.queues.get(from)
    if (queue != null) {
      if (queue.length < AUTO_GET_QUEUE && !queue.includes(id)) queue.push(id)
      return
    }
    const q = [id]
    this.queues.set(from, q)
    void (async () => {
      try {
        for (let next = q.shift(); next != null && !this.stopped; next = q.shift()) {
          this.started++
          // a fetch that cannot finish now is paused, and resumes when its sender is back
          await this.deps.fetch(next).catch(() => {})
        }
      } finally {
        if (this.queues.get(from) === q) this.queues.delete(from)
      }
    })()
  }
}
