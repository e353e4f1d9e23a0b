import { withDevice } from '../device.js'
import { gossipFrom } from '../options.js'
import { formatAgo, printJson, printLine } from '../output.js'
import type { GlobalArgs } from '../options.js'
import type { CommandModule } from 'yargs'

export const conversations: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'conversations',
  describe: 'Every conversation, newest activity first, with unread counts and presence',
  handler: async argv => {
    const list = await withDevice({ home: argv.home, gossip: gossipFrom(argv), catchUp: true }, async api => await api.conversations())
    if (argv.json) {
      printJson(list)
      return
    }
    if (list.length === 0) {
      printLine('no conversations yet')
      return
    }
    const width = Math.max(...list.map(c => c.target.length))
    for (const c of list) {
      const mark = c.online == null ? ' ' : c.online ? '●' : '○'
      const unread = c.unread > 0 ? ` (${c.unread} unread)` : ''
      const preview = c.lastText.replace(/\s+/g, ' ').slice(0, 50)
      printLine(`${mark} ${c.target.padEnd(width)}  ${formatAgo(c.lastActivity)}${unread}  ${c.lastAuthor}: ${preview}`)
    }
  }
}
