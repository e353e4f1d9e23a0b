import { MeshClient, runCommand, lineReader } from '../../client/index.js'
import { startRunningDevice } from '../device.js'
import { gossipFrom, numberOption } from '../options.js'
import { formatTime, printJson, printLine, printableLine } from '../output.js'
import { describeChat } from './requests.js'
import { filesFrom } from './files.js'
import type { ClientEvent, RelayMode } from '../../client/index.js'
import type { GlobalArgs } from '../options.js'
import type { Settings } from '../settings.js'
import type { CommandModule } from 'yargs'

interface ListenArgs extends GlobalArgs {
  listen: string[]
  peerDials: number
  relay: RelayMode
}

/** One human line for an event. */
export function describeEvent (ev: ClientEvent, me: string): string {
  switch (ev.type) {
    case 'message': {
      const m = ev.message
      const at = formatTime(m.sentAt)
      if (m.room != null) return `[${at}] #${m.room} ${m.from}: ${m.text}`
      return m.from === me ? `[${at}] you → ${m.peer ?? '?'}: ${m.text}` : `[${at}] ${m.from}: ${m.text}`
    }
    case 'presence': return `* ${ev.user} is ${ev.online ? 'online' : 'offline'}`
    case 'registered': return `* ${ev.user} registered`
    case 'connection': return `* ${ev.state}${ev.reason == null ? '' : `: ${ev.reason}`}`
    case 'status': return `* ${ev.id.slice(0, 8)} ${ev.status}`
    case 'unread': return `* ${ev.target}: ${ev.unread} unread`
    case 'relay': return ev.reserved ? '* reachable through the rendezvous node\'s relay' : `* relay slot lost${ev.reason == null ? '' : `: ${ev.reason}`}`
    case 'error': return `* error: ${ev.error.message}`
    case 'chat': return `* ${describeChat(ev.chat)}`
    case 'contact': return `* ${ev.user} ${ev.added ? 'added to' : 'removed from'} your contacts`
    case 'profile': return `* ${ev.profile.user} changed their profile: ${printableLine([ev.profile.name, ev.profile.status].filter(s => s !== '').join(' — '))}`.trimEnd()
    case 'room': return `* #${ev.room.room}: ${ev.room.joined ? 'joined' : 'not joined'}, ${ev.room.members} member${ev.room.members === 1 ? '' : 's'}`
    case 'disabled': return `* ${ev.user}'s account was ${ev.disabled ? 'disabled' : 'enabled again'}`
    case 'file': return `* file ${ev.file.id.slice(0, 8)} ${printableLine(ev.file.name)} (${ev.file.direction === 'in' ? `from ${ev.file.from}` : `to ${ev.file.target}`}): ${ev.file.state}${ev.file.state === 'downloading' ? ` ${ev.file.size === 0 ? 100 : Math.floor(100 * ev.file.bytes / ev.file.size)}%` : ''}${ev.file.error == null ? '' : ` — ${ev.file.error.message}`}`
  }
}

export const listen = (settings: Settings): CommandModule<GlobalArgs, ListenArgs> => ({
  command: 'listen',
  describe: 'Stay connected and print messages and presence as they happen (--json: one object a line, commands on stdin)',
  builder: y => y
    .option('listen', { type: 'array', string: true, default: settings.listen as string[], describe: 'Multiaddrs this device listens on for its peers' })
    .option('relay', { type: 'string', choices: ['auto', 'always', 'never'], default: settings.relay as string, describe: 'Hold a relay slot on the rendezvous node (auto: when behind NAT)' })
    .option('peer-dials', { type: 'number', default: settings['peer-dials'] as number, describe: 'Other online devices to keep connections to' }) as any,
  handler: async argv => {
    const client = new MeshClient({ home: argv.home, listen: argv.listen.map(String), peerDials: numberOption(argv.peerDials, 'peer-dials', 0, 64), relay: argv.relay, gossip: gossipFrom(argv), files: filesFrom(argv) })
    const stopController = new AbortController()
    const printer = (async () => {
      for await (const ev of client.events(stopController.signal)) {
        if (argv.json) printJson(ev.type === 'message' ? { type: 'message', ...ev.message } : ev)
        // a transfer's progress comes a few times a second: text shows only where it got to
        else if (ev.type !== 'file' || ev.file.state !== 'downloading') printLine(describeEvent(ev, client.user))
      }
    })()
    const control = await startRunningDevice(client)
    const me = client.whoami()
    if (argv.json) printJson({ type: 'ready', user: me.user, device: me.device })
    else printLine(`* listening as ${me.user} (device ${me.device}); Ctrl-C to stop`)
    if (argv.json) {
      process.stdin.on('data', lineReader(line => {
        void runCommand(client, line).then(res => { printJson({ type: 'result', ...res }) })
      }, () => { printJson({ type: 'result', ok: false, error: { name: 'InvalidInputError', message: 'command too long' } }) }))
    }
    await new Promise<void>(resolve => {
      process.once('SIGINT', () => { resolve() })
      process.once('SIGTERM', () => { resolve() })
    })
    stopController.abort()
    await control.stop()
    await client.stop()
    await printer.catch(() => {})
  }
})
