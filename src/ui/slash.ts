/** Slash commands typed in the composer: parsed here (pure), carried out by the app. */
import { isRoomName, isUsername, ROOM_RULE, USERNAME_RULE } from '../protocol/index.js'

export type SlashCommand =
  | { cmd: 'msg', user: string, text?: string }
  | { cmd: 'users' }
  | { cmd: 'logout' }
  | { cmd: 'quit' }
  | { cmd: 'help' }
  | { cmd: 'read' }
  | { cmd: 'ping', user?: string }
  // issue 8: chat requests, contacts, profiles, rooms (rooms without their `#`)
  | { cmd: 'request', user: string, text?: string }
  | { cmd: 'accept' | 'decline' | 'close', user?: string }
  | { cmd: 'contacts' }
  | { cmd: 'contact-add' | 'contact-remove', user: string }
  | { cmd: 'profile', user?: string }
  | { cmd: 'profile-set', field: ProfileField, text: string }
  | { cmd: 'join', room: string }
  | { cmd: 'leave', room?: string }
  | { cmd: 'invite', user: string, room?: string }
  | { cmd: 'room-create', room: string, private: boolean }
  | { cmd: 'room-members', room?: string }
  | { cmd: 'room-remove', user: string, room?: string }
  // issue 9: files (`path` as typed: `~` is expanded where it runs)
  | { cmd: 'send', path: string }
  /** `relay`: the person agrees that the bytes go over a relayed connection (small relays). */
  | { cmd: 'get', id?: string, relay?: boolean }
  | { cmd: 'files' }

export type ProfileField = 'name' | 'status' | 'about'

export type SlashResult = SlashCommand | { error: string }

export const SLASH_HELP: ReadonlyArray<[string, string]> = [
  ['/msg <user> [text]', 'open a chat with a user (and send text)'],
  ['/users', 'everyone registered, with presence'],
  ['/read', 'mark the open conversation read'],
  ['/ping [user]', 'round trip to the server or a person, direct or relayed'],
  ['/request <user> [text]', 'ask a person to chat (with a first line)'],
  ['/accept [user]', 'accept a chat request (the selected one)'],
  ['/decline [user]', 'decline a chat request (the selected one)'],
  ['/close [user]', 'close a direct chat (the open one)'],
  ['/contacts', 'your contacts, with presence and name'],
  ['/contacts add|remove <user>', 'add or remove a contact'],
  ['/profile [user]', 'show or hide the profile pane'],
  ['/profile set name|status|about <text>', 'change your profile'],
  ['/join <room>', 'join a room'],
  ['/leave [room]', 'leave a room (the open one)'],
  ['/invite <user> [room]', 'invite a person to a room (the open one)'],
  ['/room create <name> [--private]', 'make a room'],
  ['/room members [room]', 'who is in a room (the open one)'],
  ['/room remove <user> [room]', 'remove a person from your private room'],
  ['/send <path>', 'offer a file to the open conversation (in the background)'],
  ['/get [file-id]', 'fetch the newest file offered here (or that one)'],
  ['/get --relay [file-id]', 'fetch it even over a relayed connection'],
  ['/files', 'file offers and transfers, with their state'],
  ['/logout', 'log this device out and quit'],
  ['/help', 'this help'],
  ['/quit', 'quit']
]

