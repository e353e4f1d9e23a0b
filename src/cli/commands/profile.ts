/** Profiles (issue 8): `profile [<user>]` shows one, `profile set` changes your own. */
import { withDevice } from '../device.js'
import { gossipFrom } from '../options.js'
import { FatalError, formatAgo, printJson, printLine, printableLine } from '../output.js'
import { printable } from '../../protocol/index.js'
import type { Profile, ProfileChange } from '../../client/index.js'
import type { GlobalArgs } from '../options.js'
import type { CommandModule } from 'yargs'

interface ShowArgs extends GlobalArgs {
  user?: string
}

interface SetArgs extends GlobalArgs {
  name?: string
  status?: string
  about?: string
}

/** `name     Bob Smith` lines; the about text keeps its lines, indented under the first. */
export function profileLines (p: Profile, now = Date.now()): string[] {
  const about = p.about.split(/\r?\n/).map(l => printable(l, 1024))
  const rows: Array<[string, string]> = [
    ['user', p.user],
    ['name', printableLine(p.name)],
    ['status', printableLine(p.status, 140)],
    ['about', about.join(`\n${' '.repeat(9)}`)],
    ['updated', p.updatedAt == null ? 'never' : formatAgo(p.updatedAt, now)]
  ]
  return rows.map(([k, v]) => `${k.padEnd(7)}  ${v}`.trimEnd())
}

const set: CommandModule<GlobalArgs, SetArgs> = {
  command: 'set',
  describe: 'Change your profile; the fields you leave out keep their value ("" clears one)',
  builder: y => y
    .option('name', { type: 'string', describe: 'Display name' })
    .option('status', { type: 'string', describe: 'Status text' })
    .option('about', { type: 'string', describe: 'About you' }) as any,
  handler: async argv => {
    const change: ProfileChange = {
      ...(argv.name == null ? {} : { name: String(argv.name) }),
      ...(argv.status == null ? {} : { status: String(argv.status) }),
      ...(argv.about == null ? {} : { about: String(argv.about) })
    }
    if (Object.keys(change).length === 0) throw new FatalError('nothing to change: give --name, --status or --about')
    const profile = await withDevice({ home: argv.home, gossip: gossipFrom(argv) }, async api => await api.setProfile(change))
    if (argv.json) printJson(profile)
    else for (const line of profileLines(profile)) printLine(line)
  }
}

export const profile: CommandModule<GlobalArgs, ShowArgs> = {
  command: 'profile [user]',
  describe: 'Show a profile (yours without <user>): name, status, about, when it changed; profile set to change yours',
  // a username is not a mistyped `set`: "bob" must not get "Did you mean set?" (the typings lack the flag)
  builder: y => (y
    .positional('user', { type: 'string', describe: 'A username' })
    .command(set) as any).recommendCommands(false),
  handler: async argv => {
    const p = await withDevice({ home: argv.home, gossip: gossipFrom(argv) }, async api => await api.profile(argv.user))
    if (argv.json) printJson(p)
    else for (const line of profileLines(p)) printLine(line)
  }
}
