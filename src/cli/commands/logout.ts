import { logout as logoutDevice } from '../../client/index.js'
import { printJson, printLine } from '../output.js'
import type { GlobalArgs } from '../options.js'
import type { CommandModule } from 'yargs'

export const logout: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'logout',
  describe: 'Log this device out (the rendezvous node stops honouring its certificate)',
  handler: async argv => {
    const res = await logoutDevice(argv.home)
    if (argv.json) printJson(res)
    else printLine(`logged out ${res.user}${res.serverNotified ? '' : ' (the server could not be reached; the login was removed here)'}`)
  }
}
