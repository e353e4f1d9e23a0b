import { Box, Text } from 'ink'
import { HELP_KEYS } from '../keys.js'
import { SLASH_HELP } from '../slash.js'
import { cellWidth, fit, when, wrappedLines } from '../format.js'
import { cardColor, cardOfEntry, cardStatus, movesOrWaits, progressBar } from '../files.js'
import { formatBytes } from '../../protocol/index.js'
import type { PendingSend } from '../files.js'
import type { Contact, FileEntry, RoomMember } from '../port.js'
import type { UserRow } from '../state.js'

interface HelpLine {
  /** A heading, or a key/command and what it does. */
  head?: string
  keys?: string
  what?: string
  /** Terminal lines it takes at this width. */
  lines: number
}

/** The help screen's lines at a width: both columns wrap, so a line may take more than one. */
function helpLines (width: number): { list: HelpLine[], keyColumn: number } {
  const inner = Math.max(20, width - 4)
  const longest = Math.max(...[...HELP_KEYS, ...SLASH_HELP].map(([k]) => cellWidth(k)))
  const keyColumn = Math.min(longest + 2, Math.floor(inner * 0.5))
  const whatColumn = Math.max(8, inner - keyColumn)
  const entry = ([keys, what]: readonly [string, string]): HelpLine => ({
    keys,
    what,
    lines: Math.max(wrappedLines(keys, keyColumn), wrappedLines(what, whatColumn))
  })
  return {
    keyColumn,
    list: [{ head: 'Keys', lines: 1 }, ...HELP_KEYS.map(entry), { head: 'Commands', lines: 1 }, ...SLASH_HELP.map(entry)]
  }
}

/** How far the help can scroll, in entries, when it is `height` lines tall (borders included). */
export function helpMaxScroll (width: number, height: number): number {
  const { list } = helpLines(width)
  const room = Math.max(1, height - 3)
  let used = 0
  for (let i = list.length - 1; i >= 0; i--) {
    used += list[i]!.lines
    if (used > room) return i + 1
  }
  return 0
}

export interface HelpOverlayProps {
  width: number
  /** Lines it may take, borders included; everything when absent. */
  height?: number
  /** Entries scrolled past at the top (↓ / PageDown). */
  scroll?: number
}

/** `/help`: every key and slash command, scrolled with ↑ ↓ PageUp PageDown when it does not fit. Esc closes it. */
export function HelpOverlay ({ width, height, scroll = 0 }: HelpOverlayProps): React.JSX.Element {
  const { list, keyColumn } = helpLines(width)
  const first = height == null ? 0 : Math.min(scroll, helpMaxScroll(width, height))
  const room = height == null ? Infinity : Math.max(1, height - 3)
  const shown: HelpLine[] = []
  let used = 0
  for (const line of list.slice(first)) {
    if (used + line.lines > room && shown.length > 0) break
    used += line.lines
    shown.push(line)
  }
  const more = first + shown.length < list.length
  return (
    <Box flexDirection='column' borderStyle='double' borderColor='cyan' width={width} paddingX={1} {...(height == null ? {} : { height: Math.min(height, used + 3), overflow: 'hidden' as const })}>
      {shown.map(line => line.head != null
        ? <Text key={line.head} bold>{line.head}</Text>
        : (
          <Box key={line.keys}>
            <Box width={keyColumn} flexShrink={0}><Text color='cyan'>{line.keys}</Text></Box>
            <Box flexGrow={1}><Text>{line.what}</Text></Box>
          </Box>
          ))}
      <Text dimColor wrap='truncate-end'>Esc to close{more ? ' · ↓ PgDn for more' : ''}{first > 0 ? ' · ↑ PgUp back' : ''}</Text>
    </Box>
  )
}

/** `/users`: everyone registered, online first. */
export function UsersOverlay ({ users, me, width }: { users: UserRow[], me: string, width: number }): React.JSX.Element {
  const sorted = [...users].sort((a, b) => Number(b.online) - Number(a.online) || a.user.localeCompare(b.user))
  return (
    <Box flexDirection='column' borderStyle='double' borderColor='cyan' width={width} paddingX={1}>
      <Text bold>Users ({users.filter(u => u.online).length} online)</Text>
      {sorted.slice(0, 30).map(u => (
        <Text key={u.user}><Text color={u.online ? 'green' : 'gray'}>{u.online ? '●' : '○'} </Text>{u.user}{u.user === me ? ' (you)' : ''}</Text>
      ))}
      {sorted.length > 30 && <Text dimColor>… and {sorted.length - 30} more</Text>}
      <Text dimColor>/msg &lt;user&gt; to chat · Esc to close</Text>
    </Box>
  )
}

/** Presence as a mark and a few words: online, or when last seen. */
export function presenceText (online: boolean | null | undefined, lastSeen: number | null | undefined): { mark: string, color: string, text: string } {
  if (online === true) return { mark: '●', color: 'green', text: 'online' }
  if (lastSeen != null) return { mark: '○', color: 'gray', text: `last seen ${when(lastSeen)}` }
  return { mark: '○', color: 'gray', text: online === false ? 'offline' : 'presence unknown' }
}

