import { Box, Text } from 'ink'
import { cellWidth, clock, statusMark, visibleWindow } from '../format.js'
import type { ChatMessage } from '../port.js'

export interface ChatViewProps {
  /** What is open: `bob` or `#global`. */
  target: string | null
  /** Loaded messages of the open conversation, oldest first. */
  messages: ChatMessage[]
  me: string
  /** Presence of the person (null for rooms). */
  online: boolean | null
  /** Messages scrolled up from the newest. */
  scroll: number
  /** Older pages may exist beyond what is loaded. */
  hasMore: boolean
  width: number
  height: number
}

function Bubble ({ m, mine, showAuthor, width }: { m: ChatMessage, mine: boolean, showAuthor: boolean, width: number }): React.JSX.Element {
  const meta = mine
    ? `${clock(m.sentAt)}${m.status == null ? '' : ` ${statusMark(m.status)}`}`
    : `${showAuthor ? `${m.from} ` : ''}${clock(m.sentAt)}`
  return (
    <Box flexDirection='column' alignItems={mine ? 'flex-end' : 'flex-start'} width={width}>
      <Text color={mine ? (m.status === 'read' ? 'cyan' : 'gray') : 'yellow'} dimColor={mine && m.status !== 'read'}>{meta}</Text>
      <Box width={Math.min(Math.max(8, Math.floor(width * 0.8)), Math.max(1, ...m.text.split('\n').map(cellWidth)))}>
        <Text color={mine ? 'white' : undefined} backgroundColor={mine ? 'blue' : undefined} wrap='wrap'>{m.text}</Text>
      </Box>
    </Box>
  )
}

/** The right pane: the open conversation as a chat, yours on the right, theirs on the left. */
export function ChatView ({ target, messages, me, online, scroll, hasMore, width, height }: ChatViewProps): React.JSX.Element {
  const inner = Math.max(10, width - 4)
  const area = Math.max(1, height - 1)
  const { shown, olderHidden } = visibleWindow(messages, area, Math.floor(inner * 0.8), scroll)
  const title = target == null ? 'no conversation' : target.startsWith('#') ? target : `${target} ${online === true ? '● online' : online === false ? '○ offline' : ''}`
  return (
    <Box flexDirection='column' borderStyle='round' borderColor='gray' width={width} height={height + 2}>
      <Box justifyContent='space-between' width={inner}>
        {/* one line: a long name is cut rather than wrapped over the messages */}
        <Text bold wrap='truncate-end'>{title}</Text>
        <Box flexShrink={0} marginLeft={1}>
          <Text dimColor>{olderHidden || hasMore ? '↑ PgUp for older' : ''}{scroll > 0 ? `  ${scroll} newer ↓` : ''}</Text>
        </Box>
      </Box>
      <Box flexDirection='column' justifyContent='flex-end' height={area} overflow='hidden'>
        {shown.length === 0
          ? <Text dimColor>{target == null ? 'Pick a conversation on the left.' : 'No messages yet. Say hello.'}</Text>
          : shown.map(m => <Bubble key={m.id} m={m} mine={m.from === me} showAuthor={target?.startsWith('#') === true || m.from !== target} width={inner} />)}
      </Box>
    </Box>
  )
}
