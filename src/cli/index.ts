/** The `meshchat` command line: yargs commands, one file each under commands/. */
import yargs from 'yargs'
import { defaultHome } from './options.js'
import { loadSettings } from './settings.js'
import { reportError } from './output.js'
import { serve } from './commands/serve.js'
import { register, login } from './commands/register.js'
import { logout } from './commands/logout.js'
import { whoami } from './commands/whoami.js'
import { users } from './commands/users.js'
import { send } from './commands/send.js'
import { listen } from './commands/listen.js'
import { ping } from './commands/ping.js'
import { conversations } from './commands/conversations.js'
import { history } from './commands/history.js'
import { unread } from './commands/unread.js'
import { read } from './commands/read.js'
import { chat } from './commands/chat.js'
import { admin } from './commands/admin.js'
import { request, requests, accept, decline, close } from './commands/requests.js'
import { contacts } from './commands/contacts.js'
import { profile } from './commands/profile.js'
import { rooms, room } from './commands/rooms.js'
import { sendFile, files, get } from './commands/files.js'
import { Home } from '../client/index.js'
import type { Settings } from './settings.js'

/** Runs the command line and resolves to the exit code. */
export async function main (args: string[]): Promise<number> {
  let debug = args.includes('--debug')
  let failure: unknown
  let settings: Settings
  try {
    settings = loadSettings(args)
  } catch (err) {
    return reportError(err, debug)
  }
  const parser = yargs(args)
    .scriptName('meshchat')
    .usage('$0 <command> [options]\n\nA peer-to-peer messenger for the terminal.')
    .option('config', { type: 'string', global: true, describe: 'JSON file of option values, same names as the flags (MESHCHAT_CONFIG)' })
    .option('home', { type: 'string', global: true, default: (settings.home as string | undefined) ?? defaultHome(), describe: 'This device\'s home folder (MESHCHAT_HOME)', defaultDescription: '$XDG_DATA_HOME/meshchat' })
    .option('server', { type: 'string', global: true, default: settings.server as string | undefined, describe: 'Rendezvous node address, /ip4/…/tcp/4001/p2p/<id> or host:port (MESHCHAT_SERVER; saved at login)' })
    .option('json', { type: 'boolean', global: true, default: false, describe: 'Print JSON instead of text' })
    .option('debug', { type: 'boolean', global: true, default: false, describe: 'Print stack traces of unexpected errors' })
    .option('max-file-size', { type: 'string', global: true, default: settings['max-file-size'] as string | undefined, describe: 'Largest file this device offers or fetches (bytes, or 512MiB, 4GiB, …; MESHCHAT_MAX_FILE_SIZE)' })
    .option('auto-get', { type: 'string', global: true, choices: ['contacts', 'all', 'none'], default: settings['auto-get'] as string | undefined, describe: 'Files a running device (listen, chat) fetches without being asked: offers from contacts, from anyone, or none (MESHCHAT_AUTO_GET)' })
    .option('auto-get-max', { type: 'string', global: true, default: settings['auto-get-max'] as string | undefined, describe: 'Largest file fetched without being asked (MESHCHAT_AUTO_GET_MAX)' })
    .option('ip-colocation-whitelist', { type: 'array', string: true, global: true, hidden: true, default: settings['ip-colocation-whitelist'] as string[] | undefined, describe: 'IPs gossipsub does not penalise for sharing an address (tests on 127.0.0.1)' })
    .middleware(async argv => {
      debug = argv.debug === true
      if (argv.server == null) {
        const saved = await new Home(String(argv.home)).readLogin().catch(() => undefined)
        if (saved != null) argv.server = saved.server
      }
    })
    .command(chat)
    .command(serve(settings))
    .command(admin(settings))
    .command(register)
    .command(login)
    .command(logout)
    .command(whoami)
    .command(users)
    .command(send)
    .command(listen(settings))
    .command(ping)
    .command(conversations)
    .command(history)
    .command(unread)
    .command(read)
    .command(request)
    .command(requests)
    .command(accept)
    .command(decline)
    .command(close)
    .command(contacts)
    .command(profile)
    .command(rooms)
    .command(room)
    .command(sendFile)
    .command(files)
    .command(get)
    .strict()
    .recommendCommands()
    .help()
    .alias('help', 'h')
    .version()
    .wrap(Math.min(100, process.stdout.columns ?? 100))
    // throwing stops yargs: a handler must not run when its required arguments are missing
    .fail((msg, err) => { throw err ?? new UsageError(msg) })
    .exitProcess(false)
  try {
    await parser.parseAsync()
  } catch (err) {
    failure ??= err
  }
  if (failure != null) {
    if (failure instanceof UsageError) {
      process.stderr.write(`meshchat: ${failure.message}\n`)
      return 2
    }
    return reportError(failure, debug)
  }
  return 0
}

class UsageError extends Error {}
