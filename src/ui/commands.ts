/**
 * Carrying out the slash commands of issue 8 (chat requests, contacts, profiles, rooms) and the
 * request keys: each calls the client core in the background and reports back as actions; a
 * failure is the one-line error on the status line.
 */
import { selectedRequest } from './state.js'
import type { ChatPort, DirectChat } from './port.js'
import type { SlashCommand } from './slash.js'
import type { ChatState } from './state.js'
import type { ChatIntents } from './use-chat.js'

export type PeopleCommand = Extract<SlashCommand, { cmd: 'request' | 'accept' | 'decline' | 'close' | 'contacts' | 'contact-add' | 'contact-remove' | 'profile' | 'profile-set' | 'join' | 'leave' | 'invite' | 'room-create' | 'room-members' | 'room-remove' }>

export const PEOPLE_COMMANDS: ReadonlySet<string> = new Set<PeopleCommand['cmd']>(['request', 'accept', 'decline', 'close', 'contacts', 'contact-add', 'contact-remove', 'profile', 'profile-set', 'join', 'leave', 'invite', 'room-create', 'room-members', 'room-remove'])

export function isPeopleCommand (c: SlashCommand): c is PeopleCommand {
  return PEOPLE_COMMANDS.has(c.cmd)
}

/** Asserts the port has the method (a fake may not), else an error saying this client cannot do it. */
function need<K extends keyof ChatPort> (port: ChatPort, method: K, what: string): asserts port is ChatPort & Required<Pick<ChatPort, K>> {
  if (port[method] == null) throw new Error(`this client cannot ${what}`)
}

/** The request a bare `/accept` or `/decline` (or the key) answers: the open chat's, else the only one. */
function requestUser (state: ChatState): string | undefined {
  const open = selectedRequest(state)
  if (open != null) return open.user
  const incoming = state.requests.filter(r => r.direction === 'incoming')
  return incoming.length === 1 ? incoming[0]!.user : undefined
}

/** The room a command without one acts on: the open one. */
function openRoom (state: ChatState): string | undefined {
  return state.selected?.startsWith('#') === true ? state.selected.slice(1) : undefined
}

export interface CommandContext {
  port: ChatPort
  /** The latest state (read when the command runs). */
  state: ChatState
  act: ChatIntents
}

export function runPeopleCommand (c: PeopleCommand, { port, state, act }: CommandContext): void {
  const info = (text: string): void => { act.dispatch({ type: 'notice', notice: { text, kind: 'info' } }) }
  const chat = (done: (chat: DirectChat) => string) => (result: DirectChat): void => {
    act.dispatch({ type: 'chat', chat: result })
    info(done(result))
  }
  try {
    switch (c.cmd) {
      case 'request': {
        need(port, 'request', 'ask to chat')
        port.request(c.user, c.text).then(chat(r => r.state === 'accepted' ? `you and ${c.user} can chat now` : `asked ${c.user} to chat; waiting for an answer`), act.fail)
        return
      }
      case 'accept':
      case 'decline': {
        const user = c.user ?? requestUser(state)
        if (user == null) throw new Error(`no chat request to ${c.cmd} here: /${c.cmd} <user>`)
        need(port, c.cmd, 'answer chat requests')
        const answer = c.cmd === 'accept' ? port.accept(user) : port.decline(user)
        answer.then(chat(() => c.cmd === 'accept' ? `you and ${user} can chat now` : `declined ${user}'s chat request`), act.fail)
        return
      }
      case 'close': {
        const user = c.user ?? (state.selected != null && !state.selected.startsWith('#') ? state.selected : undefined)
        if (user == null) throw new Error('/close closes a direct chat: open one, or /close <user> (to leave a room: /leave)')
        need(port, 'closeChat', 'close chats')
        port.closeChat(user).then(chat(() => `closed the chat with ${user}`), act.fail)
        return
      }
      case 'contacts':
        act.showContacts()
        return
      case 'contact-add':
        need(port, 'addContact', 'change contacts')
        port.addContact(c.user).then(() => {
          info(`${c.user} is in your contacts now`)
          port.contacts?.().then(list => { act.dispatch({ type: 'contacts', list }) }).catch(() => {})
        }, act.fail)
        return
      case 'contact-remove':
        need(port, 'removeContact', 'change contacts')
        port.removeContact(c.user).then(() => {
          act.dispatch({ type: 'contact-removed', user: c.user })
          info(`${c.user} is no longer in your contacts`)
        }, act.fail)
        return
      case 'profile': {
        const pane = state.profile
        const same = pane.open && (c.user == null || pane.user === c.user)
        act.dispatch({ type: 'profile-pane', pane: same ? { open: false, user: null } : { open: true, user: c.user ?? null } })
        return
      }
      case 'profile-set':
        need(port, 'setProfile', 'change profiles')
        port.setProfile({ [c.field]: c.text }).then(profile => {
          act.dispatch({ type: 'profile', profile })
          info(c.text === '' ? `your ${c.field} is cleared` : `your ${c.field} is updated`)
        }, act.fail)
        return
      case 'join':
        need(port, 'joinRoom', 'use rooms')
        port.joinRoom(c.room).then(room => {
          act.room(room)
          act.select(`#${room.room}`)
          info(`joined #${room.room}`)
        }, act.fail)
        return
      case 'leave': {
        const name = c.room ?? openRoom(state)
        if (name == null) throw new Error('/leave leaves a room: open one, or /leave <room>')
        need(port, 'leaveRoom', 'use rooms')
        port.leaveRoom(name).then(room => {
          act.room(room)
          info(`left #${room.room}`)
        }, act.fail)
        return
      }
      case 'invite': {
        const name = c.room ?? openRoom(state)
        if (name == null) throw new Error('/invite needs a room: open one, or /invite <user> <room>')
        need(port, 'invite', 'use rooms')
        port.invite(name, c.user).then(room => {
          act.room(room)
          info(`invited ${c.user} to #${room.room}`)
        }, act.fail)
        return
      }
      case 'room-remove': {
        const name = c.room ?? openRoom(state)
        if (name == null) throw new Error('/room remove needs a room: open one, or /room remove <user> <room>')
        need(port, 'removeMember', 'remove people from rooms')
        port.removeMember(name, c.user).then(room => {
          act.room(room)
          info(`removed ${c.user} from #${room.room}`)
        }, act.fail)
        return
      }
      case 'room-create':
        need(port, 'createRoom', 'use rooms')
        port.createRoom(c.room, { private: c.private }).then(room => {
          act.room(room)
          act.select(`#${room.room}`)
          info(`created ${room.private ? 'the private room ' : ''}#${room.room}`)
        }, act.fail)
        return
      case 'room-members': {
        const name = c.room ?? openRoom(state)
        if (name == null) throw new Error('/room members needs a room: open one, or /room members <room>')
        need(port, 'members', 'use rooms')
        port.members(name).then(list => { act.dispatch({ type: 'members', room: name, list }) }, act.fail)
      }
    }
  } catch (err) {
    act.fail(err)
  }
}
