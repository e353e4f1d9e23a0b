/**
 * Rooms (issue 8): `rooms` lists the rooms this account is in and the public ones to join;
 * `room create|join|leave|invite|remove|members` change or show one. Names are given as `dev` or `#dev`.
 */
import { withDevice } from '../device.js'
import { gossipFrom } from '../options.js'
import { printJson, printLine } from '../output.js'
import type { DeviceApi, RoomInfo, RoomMember } from '../../client/index.js'
import type { GlobalArgs } from '../options.js'
import type { ArgumentsCamelCase, CommandModule } from 'yargs'

interface RoomArgs extends GlobalArgs {
  name: string
}

interface CreateArgs extends RoomArgs {
  private: boolean
}

interface InviteArgs extends RoomArgs {
  user: string
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`

/** `#dev  private  3 members  joined  owner alice`, in aligned columns. */
export function roomLines (list: RoomInfo[]): string[] {
  const nameWidth = Math.max(...list.map(r => r.room.length + 1))
  const numberWidth = Math.max(...list.map(r => String(r.members).length))
  return list.map(r => {
    const count = `${String(r.members).padStart(numberWidth)} ${r.members === 1 ? 'member ' : 'members'}`
    const owner = r.owner == null ? '' : `  owner ${r.owner}`
    return `${`#${r.room}`.padEnd(nameWidth)}  ${r.private ? 'private' : 'public '}  ${count}  ${r.joined ? 'joined    ' : 'not joined'}${owner}`.trimEnd()
  })
}

/** `● alice  owner`, in aligned columns. */
export function memberLines (list: RoomMember[]): string[] {
  const width = Math.max(...list.map(m => m.user.length))
  return list.map(m => `${m.online ? '●' : '○'} ${m.user.padEnd(width)}  ${m.online ? 'online ' : 'offline'}${m.owner ? '  owner' : ''}`.trimEnd())
}

const nameArg = { type: 'string', demandOption: true, describe: 'The room, as dev or \'#dev\'' } as const

/** A room subcommand that changes a room and prints its new state. */
function change<A extends RoomArgs> (command: string, describe: string, run: (api: DeviceApi, argv: ArgumentsCamelCase<A>) => Promise<RoomInfo>, said: (room: RoomInfo, argv: ArgumentsCamelCase<A>) => string, builder: (y: any) => any = y => y): CommandModule<GlobalArgs, A> {
  return {
    command,
    describe,
    builder: y => builder(y.positional('name', nameArg)),
    handler: async argv => {
      const room = await withDevice({ home: argv.home, gossip: gossipFrom(argv) }, async api => await run(api, argv))
      if (argv.json) printJson(room)
      else printLine(said(room, argv))
    }
  }
}

const create = change<CreateArgs>('create <name>', 'Create a room you own; --private: only people you invite can join',
  async (api, argv) => await api.createRoom(String(argv.name), { private: argv.private }),
  r => r.private ? `created private room #${r.room}; invite people with: meshchat room invite ${r.room} <user>` : `created #${r.room}; others join with: meshchat room join ${r.room}`,
  y => y.option('private', { type: 'boolean', default: false, describe: 'Only invited people can join' }))

const join = change<RoomArgs>('join <name>', 'Join a public room, or a private one you were invited to',
  async (api, argv) => await api.joinRoom(String(argv.name)),
  r => `joined #${r.room} (${plural(r.members, 'member')}); write with meshchat send '#${r.room}' <text>`)

const leave = change<RoomArgs>('leave <name>', 'Leave a room (its history stays on this device)',
  async (api, argv) => await api.leaveRoom(String(argv.name)),
  r => `left #${r.room}`)

const invite = change<InviteArgs>('invite <name> <user>', 'Invite <user> to a room (a private room: only its owner invites)',
  async (api, argv) => await api.invite(String(argv.name), String(argv.user)),
  (r, argv) => `invited ${String(argv.user)} to #${r.room}; they join with meshchat room join ${r.room}`,
  y => y.positional('user', { type: 'string', demandOption: true, describe: 'A username' }))

const remove = change<InviteArgs>('remove <name> <user>', 'Remove <user> from a private room you own; the room gets a new key they never see',
  async (api, argv) => await api.removeMember(String(argv.name), String(argv.user)),
  (r, argv) => `removed ${String(argv.user)} from #${r.room} (${plural(r.members, 'member')} left); they read nothing sent from now on`,
  y => y.positional('user', { type: 'string', demandOption: true, describe: 'A username' }))

const members: CommandModule<GlobalArgs, RoomArgs> = {
  command: 'members <name>',
  describe: 'Who is in a room, online or not, and who owns it',
  builder: y => y.positional('name', nameArg) as any,
  handler: async argv => {
    const list = await withDevice({ home: argv.home, gossip: gossipFrom(argv) }, async api => await api.members(String(argv.name)))
    if (argv.json) {
      printJson(list)
      return
    }
    if (list.length === 0) printLine('nobody is in that room')
    for (const line of memberLines(list)) printLine(line)
  }
}

export const room: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'room <command>',
  describe: 'Create, join, leave a room, invite to one or remove from one, list its members',
  builder: y => y
    .command(create)
    .command(join)
    .command(leave)
    .command(invite)
    .command(remove)
    .command(members)
    .demandCommand(1, 'name a room command: create, join, leave, invite, remove or members') as any,
  handler: () => {}
}

export const rooms: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'rooms',
  describe: 'The rooms you are in, and public rooms to join, with member counts',
  handler: async argv => {
    const list = await withDevice({ home: argv.home, gossip: gossipFrom(argv) }, async api => await api.rooms())
    if (argv.json) {
      printJson(list)
      return
    }
    for (const line of roomLines(list)) printLine(line)
  }
}