/** Parses a line starting with `/`; anything else is not a command (returns undefined). */
export function parseSlash (line: string): SlashResult | undefined {
  if (!line.startsWith('/')) return undefined
  const [name = '', ...rest] = line.slice(1).trim().split(/\s+/)
  switch (name) {
    case 'msg': {
      const user = rest[0]
      if (user == null) return { error: 'usage: /msg <user> [text]' }
      if (!isUsername(user)) return { error: `invalid username "${user.slice(0, 40)}": ${USERNAME_RULE}` }
      const text = line.slice(1).trim().slice('msg'.length).trim().slice(user.length).trim()
      return text === '' ? { cmd: 'msg', user } : { cmd: 'msg', user, text }
    }
    case 'ping': {
      const user = rest[0]
      if (rest.length > 1) return { error: 'usage: /ping [user]' }
      if (user == null) return { cmd: 'ping' }
      if (!isUsername(user)) return { error: `invalid username "${user.slice(0, 40)}": ${USERNAME_RULE}` }
      return { cmd: 'ping', user }
    }
    case 'request': {
      const user = rest[0]
      if (user == null) return { error: 'usage: /request <user> [text]' }
      if (!isUsername(user)) return badUser(user)
      const text = after(line, 2)
      return text === '' ? { cmd: 'request', user } : { cmd: 'request', user, text }
    }
    case 'accept':
    case 'decline':
    case 'close': {
      if (rest.length > 1) return { error: `usage: /${name} [user]` }
      const user = rest[0]
      if (user == null) return { cmd: name }
      if (!isUsername(user)) return badUser(user)
      return { cmd: name, user }
    }
    case 'contacts': {
      const [op, user, ...more] = rest
      if (op == null) return { cmd: 'contacts' }
      if ((op !== 'add' && op !== 'remove') || user == null || more.length > 0) return { error: 'usage: /contacts, or /contacts add|remove <user>' }
      if (!isUsername(user)) return badUser(user)
      return { cmd: op === 'add' ? 'contact-add' : 'contact-remove', user }
    }
    case 'profile': {
      const [first, field] = rest
      if (first === 'set') {
        if (field !== 'name' && field !== 'status' && field !== 'about') return { error: 'usage: /profile set name|status|about <text>' }
        // an empty text clears the field
        return { cmd: 'profile-set', field, text: after(line, 3) }
      }
      if (rest.length > 1) return { error: 'usage: /profile [user], or /profile set name|status|about <text>' }
      if (first == null) return { cmd: 'profile' }
      if (!isUsername(first)) return badUser(first)
      return { cmd: 'profile', user: first }
    }
    case 'join': {
      if (rest.length !== 1) return { error: 'usage: /join <room>' }
      return roomOr(rest[0]!, room => ({ cmd: 'join', room }))
    }
    case 'leave': {
      if (rest.length > 1) return { error: 'usage: /leave [room]' }
      if (rest[0] == null) return { cmd: 'leave' }
      return roomOr(rest[0], room => ({ cmd: 'leave', room }))
    }
    case 'invite': {
      const [user, room, ...more] = rest
      if (user == null || more.length > 0) return { error: 'usage: /invite <user> [room]' }
      if (!isUsername(user)) return badUser(user)
      if (room == null) return { cmd: 'invite', user }
      return roomOr(room, r => ({ cmd: 'invite', user, room: r }))
    }
    case 'room': {
      const [op, ...args] = rest
      if (op === 'create') {
        const flags = args.filter(a => a.startsWith('--'))
        const names = args.filter(a => !a.startsWith('--'))
        if (names.length !== 1 || flags.some(f => f !== '--private')) return { error: 'usage: /room create <name> [--private]' }
        return roomOr(names[0]!, room => ({ cmd: 'room-create', room, private: flags.length > 0 }))
      }
      if (op === 'members') {
        if (args.length > 1) return { error: 'usage: /room members [room]' }
        if (args[0] == null) return { cmd: 'room-members' }
        return roomOr(args[0], room => ({ cmd: 'room-members', room }))
      }
      if (op === 'remove') {
        const [user, room, ...more] = args
        if (user == null || more.length > 0) return { error: 'usage: /room remove <user> [room]' }
        if (!isUsername(user)) return badUser(user)
        if (room == null) return { cmd: 'room-remove', user }
        return roomOr(room, r => ({ cmd: 'room-remove', user, room: r }))
      }
      return { error: 'usage: /room create <name> [--private], /room members [room], or /room remove <user> [room]' }
    }
    case 'send': {
      const path = pathArgument(line.slice(1).trim().slice('send'.length))
      if ('error' in path) return path
      return { cmd: 'send', path: path.path }
    }
    case 'get': {
      const relay = rest.includes('--relay') ? { relay: true } : {}
      const args = rest.filter(a => a !== '--relay')
      if (args.length > 1 || args.some(a => a.startsWith('--'))) return { error: 'usage: /get [--relay] [file-id]' }
      const id = args[0]
      if (id == null) return { cmd: 'get', ...relay }
      if (!/^[0-9a-f]{6,64}$/i.test(id)) return { error: `"${id.slice(0, 40)}" is not a file id (/files lists them)` }
      return { cmd: 'get', id: id.toLowerCase(), ...relay }
    }
    case 'files':
    case 'users':
    case 'logout':
    case 'quit':
    case 'help':
    case 'read':
      if (rest.length > 0) return { error: `/${name} takes no arguments` }
      return { cmd: name }
    case '':
      return { error: 'type a command after /, e.g. /help' }
    default:
      return { error: `unknown command /${name.slice(0, 20)}; /help lists them` }
  }
}

function badUser (user: string): { error: string } {
  return { error: `invalid username "${user.slice(0, 40)}": ${USERNAME_RULE}` }
}

/** A room name as typed (`#x` or `x`), checked, without its `#`. */
function roomOr (typed: string, ok: (room: string) => SlashCommand): SlashResult {
  const room = typed.startsWith('#') ? typed.slice(1) : typed
  if (!isRoomName(room)) return { error: `invalid room name "${typed.slice(0, 40)}": ${ROOM_RULE}` }
  return ok(room)
}

/**
 * The one path after `/send`: as typed when it has no quotes or backslashes (spaces and all),
 * else read as a shell would: "double" or 'single' quotes, a backslash keeps the next character.
 */
export function pathArgument (text: string): { path: string } | { error: string } {
  const usage = { error: 'usage: /send <path> (quote a path with spaces: /send "my file.txt")' }
  const typed = text.trim()
  if (typed === '') return usage
  if (!/["'\\]/.test(typed)) return { path: typed }
  const words: string[] = []
  let word: string | null = null
  let quote: '"' | "'" | null = null
  for (let i = 0; i < typed.length; i++) {
    const ch = typed[i]!
    if (quote === "'") {
      if (ch === "'") quote = null
      else word = (word ?? '') + ch
    } else if (ch === '\\' && i + 1 < typed.length && (quote == null || '"\\$`'.includes(typed[i + 1]!))) {
      word = (word ?? '') + typed[++i]!
    } else if (quote === '"') {
      if (ch === '"') quote = null
      else word = (word ?? '') + ch
    } else if (ch === '"' || ch === "'") {
      quote = ch
      word ??= ''
    } else if (/\s/.test(ch)) {
      if (word != null) words.push(word)
      word = null
    } else {
      word = (word ?? '') + ch
    }
  }
  if (quote != null) return { error: `/send: the path has an unclosed ${quote}` }
  if (word != null) words.push(word)
  if (words.length !== 1 || words[0] === '') return usage
  return { path: words[0]! }
}

/** The text after the command and its first `words - 1` arguments, inner spaces as typed. */
function after (line: string, words: number): string {
  let s = line.slice(1).trim()
  for (let i = 0; i < words; i++) s = s.replace(/^\S+\s*/, '')
  return s.trim()
}
