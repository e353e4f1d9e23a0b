import { Box, Text } from 'ink'
import { clock, fit } from '../format.js'
import { firstLine } from '../people.js'
import type { ChatRequest, ConversationEntry } from '../port.js'

export interface ConversationListProps {
  /** Sorted entries to show. */
  conversations: ConversationEntry[]
  /** The open conversation's target. */
  selected: string | null
  /** Whether the keyboard is on the list (highlights the border). */
  focused: boolean
  width: number
  height: number
  /** Pending chat requests, shown above the conversations (issue 8); incoming first. */
  requests?: ChatRequest[]
  /** The person whose request row the cursor is on (then no conversation row is highlighted). */
  selectedRequest?: string | null
  /** People whose direct chat is not open to messages (declined, closed, never asked): shown dim. */
  dimmed?: ReadonlySet<string>
}

/** The left pane: chat requests on top, then rooms and people, each with a presence mark and an unread badge. */
export function ConversationList ({ conversations, selected, focused, width, height: total, requests = [], selectedRequest = null, dimmed }: ConversationListProps): React.JSX.Element {
  const inner = Math.max(4, width - 4)
  const section = requestSection(requests, selectedRequest, inner, total)
  const height = Math.max(1, total - section.lines)
  const start = Math.max(0, Math.min(conversations.findIndex(c => c.target === selected) - Math.floor(height / 2), conversations.length - height))
  const rows = conversations.slice(Math.max(0, start), Math.max(0, start) + Math.max(1, height))
  return (
    <Box flexDirection='column' borderStyle='round' borderColor={focused ? 'cyan' : 'gray'} width={width} height={total + 2} overflow='hidden'>
      {section.element}
      {rows.map(c => {
        const active = c.target === selected
        const mark = c.kind === 'room' ? '#' : c.online === true ? '●' : '○'
        const markColor = c.kind === 'room' ? 'blue' : c.online === true ? 'green' : 'gray'
        const name = c.kind === 'room' ? c.target.slice(1) : c.target
        const badge = c.unread > 0 ? String(c.unread > 99 ? '99+' : c.unread) : ''
        const room = Math.max(1, inner - 2 - badge.length - 1)
        return (
          <Box key={c.target} width={inner}>
            <Text color={markColor}>{mark} </Text>
            <Box flexGrow={1}>
              <Text inverse={active} bold={c.unread > 0} dimColor={c.kind === 'dm' && dimmed?.has(c.target) === true} wrap='truncate-end'>{name.length > room ? `${name.slice(0, room - 1)}…` : name}</Text>
            </Box>
            {badge !== '' && <Text color='magenta' bold> {badge}</Text>}
          </Box>
        )
      })}
    </Box>
  )
}

/**
 * The requests section: a header with the keys, incoming requests (name, time, first line) and
 * outgoing ones (waiting), then a rule. At most about half the pane; the cursor's request stays in view.
 */
function requestSection (requests: ChatRequest[], selected: string | null, inner: number, total: number): { lines: number, element: React.JSX.Element | null } {
  if (requests.length === 0) return { lines: 0, element: null }
  const heightOf = (r: ChatRequest): number => r.direction === 'incoming' && firstLine(r.text) !== '' ? 2 : 1
  const budget = Math.max(3, Math.floor(total / 2))
  const needed = requests.reduce((n, r) => n + heightOf(r), 0)
  // the header and the rule, and a line saying how many more when not all fit
  const room = budget - 2 - (needed > budget - 2 ? 1 : 0)
  const fitFrom = (first: number): number => {
    let used = 0
    let end = first
    while (end < requests.length && used + heightOf(requests[end]!) <= room) used += heightOf(requests[end++]!)
    return Math.max(end, Math.min(first + 1, requests.length))
  }
  const at = requests.findIndex(r => r.user === selected)
  let first = 0
  let end = fitFrom(0)
  if (at >= end) {
    // the cursor's request is the last one shown, with as many before it as fit
    first = at
    let used = heightOf(requests[at]!)
    while (first > 0 && used + heightOf(requests[first - 1]!) <= room) used += heightOf(requests[--first]!)
    end = at + 1
  }
  const shown = requests.slice(first, end)
  const hidden = requests.length - shown.length
  const incoming = requests.some(r => r.direction === 'incoming')
  const lines = 2 + (hidden > 0 ? 1 : 0) + shown.reduce((n, r) => n + heightOf(r), 0)
  const element = (
    <Box flexDirection='column' width={inner} flexShrink={0}>
      <Text wrap='truncate-end'><Text bold>Requests</Text>{incoming && <Text dimColor> a✓ d✗</Text>}</Text>
      {shown.map(r => {
        const active = r.user === selected
        const incomingRow = r.direction === 'incoming'
        const side = incomingRow ? clock(r.at) : 'waiting'
        const line = firstLine(r.text)
        return (
          <Box key={r.user} flexDirection='column' width={inner}>
            <Box width={inner}>
              <Text color={incomingRow ? 'yellow' : 'gray'}>{incomingRow ? '»' : '…'} </Text>
              <Box flexGrow={1}>
                <Text inverse={active} bold={incomingRow} wrap='truncate-end'>{fit(r.user, Math.max(1, inner - 3 - side.length))}</Text>
              </Box>
              <Text dimColor> {side}</Text>
            </Box>
            {incomingRow && line !== '' && <Text dimColor wrap='truncate-end'>  {fit(line, Math.max(1, inner - 2))}</Text>}
          </Box>
        )
      })}
      {hidden > 0 && <Text dimColor>  +{hidden} more</Text>}
      <Text dimColor>{'─'.repeat(inner)}</Text>
    </Box>
  )
  return { lines, element }
}
