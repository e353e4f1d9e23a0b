import { Home } from '../../client/index.js'
import { printJson, printLine } from '../output.js'
import type { GlobalArgs } from '../options.js'
import type { CommandModule } from 'yargs'

export const whoami: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'whoami',
  describe: 'Show who this device is logged in as',
  handler: async argv => {
    const login = await new Home(argv.home).requireLogin()
    const info = { user: login.user, device: login.cert.device, server: login.server, certExpires: login.cert.expires, home: argv.home }
    if (argv.json) printJson(info)
    else printLine(`${info.user} on device ${info.device}\nserver ${info.server}\ncertificate valid until ${new Date(info.certExpires).toISOString()}`)
  }
}
