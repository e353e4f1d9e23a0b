import { useEffect, useState } from 'react'
import { Box, Text, useApp, useInput } from 'ink'
import { ConversationList } from './ConversationList.js'
import { ChatView } from './ChatView.js'
import { StatusLine } from './StatusLine.js'
import { HelpOverlay, UsersOverlay } from './Overlays.js'
import { LineInput } from './LineInput.js'
import { commandFor } from '../keys.js'
import { parseSlash } from '../slash.js'
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

  // a notice stays a few seconds, then the status line is calm again
  useEffect(() => {
    if (state.notice == null) return
    const timer = setTimeout(() => { act.dispatch({ type: 'notice', notice: null }) }, NOTICE_MS)
    return () => { clearTimeout(timer) }
  }, [state.notice])

  const listWidth = Math.max(14, Math.min(28, Math.floor(columns / 4)))
  const chatWidth = Math.max(20, columns - listWidth)
  const paneHeight = Math.max(3, rows - 2 - 3 - 1)
  const selectedEntry = state.conversations.find(c => c.target === state.selected)
  const loaded = state.selected == null ? [] : (state.messages[state.selected] ?? [])
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
    const command = commandFor(input, key, state.focus)
    switch (command) {
      case 'quit': exit(); return
      case 'next-conversation': act.move(1); return
      case 'prev-conversation': act.move(-1); return
      case 'open':
        if (state.selected != null) act.select(state.selected)
        act.dispatch({ type: 'focus', focus: 'composer' })
        return
      case 'enter-input':
        act.dispatch({ type: 'focus', focus: 'composer' })
        if (input !== 'i') setDraft(d => d + input)
        return
      case 'leave-input': act.dispatch({ type: 'focus', focus: 'list' }); return
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

  return (
    <Box flexDirection='column' width={columns} height={rows}>
      {state.overlay === 'help'
        ? <HelpOverlay width={columns} />
        : state.overlay === 'users'
          ? <UsersOverlay users={state.users} me={state.me} width={columns} />
          : (
            <Box>
              <ConversationList conversations={state.conversations} selected={state.selected} focused={state.focus === 'list'} width={listWidth} height={paneHeight} />
              <ChatView target={state.selected} messages={loaded} me={state.me} online={selectedEntry?.online ?? null} scroll={scroll} hasMore={state.selected != null && state.hasMore[state.selected] === true} width={chatWidth} height={paneHeight} />
            </Box>
            )}
      <Box borderStyle='round' borderColor={state.focus === 'composer' ? 'cyan' : 'gray'} width={columns} paddingX={1}>
        <Text color='cyan'>{state.selected == null ? '› ' : `${state.selected} › `}</Text>
        <LineInput value={draft} onChange={setDraft} onSubmit={submit} focus={state.focus === 'composer' && state.overlay == null} placeholder='type a message, /help for commands' />
      </Box>
      <StatusLine connection={state.connection} me={state.me} notice={state.notice} width={columns} />
    </Box>
  )
}
