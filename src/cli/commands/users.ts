import { withDevice } from '../device.js'
import { gossipFrom } from '../options.js'
import { formatAgo, printJson, printLine } from '../output.js'
import type { GlobalArgs } from '../options.js'
import type { CommandModule } from 'yargs'

export const users: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'users',
  describe: 'Every registered user: online or offline, last seen',
  handler: async argv => {
    const list = await withDevice({ home: argv.home, gossip: gossipFrom(argv) }, async api => await api.users())
    if (argv.json) {
      printJson(list.map(u => ({ user: u.user, online: u.online, lastSeen: u.lastSeen, devices: u.devices.length, createdAt: u.createdAt })))
      return
    }
    const width = Math.max(4, ...list.map(u => u.user.length))
    for (const u of list) {
      const state = u.online ? `online (${u.devices.length} device${u.devices.length === 1 ? '' : 's'})` : `offline, last seen ${formatAgo(u.lastSeen)}`
      printLine(`${u.user.padEnd(width)}  ${state}`)
    }
  }
}
