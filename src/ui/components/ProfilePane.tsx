import { Box, Text } from 'ink'
import { when } from '../format.js'
import { presenceText } from './Overlays.js'
import type { Profile } from '../port.js'

/** Below this many columns the profile takes the place of the chat instead of a pane beside it. */
export const PROFILE_PANE_MIN_COLUMNS = 100

export interface ProfilePaneProps {
  /** Whose profile it is. */
  user: string
  /** The profile, once loaded (it updates live from `profile` events). */
  profile: Profile | undefined
  /** This account (its own profile says how to change it). */
  me: string
  /** Presence of the person: online, offline, or unknown (null). */
  online: boolean | null
  /** When the person was last online, when known. */
  lastSeen: number | null | undefined
  width: number
  /** Lines inside the border. */
  height: number
  /** It stands in for the chat (a narrow terminal), so Esc closes it. */
  over?: boolean
}

function Field ({ label, value, empty }: { label: string, value: string, empty: string }): React.JSX.Element {
  return (
    <Box flexDirection='column'>
      <Text dimColor>{label}</Text>
      {value === '' ? <Text dimColor italic>{empty}</Text> : <Text wrap='wrap'>{value}</Text>}
    </Box>
  )
}

/** The selected person's profile (issue 8): display name, status, about, updated at, presence. */
export function ProfilePane ({ user, profile, me, online, lastSeen, width, height, over = false }: ProfilePaneProps): React.JSX.Element {
  const presence = presenceText(online, lastSeen)
  return (
    <Box flexDirection='column' borderStyle='round' borderColor='gray' width={width} height={height + 2} paddingX={1} overflow='hidden'>
      <Text bold wrap='truncate-end'>{user}{user === me ? ' (you)' : ''}</Text>
      <Text wrap='truncate-end'><Text color={presence.color}>{presence.mark}</Text> {presence.text}</Text>
      {profile == null
        ? <Text dimColor>loading the profile…</Text>
        : (
          <Box flexDirection='column'>
            <Field label='Name' value={profile.name} empty='no name set' />
            <Field label='Status' value={profile.status} empty='no status' />
            <Field label='About' value={profile.about} empty='nothing yet' />
            <Text dimColor wrap='truncate-end'>{profile.updatedAt == null ? 'never updated' : `updated ${when(profile.updatedAt)}`}</Text>
          </Box>
          )}
      <Box flexGrow={1} />
      <Text dimColor wrap='truncate-end'>{user === me ? '/profile set name|status|about' : '/profile to hide'}{over ? ' · Esc to close' : ''}</Text>
    </Box>
  )
}
