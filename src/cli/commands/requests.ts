/**
 * Chat requests (issue 8): a direct chat opens only once the other person accepts.
 * `request`, `requests`, `accept`, `decline` and `close`.
 */
import { withDevice } from '../device.js'
import { gossipFrom } from '../options.js'
import { formatAgo, printJson, printLine, printableLine } from '../output.js'
import type { ChatRequest, ChatState, DeviceApi } from '../../client/index.js'
import type { GlobalArgs } from '../options.js'
import type { Argv, CommandModule } from 'yargs'

interface UserArgs extends GlobalArgs {
  user: string
}

interface RequestArgs extends UserArgs {
  text?: string[]
}

/** One line on where a chat stands, from this account's side (`by` is the other person or this account). */
export function describeChat (chat: ChatState): string {
  const peer = chat.user
  const theirs = chat.by === peer
  switch (chat.state) {
    case 'none': return `no chat with ${peer}`
    case 'pending': return theirs
      ? `${peer} asks to chat${chat.text == null ? '' : `: ${printableLine(chat.text)}`} (meshchat accept ${peer} | decline ${peer})`
      : `asked ${peer} to chat; they see a request until they accept it`
    case 'accepted': return `you and ${peer} can chat`
    case 'declined': return theirs ? `${peer} declined your chat request` : `declined ${peer}'s chat request`
    case 'closed': return theirs
      ? `${peer} closed the chat; neither of you can write until a new request is accepted`
      : `closed the chat with ${peer}; neither of you can write until a new request is accepted`
  }
}

const userArg = <T>(y: Argv<T>): Argv<T> => y.positional('user', { type: 'string', demandOption: true, describe: 'A username' })

/** The chat commands share one shape: one user in, the chat's new state out. */
function chatCommand (command: string, describe: string, run: (api: DeviceApi, user: string) => Promise<ChatState>): CommandModule<GlobalArgs, UserArgs> {
  return {
    command: `${command} <user>`,
    describe,
    builder: y => userArg(y) as any,
    handler: async argv => {
      const chat = await withDevice({ home: argv.home, gossip: gossipFrom(argv), catchUp: 'strict' }, async api => await run(api, String(argv.user)))
      if (argv.json) printJson(chat)
      else printLine(describeChat(chat))
    }
  }
}

export const request: CommandModule<GlobalArgs, RequestArgs> = {
  command: 'request <user> [text...]',
  describe: 'Ask <user> to chat, with an optional first line; they see a request until they accept',
  builder: y => userArg(y)
    .positional('text', { type: 'string', array: true, describe: 'A first line they see with the request' }) as any,
  handler: async argv => {
    const text = argv.text == null || argv.text.length === 0 ? undefined : argv.text.map(String).join(' ')
    const chat = await withDevice({ home: argv.home, gossip: gossipFrom(argv), catchUp: 'strict' }, async api => await api.request(String(argv.user), text))
    if (argv.json) printJson(chat)
    else printLine(describeChat(chat))
  }
}

export const requests: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'requests',
  describe: 'Pending chat requests, incoming and outgoing, newest first',
  handler: async argv => {
    const list = await withDevice({ home: argv.home, gossip: gossipFrom(argv), catchUp: true }, async api => await api.requests())
    if (argv.json) {
      printJson(list)
      return
    }
    if (list.length === 0) {
      printLine('no pending chat requests')
      return
    }
    for (const line of requestLines(list)) printLine(line)
  }
}

/** `incoming  bob    2 min ago  hi, it's alice` in aligned columns. */
export function requestLines (list: ChatRequest[], now = Date.now()): string[] {
  const userWidth = Math.max(...list.map(r => r.user.length))
  const ages = list.map(r => formatAgo(r.at, now))
  const ageWidth = Math.max(...ages.map(a => a.length))
  return list.map((r, i) => {
    const text = r.text == null ? '' : `  ${printableLine(r.text)}`
    return `${r.direction.padEnd(8)}  ${r.user.padEnd(userWidth)}  ${ages[i]!.padEnd(ageWidth)}${text}`.trimEnd()
  })
}

export const accept = chatCommand('accept', 'Accept <user>\'s chat request: both of you can write', async (api, user) => await api.accept(user))
export const decline = chatCommand('decline', 'Decline <user>\'s chat request (they may ask again)', async (api, user) => await api.decline(user))
export const close = chatCommand('close', 'End the chat with <user> (or withdraw your request): neither side writes until a new request is accepted; history stays', async (api, user) => await api.closeChat(user))
