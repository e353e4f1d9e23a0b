import { withDevice } from '../device.js'
import { gossipFrom } from '../options.js'
import { printJson, printLine } from '../output.js'
import type { GlobalArgs } from '../options.js'
import type { CommandModule } from 'yargs'

interface UnreadArgs extends GlobalArgs {
  target?: string
}

export const unread: CommandModule<GlobalArgs, UnreadArgs> = {
  command: 'unread [target]',
  describe: 'Unread counts, per conversation or for one user or #room',
  builder: y => y.positional('target', { type: 'string', describe: 'A username, or #global' }) as any,
  handler: async argv => {
    const list = await withDevice({ home: argv.home, gossip: gossipFrom(argv), catchUp: true }, async api => await api.unread(argv.target))
    if (argv.json) {
      printJson(argv.target == null ? list : list[0])
      return
    }
    if (list.length === 0) printLine('nothing unread')
    for (const u of list) printLine(`${u.target}  ${u.unread}`)
  }
}
