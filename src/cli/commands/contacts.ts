/** Contacts (issue 8): `contacts`, `contacts add <user>`, `contacts remove <user>`; the same list on every device of the account. */
import { withDevice } from '../device.js'
import { gossipFrom } from '../options.js'
import { formatAgo, printJson, printLine, printableLine } from '../output.js'
import type { Contact, DeviceApi } from '../../client/index.js'
import type { GlobalArgs } from '../options.js'
import type { CommandModule } from 'yargs'

interface UserArgs extends GlobalArgs {
  user: string
}

function change (verb: 'add' | 'remove', run: (api: DeviceApi, user: string) => Promise<void>): CommandModule<GlobalArgs, UserArgs> {
  return {
    command: `${verb} <user>`,
    describe: verb === 'add' ? 'Add <user> to your contacts' : 'Remove <user> from your contacts',
    builder: y => y.positional('user', { type: 'string', demandOption: true, describe: 'A username' }) as any,
    handler: async argv => {
      const user = String(argv.user)
      // caught up first: a contact added or removed on another device of the account counts
      await withDevice({ home: argv.home, gossip: gossipFrom(argv), catchUp: 'strict' }, async api => { await run(api, user) })
      if (argv.json) printJson({ user, added: verb === 'add' })
      else printLine(verb === 'add' ? `added ${user} to your contacts` : `removed ${user} from your contacts`)
    }
  }
}

export const contacts: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'contacts',
  describe: 'Your contacts with presence, last seen and profile name (add <user> | remove <user>)',
  builder: y => y
    .command(change('add', async (api, user) => { await api.addContact(user) }))
    .command(change('remove', async (api, user) => { await api.removeContact(user) })) as any,
  handler: async argv => {
    const list = await withDevice({ home: argv.home, gossip: gossipFrom(argv), catchUp: true }, async api => await api.contacts())
    if (argv.json) {
      printJson(list)
      return
    }
    if (list.length === 0) {
      printLine('no contacts yet; add one with: meshchat contacts add <user>')
      return
    }
    for (const line of contactLines(list)) printLine(line)
  }
}

/** `● bob    Bob Smith  online  on holiday`, in aligned columns. */
export function contactLines (list: Contact[], now = Date.now()): string[] {
  const names = list.map(c => printableLine(c.name, 32))
  const presence = list.map(c => c.online == null ? 'presence unknown' : c.online ? 'online' : `last seen ${formatAgo(c.lastSeen, now)}`)
  const userWidth = Math.max(...list.map(c => c.user.length))
  const nameWidth = Math.max(...names.map(n => n.length))
  const presenceWidth = Math.max(...presence.map(p => p.length))
  return list.map((c, i) => {
    const mark = c.online == null ? '?' : c.online ? '●' : '○'
    const status = c.status === '' ? '' : `  ${printableLine(c.status, 60)}`
    const name = nameWidth === 0 ? '' : `${names[i]!.padEnd(nameWidth)}  `
    return `${mark} ${c.user.padEnd(userWidth)}  ${name}${presence[i]!.padEnd(presenceWidth)}${status}`.trimEnd()
  })
}
