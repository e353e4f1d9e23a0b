/**
 * What the chat screen shows of files (issue 9), as pure helpers: a file offer's card (name,
 * size, where its transfer stands), the progress bar, the path `/send` was given, and which
 * offer a bare `/get` fetches.
 */
import { formatBytes } from '../protocol/index.js'
import type { ChatMessage, FileEntry, FileState } from './port.js'

/** A `/send` still being read and hashed: no offer (and no message) exists yet. */
export interface PendingSend {
  /** Local key of this send (not a message id). */
  key: string
  /** `bob` or `#room`. */
  target: string
  name: string
  /** The file's size once the first progress told it; 0 before. */
  size: number
  /** Bytes hashed so far (or, uploading, bytes the rendezvous node has). */
  bytes: number
  startedAt: number
  /** uploading: the recipient is offline and the file goes up to the rendezvous node before the send returns. @default hashing */
  phase?: 'hashing' | 'uploading'
}

/**
 * Where a card's transfer stands: a client file state, `preparing` (a `/send` hashing), or on the
 * sender's side `sending` (a device fetches it from this one, or it goes up to the rendezvous
 * node), `sent` (all of it went to someone) and `at-node` (it waits for them at the node).
 */
export type CardState = FileState | 'preparing' | 'sending' | 'sent' | 'at-node'

/** What a file card shows. */
export interface FileCard {
  name: string
  size: number
  direction: 'in' | 'out'
  state: CardState
  /** Bytes verified here (in), hashed (preparing), or the whole size (shared, done). */
  bytes: number
  /** Bytes a second while it moves. */
  rate?: number
  /** Where the file is: done, or shared from. */
  path?: string
  /** Why it is paused, waiting or failed. */
  error?: string
  /**
   * sending: who gets it and how (`bytes` and `rate` are that transfer's), and how many more
   * transfers of it run; sent: who got all of it; at-node: for whom it waits there.
   */
  to?: string[]
  via?: 'device' | 'node'
  more?: number
}

/** Prefix of the ids of the messages that stand in for pending sends. */
export const PENDING_PREFIX = 'sending:'

/** A message's card: from what the client said of its offer, else as offered. Null without an offer. */
export function cardOf (m: ChatMessage, me: string, files: Readonly<Record<string, FileEntry>>, sends: Readonly<Record<string, PendingSend>> = {}): FileCard | null {
  if (m.file == null) return null
  if (m.id.startsWith(PENDING_PREFIX)) {
    const p = sends[m.id.slice(PENDING_PREFIX.length)]
    if (p?.phase === 'uploading') return { name: m.file.name, size: p.size, direction: 'out', state: 'sending', bytes: p.bytes, to: [p.target], via: 'node' }
    return { name: m.file.name, size: p?.size ?? m.file.size, direction: 'out', state: 'preparing', bytes: p?.bytes ?? 0 }
  }
  const e = files[m.id]
  if (e == null) return { name: m.file.name, size: m.file.size, direction: m.from === me ? 'out' : 'in', state: m.from === me ? 'shared' : 'offered', bytes: 0 }
  return cardOfEntry(e)
}

/** The card of what the client said of an offer (also a row of `/files`). */
export function cardOfEntry (e: FileEntry): FileCard {
  // the sender's card: while this device sends it, after it sent all of it, or left it at the node
  if (e.direction === 'out' && (e.state === 'shared' || e.state === 'offered')) {
    const s = e.serving?.[0]
    // this account's own other device is "you" (the entry's author is this account)
    const who = (u: string): string => u === e.from ? 'your other device' : u
    const base = { name: e.name, size: e.size, direction: e.direction, ...(e.path == null ? {} : { path: e.path }) }
    if (s != null) return { ...base, state: 'sending', bytes: s.bytes, rate: s.rate, to: [who(s.to)], via: s.via, more: (e.serving?.length ?? 1) - 1 }
    if (e.sentTo != null && e.sentTo.length > 0) return { ...base, state: 'sent', bytes: e.size, to: e.sentTo.map(who) }
    if (e.sealed?.state === 'stored') return { ...base, state: 'at-node', bytes: e.size, to: [e.sealed.to] }
  }
  return {
    name: e.name,
    size: e.size,
    direction: e.direction,
    state: e.state,
    bytes: e.bytes,
    ...(e.rate == null ? {} : { rate: e.rate }),
    ...(e.path == null ? {} : { path: e.path }),
    ...(e.error == null ? {} : { error: e.error.message.split('\n')[0] ?? '' })
  }
}

/** `[██████░░░░]`, `cells` wide inside the brackets, filled in proportion (full only when done). */
export function progressBar (bytes: number, total: number, cells: number): string {
  const n = Math.max(1, cells)
  const ratio = total <= 0 ? 1 : Math.max(0, Math.min(1, bytes / total))
  // a bar shows full only when every byte is in: 99.9% keeps one cell empty
  const filled = ratio >= 1 ? n : Math.min(n - 1, Math.floor(ratio * n))
  return `[${'█'.repeat(filled)}${'░'.repeat(n - filled)}]`
}

/** Percent of `total` in, floored (100 only when everything is in). */
export function percent (bytes: number, total: number): number {
  if (total <= 0) return 100
  return bytes >= total ? 100 : Math.floor(100 * Math.max(0, bytes) / total)
}

