import { Box, Text } from 'ink'
import { HELP_KEYS } from '../keys.js'
import { SLASH_HELP } from '../slash.js'
import type { UserRow } from '../state.js'

/** `/help`: every key and slash command. Esc closes it. */
export function HelpOverlay ({ width }: { width: number }): React.JSX.Element {
  return (
    <Box flexDirection='column' borderStyle='double' borderColor='cyan' width={width} paddingX={1}>
      <Text bold>Keys</Text>
      {HELP_KEYS.map(([k, what]) => <Text key={k}><Text color='cyan'>{k.padEnd(34)}</Text>{what}</Text>)}
      <Text bold>Commands</Text>
      {SLASH_HELP.map(([k, what]) => <Text key={k}><Text color='cyan'>{k.padEnd(34)}</Text>{what}</Text>)}
      <Text dimColor>Esc to close</Text>
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
