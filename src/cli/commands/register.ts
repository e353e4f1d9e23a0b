import { register as registerAccount, login as loginDevice } from '../../client/index.js'
import { readPassword } from '../prompt.js'
import { printJson, printLine, FatalError } from '../output.js'
import { gossipFrom } from '../options.js'
import type { GlobalArgs } from '../options.js'
import type { SavedLogin } from '../../client/index.js'
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

/** Whether the Ink login form can ask for what is missing. */
function interactive (argv: AuthArgs): boolean {
  return argv.ui !== false && argv.json !== true && argv.passwordStdin !== true && process.stdin.isTTY === true && process.stdout.isTTY === true
}

async function run (op: 'register' | 'login', argv: AuthArgs): Promise<void> {
  const envPassword = process.env.MESHCHAT_PASSWORD
  if (op === 'login' && interactive(argv) && (argv.server == null || argv.user == null || envPassword == null || envPassword === '')) {
    // the login form asks for whatever flags did not give, then the chat screen opens
    let saved: SavedLogin | undefined
    const { runLoginForm } = await import('../../ui/index.js')
    const { openChat } = await import('../chat.js')
    const ok = await runLoginForm(
      { ...(argv.server == null ? {} : { server: argv.server }), ...(argv.user == null ? {} : { user: argv.user }), ...(envPassword == null ? {} : { password: envPassword }) },
      async v => {
        const creds = { home: argv.home, server: v.server, user: v.user, password: v.password }
        saved = v.register ? await registerAccount(creds) : await loginDevice(creds)
      })
    if (!ok || saved == null) throw new FatalError('login cancelled', 130)
    await openChat({ home: argv.home, gossip: gossipFrom(argv) })
    return
  }
  if (argv.server == null) throw new FatalError('no server: give --server ADDR (or MESHCHAT_SERVER)')
  if (argv.user == null) throw new FatalError('no username: give --user NAME')
  const password = await readPassword({ passwordStdin: argv.passwordStdin, prompt: `Password for ${argv.user}: ` })
  const creds = { home: argv.home, server: argv.server, user: argv.user, password }
  const saved = op === 'register' ? await registerAccount(creds) : await loginDevice(creds)
  if (argv.json) {
    printJson({ user: saved.user, device: saved.cert.device, server: saved.server, certExpires: saved.cert.expires, ...(saved.warning == null ? {} : { warning: saved.warning }) })
  } else {
    printLine(`${op === 'register' ? 'registered' : 'logged in as'} ${saved.user}; this device (${saved.cert.device}) is logged in to ${saved.server}`)
    // after an operator's password reset this device may have had to make a new account key
    if (saved.warning != null) process.stderr.write(`meshchat: warning: ${saved.warning}\n`)
  }
  if (op === 'login' && interactive(argv)) {
    const { openChat } = await import('../chat.js')
    await openChat({ home: argv.home, gossip: gossipFrom(argv) })
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
