/** Small pure helpers for what the screen shows. */
import { CARD_LINES } from './files.js'
import type { ChatMessage, ConnectionState } from './port.js'

export function clock (ms: number): string {
  const d = new Date(ms)
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`
}

/** The visible receipt mark of an outgoing message. */
export function statusMark (status: ChatMessage['status']): string {
  switch (status) {
    case 'sending': return '…'
    case 'sent': return '✓'
    case 'delivered': return '✓✓'
    case 'read': return '✓✓ read'
    default: return ''
  }
}

export function connectionLabel (state: ConnectionState): { mark: string, text: string, color: string } {
  switch (state) {
    case 'connected': return { mark: '●', text: 'connected', color: 'green' }
    case 'connecting': return { mark: '◌', text: 'connecting', color: 'yellow' }
    case 'reconnecting': return { mark: '◌', text: 'reconnecting', color: 'yellow' }
    case 'offline': return { mark: '○', text: 'offline', color: 'red' }
  }
}

const graphemes = new Intl.Segmenter()

/**
 * Terminal cells a string takes, counting wide (CJK, emoji) characters as two. Counted per
 * grapheme, as Ink's string-width does: an emoji with a skin tone, a ZWJ family, a flag or a
 * character shown as emoji (U+FE0F) is one wide character, not several.
 */
export function cellWidth (text: string): number {
  let w = 0
  for (const { segment } of graphemes.segment(text)) {
    const cp = segment.codePointAt(0) ?? 0
    if (cp < 0x20 || (cp >= 0x300 && cp < 0x370) || cp === 0x200d || (cp >= 0xfe00 && cp <= 0xfe0f)) continue
    const wide = (cp >= 0x1100 && (cp <= 0x115f || (cp >= 0x2e80 && cp <= 0xa4cf) || (cp >= 0xac00 && cp <= 0xd7a3) || (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0xff00 && cp <= 0xff60) || (cp >= 0x1f300 && cp <= 0x1faff) || (cp >= 0x20000 && cp <= 0x3fffd))) ||
      segment.includes('\ufe0f') ||
      (cp >= 0x1f1e6 && cp <= 0x1f1ff && segment.length > 2)
    w += wide ? 2 : 1
  }
  return w
}

/** Lines a message takes when wrapped to `width` cells, plus its header line. */
export function messageHeight (m: ChatMessage, width: number): number {
  // a file offer is a card of fixed height (files.ts), whatever its text
  if (m.file != null) return CARD_LINES
  const w = Math.max(8, width)
  let lines = 1
  for (const line of m.text.split('\n')) lines += Math.max(1, Math.ceil(cellWidth(line) / w))
  return lines
}

/**
 * The messages that fit in `height` lines, bottom-aligned, skipping the newest `scroll` ones.
 * Returns them oldest first, and whether older loaded ones were left out.
 */
export function visibleWindow (messages: ChatMessage[], height: number, width: number, scroll: number): { shown: ChatMessage[], olderHidden: boolean } {
  const end = Math.max(0, messages.length - scroll)
  const shown: ChatMessage[] = []
  let used = 0
  let i = end - 1
  for (; i >= 0; i--) {
    const h = messageHeight(messages[i]!, width)
    if (used + h > height && shown.length > 0) break
    used += h
    shown.unshift(messages[i]!)
  }
  return { shown, olderHidden: i >= 0 }
}

/** `text` cut to at most `cells` terminal cells, with `…` where it was cut. */
export function fit (text: string, cells: number): string {
  if (cellWidth(text) <= cells) return text
  if (cells <= 0) return ''
  let out = ''
  for (const { segment } of graphemes.segment(text)) {
    if (cellWidth(out + segment) > cells - 1) break
    out += segment
  }
  return `${out}…`
}

/** A moment for a profile: the time when it is today, the date and time otherwise. */
export function when (ms: number, now: number = Date.now()): string {
  const d = new Date(ms)
  const today = new Date(now)
  if (d.toDateString() === today.toDateString()) return clock(ms)
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')} ${clock(ms)}`
}

/** Lines `text` takes when word-wrapped to `width` cells (as Ink wraps: by words, long words cut). */
export function wrappedLines (text: string, width: number): number {
  const w = Math.max(1, width)
  let lines = 1
  let used = 0
  for (const word of text.split(' ')) {
    const cells = cellWidth(word)
    const need = used === 0 ? cells : used + 1 + cells
    if (need <= w) { used = need; continue }
    if (used > 0) lines++
    // a word longer than the line is cut over as many lines as it needs
    lines += Math.max(0, Math.ceil(cells / w) - 1)
    used = cells % w === 0 && cells > 0 ? w : cells % w
  }
  return lines
}
