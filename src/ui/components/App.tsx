import { useEffect, useState } from 'react'
import { Box, Text, useApp, useInput } from 'ink'
import { ConversationList } from './ConversationList.js'
import { ChatView } from './ChatView.js'
import { StatusLine } from './StatusLine.js'
import { ContactsOverlay, FilesOverlay, HelpOverlay, helpMaxScroll, MembersOverlay, UsersOverlay } from './Overlays.js'
import { ProfilePane, PROFILE_PANE_MIN_COLUMNS } from './ProfilePane.js'
import { LineInput } from './LineInput.js'
import { commandFor } from '../keys.js'
import { parseSlash } from '../slash.js'
import { isPeopleCommand, runPeopleCommand } from '../commands.js'
import { isFileCommand, runFileCommand } from '../file-commands.js'
import { pendingMessages } from '../files.js'
import { chatNote, standingOf } from '../people.js'
import { cellWidth, fit } from '../format.js'
import { profileTarget, selectedRequest } from '../state.js'
import { useChat } from '../use-chat.js'
import { useTerminalSize } from '../use-terminal-size.js'
import type { ChatPort } from '../port.js'

/** How long a notice stays on the status line. */
export const NOTICE_MS = 6_000

export interface AppProps {
  /** The client core (or a fake in tests). */
  port: ChatPort
  /** `/logout`: log this device out; the app exits afterwards. */
  onLogout?: () => Promise<void>
}

