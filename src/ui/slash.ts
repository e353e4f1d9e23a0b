/** Slash commands typed in the composer: parsed here (pure), carried out by the app. */
import { isUsername, USERNAME_RULE } from '../protocol/index.js'

export type SlashCommand =
  | { cmd: 'msg', user: string, text?: string }
  | { cmd: 'users' }
  | { cmd: 'logout' }
  | { cmd: 'quit' }
  | { cmd: 'help' }
  | { cmd: 'read' }
  | { cmd: 'ping', user?: string }

export type SlashResult = SlashCommand | { error: string }

export const SLASH_HELP: ReadonlyArray<[string, string]> = [
  ['/msg <user> [text]', 'open a chat with a user (and send text)'],
  ['/users', 'everyone registered, with presence'],
  ['/read', 'mark the open conversation read'],
  ['/ping [user]', 'round trip to the server or a person, direct or relayed'],
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
