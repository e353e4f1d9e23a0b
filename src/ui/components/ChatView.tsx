import { Box, Text } from 'ink'
import { cellWidth, clock, statusMark, visibleWindow } from '../format.js'
import { cardColor, cardOf, cardStatus, movesOrWaits, progressBar } from '../files.js'
import { formatBytes } from '../../protocol/index.js'
import type { FileCard, PendingSend } from '../files.js'
import type { ChatMessage, FileEntry } from '../port.js'

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
  /** What the client said of each file offer, by message id: the cards' state (issue 9). */
  files?: Readonly<Record<string, FileEntry>>
  /** `/send`s still being hashed, by key (their cards come as messages with a `sending:` id). */
  sends?: Readonly<Record<string, PendingSend>>
}

/** Cells of the progress bar inside its brackets, at most. */
const BAR_CELLS = 20

export interface FileCardViewProps {
  /** The offer and where its transfer stands (files.ts `cardOf`). */
  card: FileCard
  /** Cells it may take at most. */
  width: number
}

/**
 * A file offer in the chat: 📎 name and size, then where its transfer stands, with a bar while
 * it moves. Always two lines (cut, never wrapped), so the chat's layout can count on it; it may
 * take the chat's whole width (a bubble takes 80%), so bytes and rate fit beside the bar.
 */
export function FileCardView ({ card, width }: FileCardViewProps): React.JSX.Element {
  const barCells = Math.max(4, Math.min(BAR_CELLS, Math.floor(width / 5)))
  const bar = movesOrWaits(card.state, card.bytes) && card.size > 0 ? `${progressBar(card.bytes, card.size, barCells)} ` : ''
  const about = ` · ${formatBytes(card.size)}`
  const status = `${bar}${cardStatus(card)}`
  // as wide as its longer line, at most `width`: yours sits against the right edge like a bubble
  const cells = Math.min(width, Math.max(cellWidth(`📎 ${card.name}${about}`), cellWidth(status)))
  return (
    <Box flexDirection='column' width={cells}>
      <Text wrap='truncate-end'>📎 <Text bold>{card.name}</Text><Text dimColor>{about}</Text></Text>
      <Text wrap='truncate-end' color={cardColor(card.state)}>{status}</Text>
    </Box>
  )
}

function Bubble ({ m, mine, showAuthor, width, card }: { m: ChatMessage, mine: boolean, showAuthor: boolean, width: number, card: FileCard | null }): React.JSX.Element {
  const meta = mine
    ? `${clock(m.sentAt)}${m.status == null ? '' : ` ${statusMark(m.status)}`}`
    : `${showAuthor ? `${m.from} ` : ''}${clock(m.sentAt)}`
  return (
    <Box flexDirection='column' alignItems={mine ? 'flex-end' : 'flex-start'} width={width}>
      <Text color={mine ? (m.status === 'read' ? 'cyan' : 'gray') : 'yellow'} dimColor={mine && m.status !== 'read'}>{meta}</Text>
      {card != null
        ? <FileCardView card={card} width={width} />
        : (
          <Box width={Math.min(Math.max(8, Math.floor(width * 0.8)), Math.max(1, ...m.text.split('\n').map(cellWidth)))}>
            <Text color={mine ? 'white' : undefined} backgroundColor={mine ? 'blue' : undefined} wrap='wrap'>{m.text}</Text>
          </Box>
          )}
    </Box>
  )
}

/** The right pane: the open conversation as a chat, yours on the right, theirs on the left. */
export function ChatView ({ target, messages, me, online, scroll, hasMore, width, height, files = {}, sends = {} }: ChatViewProps): React.JSX.Element {
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
          : shown.map(m => <Bubble key={m.id} m={m} mine={m.from === me} showAuthor={target?.startsWith('#') === true || m.from !== target} width={inner} card={cardOf(m, me, files, sends)} />)}
      </Box>
    </Box>
  )
}
