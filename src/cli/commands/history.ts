import { withDevice } from '../device.js'
import { gossipFrom } from '../options.js'
import { printJson, printLine, FatalError } from '../output.js'
import type { GlobalArgs } from '../options.js'
import type { CommandModule } from 'yargs'

interface HistoryArgs extends GlobalArgs {
  target: string
  limit: number
  before?: string
}

const STATUS_MARK: Record<string, string> = { sending: '…', sent: '✓', delivered: '✓✓', read: 'read' }

export const history: CommandModule<GlobalArgs, HistoryArgs> = {
  command: 'history <target>',
  describe: 'A page of a conversation with <user> or #room (newest last)',
  builder: y => y
    .positional('target', { type: 'string', demandOption: true, describe: 'A username, or #global' })
    .option('limit', { type: 'number', default: 10, describe: 'Messages on the page (at most 1000)' })
    .option('before', { type: 'string', describe: 'Only messages before this message id (the page before)' }) as any,
  handler: async argv => {
    if (!Number.isInteger(argv.limit) || argv.limit < 1 || argv.limit > 1000) throw new FatalError('--limit must be a whole number from 1 to 1000')
    const page = await withDevice({ home: argv.home, gossip: gossipFrom(argv), catchUp: true }, async api =>
      await api.history(String(argv.target), { limit: argv.limit, ...(argv.before == null ? {} : { before: argv.before }) }))
    if (argv.json) {
      printJson(page)
      return
    }
    for (const m of page.messages) {
      const at = new Date(m.sentAt).toISOString().replace('T', ' ').slice(0, 19)
      const status = m.status == null ? '' : `  [${STATUS_MARK[m.status] ?? m.status}]`
      printLine(`${m.id}  ${at}  ${m.from}: ${m.text}${status}`)
    }
    if (page.messages.length === 0) printLine(`no messages with ${page.target}${argv.before == null ? '' : ' before that one'}`)
    for (const gap of page.gaps) {
      const missing = gap.missing.length
      printLine(`! ${missing} message${missing === 1 ? '' : 's'} from ${gap.author} (device ${gap.device.slice(-8)}) not received yet: the conversation has a gap`)
    }
  }
}
