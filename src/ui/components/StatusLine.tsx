import { Box, Text } from 'ink'
import { connectionLabel } from '../format.js'
import type { ConnectionState } from '../port.js'
import type { Notice } from '../state.js'

export interface StatusLineProps {
  /** The connection to the rendezvous node. */
  connection: ConnectionState
  /** Who this device is logged in as. */
  me: string
  /** A short message: a new message elsewhere, or an error from the last command. */
  notice: Notice | null
  width: number
}

/** The bottom line: connection state and who you are, then the latest notice. */
export function StatusLine ({ connection, me, notice, width }: StatusLineProps): React.JSX.Element {
  const c = connectionLabel(connection)
  return (
    <Box width={width} justifyContent='space-between'>
      {/* the connection and the name keep their place: a long notice is cut, never wraps the line */}
      <Box flexShrink={0}>
        <Text><Text color={c.color}>{c.mark} {c.text}</Text><Text dimColor> as </Text><Text bold>{me}</Text><Text dimColor>  /help</Text></Text>
      </Box>
      {notice != null && <Box marginLeft={2}><Text color={notice.kind === 'error' ? 'red' : 'magenta'} wrap='truncate-end'>{notice.text}</Text></Box>}
    </Box>
  )
}
