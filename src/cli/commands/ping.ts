import { withDevice } from '../device.js'
import { gossipFrom } from '../options.js'
import { printJson, printLine } from '../output.js'
import type { GlobalArgs } from '../options.js'
import type { CommandModule } from 'yargs'

interface PingArgs extends GlobalArgs {
  user?: string
}

export const ping: CommandModule<GlobalArgs, PingArgs> = {
  command: 'ping [user]',
  describe: 'Round trip to the rendezvous node, or to each online device of <user>',
  builder: y => y.positional('user', { type: 'string', describe: 'A username' }) as any,
  handler: async argv => {
    const results = await withDevice({ home: argv.home, gossip: gossipFrom(argv) }, async api => await api.ping(argv.user))
    if (argv.json) {
      printJson(results)
      return
    }
    for (const r of results) printLine(`${r.target} ${r.peer}: ${r.rttMs.toFixed(1)} ms, ${r.path}`)
  }
}
