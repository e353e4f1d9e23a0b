import { Home } from '../../client/index.js'
import { gossipFrom } from '../options.js'
import { filesFrom } from './files.js'
import { FatalError } from '../output.js'
import type { GlobalArgs } from '../options.js'
import type { CommandModule } from 'yargs'

/** `meshchat` alone: the chat screen of this logged-in device. */
export const chat: CommandModule<GlobalArgs, GlobalArgs> = {
  command: ['chat', '$0'],
  describe: 'Open the chat screen (the default when this device is logged in)',
  handler: async argv => {
    const extra = argv._.filter(a => a !== 'chat')
    if (extra.length > 0) throw new FatalError(`unknown command "${String(extra[0]).slice(0, 40)}"; meshchat --help lists the commands`)
    if (await new Home(argv.home).readLogin() == null) {
      throw new FatalError('this device is not logged in: run meshchat login (meshchat --help lists every command)', 5)
    }
    if (process.stdout.isTTY !== true || process.stdin.isTTY !== true) {
      throw new FatalError('the chat screen needs a terminal; use meshchat listen --json for scripts')
    }
    const { openChat } = await import('../chat.js')
    await openChat({ home: argv.home, gossip: gossipFrom(argv), files: filesFrom(argv) })
  }
}
