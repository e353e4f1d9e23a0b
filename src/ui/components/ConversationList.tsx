import { Box, Text } from 'ink'
import type { ConversationEntry } from '../port.js'

export interface ConversationListProps {
  /** Sorted entries to show. */
  conversations: ConversationEntry[]
  /** The open conversation's target. */
  selected: string | null
  /** Whether the keyboard is on the list (highlights the border). */
  focused: boolean
  width: number
  height: number
}

/** The left pane: rooms and people, each with a presence mark and an unread badge. */
export function ConversationList ({ conversations, selected, focused, width, height }: ConversationListProps): React.JSX.Element {
  const inner = Math.max(4, width - 4)
  const start = Math.max(0, Math.min(conversations.findIndex(c => c.target === selected) - Math.floor(height / 2), conversations.length - height))
  const rows = conversations.slice(Math.max(0, start), Math.max(0, start) + Math.max(1, height))
  return (
    <Box flexDirection='column' borderStyle='round' borderColor={focused ? 'cyan' : 'gray'} width={width} height={height + 2} overflow='hidden'>
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
              <Text inverse={active} bold={c.unread > 0} wrap='truncate-end'>{name.length > room ? `${name.slice(0, room - 1)}…` : name}</Text>
            </Box>
            {badge !== '' && <Text color='magenta' bold> {badge}</Text>}
          </Box>
        )
      })}
    </Box>
  )
}
