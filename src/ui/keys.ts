/**
 * Every key binding of the chat screen, in one table (STYLE.md: components never test raw key
 * codes). `commandFor` maps what Ink reports to a command, given where the focus is.
 */
import type { Key } from 'ink'

export type Focus = 'list' | 'composer'

/**
 * What the list cursor is on: someone whose chat request waits for this account's answer (their
 * request row, or their chat), or anything else. The request keys apply only there, so elsewhere
 * in the list a letter still starts a message.
 */
export type ListRow = 'request' | 'other'

export type KeyCommand =
  | 'next-conversation'
  | 'prev-conversation'
  | 'open'
  | 'page-up'
  | 'page-down'
  | 'leave-input'
  | 'enter-input'
  | 'quit'
  | 'close-overlay'
  | 'accept-request'
  | 'decline-request'

interface Binding {
  command: KeyCommand
  keys: string
  /** Where it applies; both when absent. */
  focus?: Focus
  /** In the list, what the cursor must be on; anything when absent. */
  row?: ListRow
  match: (input: string, key: Key) => boolean
}

export const BINDINGS: readonly Binding[] = [
  { command: 'quit', keys: 'Ctrl-C', match: (i, k) => k.ctrl && i === 'c' },
  { command: 'next-conversation', keys: 'Ctrl-N, Tab', match: (i, k) => (k.ctrl && i === 'n') || (k.tab && !k.shift) },
  { command: 'prev-conversation', keys: 'Ctrl-P, Shift-Tab', match: (i, k) => (k.ctrl && i === 'p') || (k.tab && k.shift) },
  { command: 'next-conversation', keys: '↓', focus: 'list', match: (_i, k) => k.downArrow },
  { command: 'prev-conversation', keys: '↑', focus: 'list', match: (_i, k) => k.upArrow },
  { command: 'open', keys: 'Enter', focus: 'list', match: (_i, k) => k.return },
  // issue 8: answer a chat request from the list; in the composer these are letters
  { command: 'accept-request', keys: 'a', focus: 'list', row: 'request', match: (i, k) => !k.ctrl && !k.meta && i === 'a' },
  { command: 'decline-request', keys: 'd', focus: 'list', row: 'request', match: (i, k) => !k.ctrl && !k.meta && i === 'd' },
  { command: 'enter-input', keys: 'i, any letter', focus: 'list', match: (i, k) => !k.ctrl && !k.meta && i.length === 1 && i >= ' ' },
  { command: 'page-up', keys: 'PageUp', match: (_i, k) => k.pageUp },
  { command: 'page-down', keys: 'PageDown', match: (_i, k) => k.pageDown },
  { command: 'leave-input', keys: 'Esc', focus: 'composer', match: (_i, k) => k.escape }
]

export function commandFor (input: string, key: Key, focus: Focus, row: ListRow = 'other'): KeyCommand | undefined {
  for (const b of BINDINGS) {
    if (b.focus != null && b.focus !== focus) continue
    if (b.row != null && b.row !== row) continue
    if (b.match(input, key)) return b.command
  }
  return undefined
}

/** The help screen's lines: keys, then slash commands. */
export const HELP_KEYS: ReadonlyArray<[string, string]> = [
  ['Tab / Ctrl-N, Shift-Tab / Ctrl-P', 'next / previous conversation'],
  ['↑ ↓ then Enter (after Esc)', 'choose a conversation and open it'],
  ['a / d (after Esc, on a request)', 'accept / decline the chat request'],
  ['PageUp / PageDown', 'scroll; older messages load as you go'],
  ['Esc', 'leave the message input (to the list)'],
  ['Ctrl-C or /quit', 'quit']
]
