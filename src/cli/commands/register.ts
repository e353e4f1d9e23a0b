import { register as registerAccount, login as loginDevice } from '../../client/index.js'
import { readPassword } from '../prompt.js'
import { printJson, printLine, FatalError } from '../output.js'
import type { GlobalArgs } from '../options.js'
import type { CommandModule, Argv } from 'yargs'

interface AuthArgs extends GlobalArgs {
  user?: string
  passwordStdin?: boolean
  ui?: boolean
}

function authOptions (y: Argv<GlobalArgs>): Argv<AuthArgs> {
  return y
    .option('user', { alias: 'u', type: 'string', describe: 'Username' })
    .option('password-stdin', { type: 'boolean', describe: 'Read the password from the first line of stdin (else MESHCHAT_PASSWORD, else a masked prompt)' }) as Argv<AuthArgs>
}

async function run (op: 'register' | 'login', argv: AuthArgs): Promise<void> {
  if (argv.server == null) throw new FatalError('no server: give --server ADDR (or MESHCHAT_SERVER)')
  if (argv.user == null) throw new FatalError('no username: give --user NAME')
  const password = await readPassword({ passwordStdin: argv.passwordStdin, prompt: `Password for ${argv.user}: ` })
  const creds = { home: argv.home, server: argv.server, user: argv.user, password }
  const saved = op === 'register' ? await registerAccount(creds) : await loginDevice(creds)
  if (argv.json) {
    printJson({ user: saved.user, device: saved.cert.device, server: saved.server, certExpires: saved.cert.expires })
  } else {
    printLine(`${op === 'register' ? 'registered' : 'logged in as'} ${saved.user}; this device (${saved.cert.device}) is logged in to ${saved.server}`)
  }
}

export const register: CommandModule<GlobalArgs, AuthArgs> = {
  command: 'register',
  describe: 'Create an account on the rendezvous node and log this device in',
  builder: authOptions,
  handler: async argv => { await run('register', argv) }
}

export const login: CommandModule<GlobalArgs, AuthArgs> = {
  command: 'login',
  describe: 'Log this device in (it stays logged in across restarts)',
  builder: y => authOptions(y)
    .option('ui', { type: 'boolean', default: true, describe: 'Open the chat screen after logging in (--no-ui: only authenticate)' }),
  handler: async argv => { await run('login', argv) }
}