/** The chat screen: conversations on the left, the open chat on the right, composer and status below. */
export function App ({ port, onLogout }: AppProps): React.JSX.Element {
  const { exit } = useApp()
  const { columns, rows } = useTerminalSize()
  const [state, act] = useChat(port)
  const [draft, setDraft] = useState('')
  // how far the help is scrolled; it opens at the top
  const [helpScroll, setHelpScroll] = useState(0)
  useEffect(() => { if (state.overlay === 'help') setHelpScroll(0) }, [state.overlay])

  // a notice stays a few seconds, then the status line is calm again
  useEffect(() => {
    if (state.notice == null) return
    const timer = setTimeout(() => { act.dispatch({ type: 'notice', notice: null }) }, NOTICE_MS)
    return () => { clearTimeout(timer) }
  }, [state.notice])

  const listWidth = Math.max(14, Math.min(28, Math.floor(columns / 4)))
  // the profile sits beside the chat when there is room, else it takes the chat's place
  const profileAside = state.profile.open && columns >= PROFILE_PANE_MIN_COLUMNS
  const profileOver = state.profile.open && !profileAside && state.overlay == null
  const profileWidth = profileAside ? Math.max(24, Math.min(36, Math.floor(columns / 4))) : 0
  const chatWidth = Math.max(20, columns - listWidth - profileWidth)
  const paneHeight = Math.max(3, rows - 2 - 3 - 1)
  const overlayHeight = paneHeight + 2
  const profileUser = profileTarget(state)
  const openRequest = selectedRequest(state)
  // a direct chat that is not open to messages says why, and what to do, in the composer
  const dm = state.selected != null && !state.selected.startsWith('#') ? state.selected : null
  const note = dm == null ? null : chatNote(state.me, dm, standingOf(state.me, state.requests, state.chats, dm))
  const prompt = state.selected == null ? '› ' : `${state.selected} › `
  const dimmed = new Set(Object.values(state.chats).filter(c => c.state !== 'accepted').map(c => c.user))
  const selectedEntry = state.conversations.find(c => c.target === state.selected)
  const loaded = state.selected == null ? [] : (state.messages[state.selected] ?? [])
  // a `/send` still being hashed shows as a card after what is loaded, until its offer comes
  const shown = state.selected == null ? loaded : [...loaded, ...pendingMessages(state.me, state.selected, state.sends)]
  const scroll = state.selected == null ? 0 : (state.scroll[state.selected] ?? 0)
  const pageStep = Math.max(1, Math.floor(paneHeight / 3))

  const submit = (line: string): void => {
    const text = line.trim()
    setDraft('')
    if (text === '') return
    const slash = parseSlash(text)
    if (slash == null) {
      act.send(text)
      return
    }
    if ('error' in slash) {
      act.dispatch({ type: 'notice', notice: { text: slash.error, kind: 'error' } })
      return
    }
    if (isPeopleCommand(slash)) {
      runPeopleCommand(slash, { port, state, act })
      return
    }
    if (isFileCommand(slash)) {
      runFileCommand(slash, { port, state, act })
      return
    }
    switch (slash.cmd) {
      case 'quit': exit(); return
      case 'help': act.dispatch({ type: 'overlay', overlay: 'help' }); return
      case 'users': act.showUsers(); return
      case 'read': act.markRead(); return
      case 'ping': {
        if (port.ping == null) return
        const who = slash.user ?? (state.selected != null && !state.selected.startsWith('#') ? state.selected : undefined)
        port.ping(who).then(
          results => { act.dispatch({ type: 'notice', notice: { text: results.map(r => `${r.target}: ${r.rttMs.toFixed(1)} ms, ${r.path}`).join(' · '), kind: 'info' } }) },
          err => { act.dispatch({ type: 'notice', notice: { text: (err as Error).message, kind: 'error' } }) })
        return
      }
      case 'msg':
        act.select(slash.user)
        if (slash.text != null) port.send(slash.user, slash.text).catch(err => { act.dispatch({ type: 'notice', notice: { text: (err as Error).message, kind: 'error' } }) })
        return
      case 'logout':
        if (onLogout == null) { exit(); return }
        onLogout().then(() => { exit() }, err => { act.dispatch({ type: 'notice', notice: { text: (err as Error).message, kind: 'error' } }) })
    }
  }

  useInput((input, key) => {
    if (state.overlay != null && (key.escape || key.return)) {
      act.dispatch({ type: 'overlay', overlay: null })
      return
    }
    if (state.overlay === 'help' && (key.upArrow || key.downArrow || key.pageUp || key.pageDown)) {
      const step = key.pageUp || key.pageDown ? Math.max(1, Math.floor(overlayHeight / 2)) : 1
      const max = helpMaxScroll(columns, overlayHeight)
      setHelpScroll(s => Math.max(0, Math.min(max, Math.min(s, max) + (key.upArrow || key.pageUp ? -step : step))))
      return
    }
    if (profileOver && (key.escape || key.return)) {
      act.dispatch({ type: 'profile-pane', pane: { open: false, user: null } })
      return
    }
    const command = commandFor(input, key, state.focus, openRequest != null ? 'request' : 'other')
    switch (command) {
      case 'quit': exit(); return
      case 'next-conversation': act.move(1); return
      case 'prev-conversation': act.move(-1); return
      case 'open':
        if (state.selected != null) act.select(state.selected, state.onRequest)
        act.dispatch({ type: 'focus', focus: 'composer' })
        return
      case 'enter-input':
        act.dispatch({ type: 'focus', focus: 'composer' })
        if (input !== 'i') setDraft(d => d + input)
        return
      case 'leave-input': act.dispatch({ type: 'focus', focus: 'list' }); return
      case 'accept-request':
      case 'decline-request':
        if (openRequest != null) runPeopleCommand({ cmd: command === 'accept-request' ? 'accept' : 'decline', user: openRequest.user }, { port, state, act })
        return
      case 'page-up':
        act.scroll(pageStep)
        // older pages load as the view nears the top of what is loaded
        if (scroll + pageStep * 2 >= loaded.length) act.loadOlder()
        return
      case 'page-down':
        act.scroll(-pageStep)
        if (state.selected != null && state.detached[state.selected] === true && scroll - pageStep <= 0) act.loadLatest()
    }
  })

  const profile = (width: number): React.JSX.Element => (
    <ProfilePane user={profileUser} profile={state.profiles[profileUser]} me={state.me} online={state.presence[profileUser] ?? null} lastSeen={state.users.find(u => u.user === profileUser)?.lastSeen ?? state.contacts.find(c => c.user === profileUser)?.lastSeen} width={width} height={paneHeight} over={profileOver} />
  )
  // what fills the screen above the composer: an overlay, or the list, the chat and the profile
  const main = (): React.JSX.Element => {
    switch (state.overlay) {
      case 'help': return <HelpOverlay width={columns} height={overlayHeight} scroll={helpScroll} />
      case 'users': return <UsersOverlay users={state.users} me={state.me} width={columns} />
      case 'contacts': return <ContactsOverlay contacts={state.contacts} width={columns} height={overlayHeight} />
      case 'members':
        if (state.members != null) return <MembersOverlay room={state.members.room} members={state.members.list} width={columns} height={overlayHeight} />
        break
      case 'files': return <FilesOverlay files={Object.values(state.files)} sends={Object.values(state.sends)} width={columns} height={overlayHeight} />
    }
    if (profileOver) return profile(columns)
    return (
      <Box>
        <ConversationList conversations={state.conversations} selected={state.onRequest ? null : state.selected} focused={state.focus === 'list'} width={listWidth} height={paneHeight} requests={state.requests} selectedRequest={state.onRequest ? state.selected : null} dimmed={dimmed} />
        <ChatView target={state.selected} messages={shown} me={state.me} online={selectedEntry?.online ?? (dm == null ? null : state.presence[dm] ?? null)} scroll={scroll} hasMore={state.selected != null && state.hasMore[state.selected] === true} width={chatWidth} height={paneHeight} files={state.files} sends={state.sends} />
        {profileAside && profile(profileWidth)}
      </Box>
    )
  }

  return (
    <Box flexDirection='column' width={columns} height={rows}>
      {main()}
      <Box borderStyle='round' borderColor={state.focus === 'composer' ? (note == null ? 'cyan' : 'yellow') : 'gray'} width={columns} paddingX={1}>
        <Text color={note == null ? 'cyan' : 'yellow'}>{prompt}</Text>
        <LineInput value={draft} onChange={setDraft} onSubmit={submit} focus={state.focus === 'composer' && state.overlay == null && !profileOver} placeholder={note == null ? 'type a message, /help for commands' : fit(note, Math.max(1, columns - 4 - cellWidth(prompt) - 1))} />
      </Box>
      <StatusLine connection={state.connection} me={state.me} notice={state.notice} width={columns} />
    </Box>
  )
}
