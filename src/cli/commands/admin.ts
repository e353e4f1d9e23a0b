/**
 * `meshchat admin …`: the operator's commands on the rendezvous host (issue 8). They reach the
 * running node through its owner-only socket in the data folder, or open the store of a stopped
 * node for the moment of the change (rendezvous/admin.ts). No libp2p, no Ink here.
 */
import { InvalidInputError, checkPassword } from '../../protocol/index.js'
import { withAdmin } from '../../rendezvous/admin.js'
import { defaultDataDir } from '../options.js'
import { readPassword } from '../prompt.js'
import { formatAgo, printJson, printLine } from '../output.js'
import type { AdminUser } from '../../rendezvous/admin.js'
import type { GlobalArgs } from '../options.js'
import type { Settings } from '../settings.js'
import type { Argv, CommandModule } from 'yargs'

interface AdminArgs extends GlobalArgs {
  data?: string
}

interface UserArgs extends AdminArgs {
  name: string
  passwordStdin?: boolean
  enable?: boolean
}

/**
 * The new password of an account: MESHCHAT_PASSWORD, one line of stdin (--password-stdin, or
 * whenever stdin is not a terminal), else a masked prompt asked twice.
 */
async function newPassword (user: string, passwordStdin: boolean): Promise<string> {
  const fromEnv = process.env.MESHCHAT_PASSWORD
  if (passwordStdin || ((fromEnv == null || fromEnv === '') && process.stdin.isTTY !== true)) {
    return await readPassword({ passwordStdin: true })
  }
  const first = await readPassword({ prompt: `New password for ${user}: ` })
  if (fromEnv != null && fromEnv !== '') return first
  checkPassword(first)
  const again = await readPassword({ prompt: 'Again: ' })
  if (again !== first) throw new InvalidInputError('the two passwords differ; nothing was changed')
  return first
}

function when (ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').slice(0, 16)
}

function yesNo (value: boolean | null): string {
  return value == null ? '?' : value ? 'yes' : 'no'
}

/** One row per account, its devices indented below it. */
function printUsers (list: AdminUser[], live: boolean): void {
  if (list.length === 0) printLine('no accounts yet')
  const rows = list.map(u => [
    u.user,
    yesNo(u.online),
    u.disabled ? 'disabled' : 'active',
    when(u.createdAt),
    u.online === true ? 'now' : formatAgo(u.lastSeen),
    u.lastAddr ?? '-',
    `${u.devices.filter(d => d.loggedIn).length} logged in${u.accountKey == null ? ', no account key yet' : ''}`
  ])
  const head = ['USER', 'ONLINE', 'STATUS', 'CREATED', 'LAST SEEN', 'LAST ADDRESS', 'DEVICES']
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map(r => r[i]!.length)))
  const line = (cells: string[]): string => cells.map((c, i) => i === cells.length - 1 ? c : c.padEnd(widths[i]!)).join('  ')
  if (list.length > 0) printLine(line(head))
  list.forEach((u, i) => {
    printLine(line(rows[i]!))
    for (const d of u.devices) {
      const state = [d.online === true ? 'online' : d.online === false ? 'offline' : null, d.loggedIn ? 'logged in' : 'logged out'].filter(s => s != null).join(', ')
      printLine(`  device ${d.peer}  ${state}, last seen ${formatAgo(d.lastSeen)}${d.lastAddr == null ? '' : ` from ${d.lastAddr}`}`)
    }
  })
  if (!live) printLine('(the rendezvous node is not running: who is online is unknown)')
}

export const admin = (settings: Settings): CommandModule<GlobalArgs, AdminArgs> => {
  const dataDir = (argv: AdminArgs): string => argv.data ?? (settings.data as string | undefined) ?? defaultDataDir()
  const named = (y: Argv<AdminArgs>): Argv<UserArgs> => y
    .positional('name', { type: 'string', demandOption: true, describe: 'The username' }) as Argv<UserArgs>
  const withPassword = (y: Argv<AdminArgs>): Argv<UserArgs> => named(y)
    .option('password-stdin', { type: 'boolean', describe: 'Read the new password from the first line of stdin (else MESHCHAT_PASSWORD, else a masked prompt, twice)' }) as Argv<UserArgs>

  const users: CommandModule<AdminArgs, AdminArgs> = {
    command: 'users',
    describe: 'Every account: online, last seen, last address, devices, created, disabled',
    handler: async argv => {
      const { list, live } = await withAdmin(dataDir(argv), async a => ({ list: await a.users(), live: a.live }))
      if (argv.json) printJson(list)
      else printUsers(list, live)
    }
  }

  const addUser: CommandModule<AdminArgs, UserArgs> = {
    command: 'add-user <name>',
    describe: 'Create an account with a password (its first device to log in makes the account key)',
    builder: withPassword,
    handler: async argv => {
      const password = await newPassword(argv.name, argv.passwordStdin === true)
      const user = await withAdmin(dataDir(argv), async a => await a.addUser(argv.name, password))
      if (argv.json) printJson(user)
      else printLine(`added ${user.user}; it can log in now with that password`)
    }
  }

  const disableUser: CommandModule<AdminArgs, UserArgs> = {
    command: 'disable-user <name>',
    describe: 'Disable an account: no login, its certificates refused, nothing delivered to it (--enable undoes it)',
    builder: y => named(y)
      .option('enable', { type: 'boolean', default: false, describe: 'Enable the account again' }) as Argv<UserArgs>,
    handler: async argv => {
      const disabled = argv.enable !== true
      const res = await withAdmin(dataDir(argv), async a => await a.setDisabled(argv.name, disabled))
      if (argv.json) {
        printJson(res)
        return
      }
      const verb = disabled ? 'disabled' : 'enabled'
      if (!res.changed) printLine(`${res.user} was already ${verb}`)
      else printLine(`${verb} ${res.user}${res.sessionsClosed > 0 ? ` (${res.sessionsClosed} session${res.sessionsClosed === 1 ? '' : 's'} closed)` : ''}`)
    }
  }

  const resetPassword: CommandModule<AdminArgs, UserArgs> = {
    command: 'reset-password <name>',
    describe: 'Set a new password; every device of the account must log in again with it',
    builder: withPassword,
    handler: async argv => {
      const password = await newPassword(argv.name, argv.passwordStdin === true)
      const res = await withAdmin(dataDir(argv), async a => await a.resetPassword(argv.name, password))
      if (argv.json) printJson(res)
      else printLine(`password of ${res.user} reset; ${res.devicesLoggedOut} device${res.devicesLoggedOut === 1 ? '' : 's'} logged out, to log in again with the new password`)
    }
  }

  return {
    command: 'admin',
    describe: 'Operator commands on the rendezvous host: users, add-user, disable-user, reset-password',
    builder: y => y
      .option('data', { type: 'string', describe: `The rendezvous node's data folder, as given to meshchat serve (MESHCHAT_DATA) [default: ${defaultDataDir()}]` })
      .command(users)
      .command(addUser)
      .command(disableUser)
      .command(resetPassword)
      .demandCommand(1, 'name an admin command: users, add-user, disable-user or reset-password') as Argv<AdminArgs>,
    handler: () => {}
  }
}
