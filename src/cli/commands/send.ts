import { withDevice } from '../device.js'
import { gossipFrom } from '../options.js'
import { printJson, printLine } from '../output.js'
import type { GlobalArgs } from '../options.js'
import type { CommandModule } from 'yargs'

interface SendArgs extends GlobalArgs {
  to: string
  text: string[]
}

export const send: CommandModule<GlobalArgs, SendArgs> = {
  command: 'send <to> <text...>',
  describe: 'Send a direct message to <to>, or to a room with #name (e.g. \'#global\')',
  builder: y => y
    .positional('to', { type: 'string', demandOption: true, describe: 'A username, or #global' })
    .positional('text', { type: 'string', array: true, demandOption: true, describe: 'The message' }) as any,
  handler: async argv => {
    const text = argv.text.map(String).join(' ')
    // a direct message needs an accepted chat: catch up first, so an acceptance is known here
    const catchUp = String(argv.to).startsWith('#') ? false : 'strict'
    const res = await withDevice({ home: argv.home, gossip: gossipFrom(argv), catchUp }, async api => await api.send(String(argv.to), text))
    if (argv.json) printJson(res)
    else if (String(argv.to).startsWith('#')) printLine(`sent to ${String(argv.to)} (${res.deliveredTo.length} peer${res.deliveredTo.length === 1 ? '' : 's'})`)
    else if (res.deliveredTo.length === 0) printLine(`sent to ${String(argv.to)}: no device online, stored for delivery when one comes online`)
    else printLine(`delivered to ${String(argv.to)} (${res.deliveredTo.length} device${res.deliveredTo.length === 1 ? '' : 's'})`)
  }
}