/** `/contacts`: this account's contacts with presence and the name of their profile. */
export function ContactsOverlay ({ contacts, width, height }: { contacts: Contact[], width: number, height?: number }): React.JSX.Element {
  const inner = Math.max(10, width - 4)
  const room = Math.max(1, (height ?? contacts.length + 4) - 4)
  const shown = contacts.slice(0, contacts.length > room ? room - 1 : room)
  return (
    <Box flexDirection='column' borderStyle='double' borderColor='cyan' width={width} paddingX={1}>
      <Text bold>Contacts ({contacts.filter(c => c.online === true).length} of {contacts.length} online)</Text>
      {contacts.length === 0 && <Text dimColor>No contacts yet: /contacts add &lt;user&gt;</Text>}
      {shown.map(c => {
        const p = presenceText(c.online, c.lastSeen)
        const about = [c.name, c.status].filter(x => x !== '').join(' — ')
        return (
          <Text key={c.user} wrap='truncate-end'>
            <Text color={p.color}>{p.mark} </Text><Text bold>{c.user}</Text>
            {about !== '' && <Text> {fit(about, Math.max(1, inner - c.user.length - 3))}</Text>}
            {c.online !== true && <Text dimColor> · {p.text}</Text>}
          </Text>
        )
      })}
      {shown.length < contacts.length && <Text dimColor>… and {contacts.length - shown.length} more</Text>}
      <Text dimColor wrap='truncate-end'>/contacts add|remove &lt;user&gt; · /msg &lt;user&gt; · Esc to close</Text>
    </Box>
  )
}

/** `/room members`: who is in a room, online first, the owner marked. */
export function MembersOverlay ({ room, members, width, height }: { room: string, members: RoomMember[], width: number, height?: number }): React.JSX.Element {
  const sorted = [...members].sort((a, b) => Number(b.online) - Number(a.online) || a.user.localeCompare(b.user))
  const space = Math.max(1, (height ?? sorted.length + 4) - 4)
  const shown = sorted.slice(0, sorted.length > space ? space - 1 : space)
  return (
    <Box flexDirection='column' borderStyle='double' borderColor='cyan' width={width} paddingX={1}>
      <Text bold wrap='truncate-end'>#{room}: {members.length} {members.length === 1 ? 'member' : 'members'} ({members.filter(m => m.online).length} online)</Text>
      {shown.map(m => (
        <Text key={m.user} wrap='truncate-end'><Text color={m.online ? 'green' : 'gray'}>{m.online ? '●' : '○'} </Text>{m.user}{m.owner ? <Text dimColor> (owner)</Text> : null}</Text>
      ))}
      {shown.length < sorted.length && <Text dimColor>… and {sorted.length - shown.length} more</Text>}
      <Text dimColor>/invite &lt;user&gt; · Esc to close</Text>
    </Box>
  )
}

export interface FilesOverlayProps {
  /** Every file offer the screen knows of, with its transfer's state here. */
  files: FileEntry[]
  /** `/send`s still being hashed. */
  sends: PendingSend[]
  width: number
  /** Lines it may take, borders included; everything when absent. */
  height?: number
}

/**
 * `/files` (issue 9): offers and transfers in every conversation, newest first: ↓ offered to
 * you, ↑ yours, with where each stands and the id `/get` takes. Kept live from events.
 */
export function FilesOverlay ({ files, sends, width, height }: FilesOverlayProps): React.JSX.Element {
  const inner = Math.max(20, width - 4)
  const sorted = [...files].sort((a, b) => b.sentAt - a.sentAt || a.id.localeCompare(b.id))
  const moving = sorted.filter(f => f.state === 'downloading').length + sends.length
  const space = Math.max(1, (height ?? sorted.length + sends.length + 4) - 4)
  const total = sends.length + sorted.length
  const room = total > space ? space - 1 : space
  const shownSends = sends.slice(0, room)
  const shown = sorted.slice(0, Math.max(0, room - shownSends.length))
  const nameCells = Math.max(8, Math.min(32, Math.floor(inner / 3)))
  return (
    <Box flexDirection='column' borderStyle='double' borderColor='cyan' width={width} paddingX={1}>
      <Text bold wrap='truncate-end'>Files ({files.length} {files.length === 1 ? 'offer' : 'offers'}{moving > 0 ? `, ${moving} moving` : ''})</Text>
      {total === 0 && <Text dimColor>No files yet: /send &lt;path&gt; offers one to the open conversation</Text>}
      {shownSends.map(p => (
        <Text key={`send-${p.key}`} wrap='truncate-end'>
          <Text color='cyan'>↑ </Text>{fit(p.name, nameCells)}<Text dimColor> {p.size === 0 ? '' : formatBytes(p.size)} </Text>
          <Text color='cyan'>{p.size > 0 ? `${progressBar(p.bytes, p.size, 10)} ` : ''}{cardStatus({ name: p.name, size: p.size, direction: 'out', state: 'preparing', bytes: p.bytes })}</Text>
          <Text dimColor> · to {p.target}</Text>
        </Text>
      ))}
      {shown.map(f => {
        const card = cardOfEntry(f)
        const status = movesOrWaits(card.state, card.bytes) ? `${progressBar(card.bytes, card.size, 10)} ${cardStatus(card)}` : cardStatus(card)
        return (
          <Text key={f.id} wrap='truncate-end'>
            <Text color={f.direction === 'in' ? 'yellow' : 'cyan'}>{f.direction === 'in' ? '↓' : '↑'} </Text>{fit(f.name, nameCells)}
            <Text dimColor> {formatBytes(f.size)} · {f.direction === 'in' ? `from ${f.from}${f.target.startsWith('#') ? ` in ${f.target}` : ''}` : `to ${f.target}`} · {f.id.slice(0, 8)} </Text>
            <Text color={cardColor(card.state)}>{status}</Text>
          </Text>
        )
      })}
      {shown.length + shownSends.length < total && <Text dimColor>… and {total - shown.length - shownSends.length} more</Text>}
      <Text dimColor wrap='truncate-end'>/get &lt;id&gt; fetches one · /send &lt;path&gt; offers one · Esc to close</Text>
    </Box>
  )
}
