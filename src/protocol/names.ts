import { InvalidInputError, MeshchatError } from './errors.js'
import { MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH } from './constants.js'

/** Usernames: 3 to 32 characters, lowercase letters, digits, `_` and `-`, starting with a letter. */
export const USERNAME_RULE = '3-32 characters: lowercase letters, digits, "_" or "-", starting with a letter'
const USERNAME_RE = /^[a-z][a-z0-9_-]{2,31}$/

/** Room names follow the username rule; they are written `#name`. */
export const ROOM_RULE = USERNAME_RULE
const ROOM_RE = USERNAME_RE

export function isUsername (name: string): boolean {
  return USERNAME_RE.test(name)
}

export function checkUsername (name: string): string {
  if (!isUsername(name)) {
    throw new InvalidInputError(`invalid username "${printable(name)}": ${USERNAME_RULE}`)
  }
  return name
}

export function isRoomName (name: string): boolean {
  return ROOM_RE.test(name)
}

/** Checks a room name (with or without its leading `#`) and returns it without the `#`. */
export function checkRoomName (name: string): string {
  const bare = name.startsWith('#') ? name.slice(1) : name
  if (!isRoomName(bare)) {
    throw new InvalidInputError(`invalid room name "${printable(name)}": ${ROOM_RULE}`)
  }
  return bare
}

export function checkPassword (password: string): string {
  if (password.length < MIN_PASSWORD_LENGTH || password.length > MAX_PASSWORD_LENGTH) {
    throw new InvalidInputError(`password must be ${MIN_PASSWORD_LENGTH} to ${MAX_PASSWORD_LENGTH} characters`)
  }
  return password
}

/** The conversation id of a direct chat: the two usernames, sorted, so both sides agree. */
export function dmConversation (a: string, b: string): string {
  return a < b ? `dm:${a}:${b}` : `dm:${b}:${a}`
}

export function roomConversation (room: string): string {
  return `room:${room}`
}

/** The conversation of an account's own records (contacts, profile), seen only by its devices. */
export function selfConversation (user: string): string {
  return `self:${user}`
}

/** The other person of a direct chat `dm:a:b`, from `me`'s side (undefined if `me` is not in it). */
export function peerOf (conv: string, me: string): string | undefined {
  const [kind, a, b] = conv.split(':')
  if (kind !== 'dm') return undefined
  if (a === me) return b
  if (b === me) return a
  return undefined
}

export type Target = { kind: 'user', user: string } | { kind: 'room', room: string }

/** Parses a send target: `bob` is a user, `#global` a room. */
export function parseTarget (to: string): Target {
  if (to.startsWith('#')) {
    const room = to.slice(1)
    if (!isRoomName(room)) {
      throw new InvalidInputError(`invalid room "${printable(to)}": # followed by ${ROOM_RULE}`)
    }
    return { kind: 'room', room }
  }
  return { kind: 'user', user: checkUsername(to) }
}

/** Cuts and escapes a value from outside before it goes into an error line. */
export function printable (value: string, max = 40): string {
  // C0 and C1 controls and bidi overrides could drive or disguise the terminal
  // eslint-disable-next-line no-control-regex
  const chars = Array.from(value.replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, '?'))
  return chars.length > max ? `${chars.slice(0, max).join('')}…` : chars.join('')
}

export { MeshchatError }
