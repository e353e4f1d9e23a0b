import { withDevice } from '../device.js'
import { gossipFrom } from '../options.js'
import { printJson, printLine } from '../output.js'
import type { GlobalArgs } from '../options.js'
import type { CommandModule } from 'yargs'

interface ReadArgs extends GlobalArgs {
  target: string
  id?: string
}

export const read: CommandModule<GlobalArgs, ReadArgs> = {
  command: 'read <target> [id]',
  describe: 'Mark a conversation read: up to message <id>, or everything up to now',
  builder: y => y
    .positional('target', { type: 'string', demandOption: true, describe: 'A username, or #global' })
    .positional('id', { type: 'string', describe: 'Mark read up to this message' }) as any,
  handler: async argv => {
    const res = await withDevice({ home: argv.home, gossip: gossipFrom(argv), catchUp: true }, async api => await api.read(String(argv.target), argv.id))
    if (argv.json) printJson(res)
    else printLine(`${res.target}: ${res.unread} unread${res.changed ? '' : ' (nothing new to mark)'}`)
  }
}