/** Whether the card shows a progress bar: the transfer is under way, or was cut part-way. */
export function movesOrWaits (state: CardState, bytes = 1): boolean {
  return state === 'downloading' || state === 'preparing' || state === 'sending' || ((state === 'paused' || state === 'waiting-direct') && bytes > 0)
}

/** One line saying where the transfer stands, without the bar: `48% · 600 KiB of 1.2 MiB · 2.0 MiB/s`. */
export function cardStatus (c: FileCard): string {
  const of = `${formatBytes(c.bytes)} of ${formatBytes(c.size)}`
  switch (c.state) {
    case 'preparing': return c.size === 0 ? 'preparing…' : `hashing ${percent(c.bytes, c.size)}% · ${of}`
    case 'offered': return c.direction === 'in' ? 'offered · /get to fetch it' : 'offered'
    case 'shared': return 'offered · sent from this device while meshchat runs'
    case 'downloading': return `${percent(c.bytes, c.size)}% · ${of}${c.rate == null || c.rate <= 0 ? '' : ` · ${formatBytes(c.rate)}/s`}`
    case 'paused': return `paused at ${percent(c.bytes, c.size)}%${c.error == null ? '' : `: ${c.error}`} · /get resumes it`
    case 'waiting-direct': return `waiting for a direct connection${c.error == null ? '' : ` (${c.error})`} · /get --relay uses the relay`
    case 'done': return `✓ done${c.path == null ? '' : ` · saved to ${c.path}`}`
    case 'sending': {
      const to = c.to?.[0] ?? 'someone'
      // short: the bar and the numbers must fit beside it in a chat pane
      const more = c.more != null && c.more > 0 ? ` +${c.more}` : ''
      const how = c.via === 'node' ? `to the node for ${to}` : `to ${to}`
      return `${how}${more} · ${percent(c.bytes, c.size)}% · ${of}${c.rate == null || c.rate <= 0 ? '' : ` · ${formatBytes(c.rate)}/s`}`
    }
    case 'sent': return `✓ sent to ${names(c.to ?? [])}`
    case 'at-node': return `waits for ${c.to?.[0] ?? 'them'} at the rendezvous node`
    case 'failed': return `✗ failed${c.error == null ? '' : `: ${c.error}`}`
  }
}

/** `bob`, `bob and carol`, `bob, carol, dave +2`: the latest three named. */
function names (list: readonly string[]): string {
  if (list.length === 0) return 'them'
  if (list.length === 2) return `${list[0]!} and ${list[1]!}`
  const shown = list.slice(-3)
  return `${shown.join(', ')}${list.length > 3 ? ` +${list.length - 3}` : ''}`
}

/** The colour of a card's status line. */
export function cardColor (state: CardState): string | undefined {
  switch (state) {
    case 'done':
    case 'sent': return 'green'
    case 'failed': return 'red'
    case 'paused':
    case 'waiting-direct': return 'yellow'
    case 'downloading':
    case 'sending':
    case 'preparing': return 'cyan'
    default: return undefined
  }
}

/** Terminal lines a card takes in the chat, its header line included (see messageHeight). */
export const CARD_LINES = 3

/** The messages that stand in for pending sends to `target`, after what is loaded. */
export function pendingMessages (me: string, target: string, sends: Readonly<Record<string, PendingSend>>): ChatMessage[] {
  return Object.values(sends)
    .filter(p => p.target === target)
    .sort((a, b) => a.startedAt - b.startedAt || a.key.localeCompare(b.key))
    .map(p => ({
      id: `${PENDING_PREFIX}${p.key}`,
      conv: '',
      from: me,
      fromDevice: '',
      sentAt: p.startedAt,
      receivedAt: p.startedAt,
      text: `📎 ${p.name}`,
      file: { name: p.name, size: p.size, sha256: '', chunkSize: 0, chunks: 0, manifest: '' }
    }))
}

/**
 * The offer a bare `/get` fetches in the conversation `target`: the newest one offered to this
 * account that is not here yet, else the newest one offered to it at all (fetching it again
 * says where it is). From the loaded messages and the entries the client listed.
 */
export function offerToGet (me: string, target: string, messages: readonly ChatMessage[], files: Readonly<Record<string, FileEntry>>): { id: string, name: string } | undefined {
  const offers = new Map<string, { id: string, name: string, sentAt: number, state: CardState }>()
  for (const e of Object.values(files)) {
    if (e.target === target && e.direction === 'in') offers.set(e.id, { id: e.id, name: e.name, sentAt: e.sentAt, state: e.state })
  }
  for (const m of messages) {
    if (m.file == null || m.from === me || m.id.startsWith(PENDING_PREFIX) || offers.has(m.id)) continue
    offers.set(m.id, { id: m.id, name: m.file.name, sentAt: m.sentAt, state: files[m.id]?.state ?? 'offered' })
  }
  const newest = [...offers.values()].sort((a, b) => b.sentAt - a.sentAt || b.id.localeCompare(a.id))
  const pick = newest.find(o => o.state !== 'done' && o.state !== 'downloading') ?? newest[0]
  return pick == null ? undefined : { id: pick.id, name: pick.name }
}

/** `~` and `~/…` as the home folder (as a shell does); anything else as typed. */
export function expandHome (path: string, home: string): string {
  if (path === '~') return home
  if (path.startsWith('~/')) return `${home.replace(/\/+$/, '')}/${path.slice(2)}`
  return path
}
