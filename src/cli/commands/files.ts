/**
 * Files (issue 9): `send-file <to> <path>`, `files`, `get <file-id>`. Progress (bytes, rate, ETA)
 * goes to stderr, so stdout keeps only the answer (text, or one JSON object with --json).
 */
import { resolve } from 'node:path'
import { formatBytes } from '../../protocol/index.js'
import { withDevice } from '../device.js'
import { gossipFrom } from '../options.js'
import { FatalError, printJson, printLine, printableLine } from '../output.js'
import { AUTO_GET_MODES } from '../../client/index.js'
import { parseSize } from './serve.js'
import type { AutoGetMode, FileEntry, FileProgress, FilesInit } from '../../client/index.js'
import type { GlobalArgs } from '../options.js'
import type { CommandModule } from 'yargs'

interface SendFileArgs extends GlobalArgs {
  to: string
  path: string
}

interface GetArgs extends GlobalArgs {
  file: string
  to?: string
  allowRelay: boolean
}

/** The device's file settings from the flags (`--max-file-size`, `--auto-get`, `--auto-get-max`). */
export function filesFrom (argv: { maxFileSize?: string, autoGet?: string, autoGetMax?: string }): FilesInit {
  const init: FilesInit = {}
  if (argv.maxFileSize != null && argv.maxFileSize !== '') init.maxFileSize = parseSize(argv.maxFileSize, 'max-file-size')
  if (argv.autoGet != null && argv.autoGet !== '') {
    // a config file or the environment may say anything: the flag's choices do not check those
    if (!(AUTO_GET_MODES as readonly string[]).includes(argv.autoGet)) throw new FatalError(`--auto-get: "${printableLine(argv.autoGet, 40)}" is not one of ${AUTO_GET_MODES.join(', ')}`, 2)
    init.autoGet = argv.autoGet as AutoGetMode
  }
  if (argv.autoGetMax != null && argv.autoGetMax !== '') init.autoGetMax = parseSize(argv.autoGetMax, 'auto-get-max')
  return init
}

/** "3 s", "4 min", "2 h". */
export function formatDuration (seconds: number): string {
  if (!Number.isFinite(seconds)) return '?'
  const s = Math.max(0, Math.round(seconds))
  if (s < 90) return `${s} s`
  if (s < 90 * 60) return `${Math.round(s / 60)} min`
  return `${Math.round(s / 3600)} h`
}

/** `receiving big.iso: 120 MiB / 1.0 GiB (11%), 48 MiB/s, ETA 19 s` */
export function describeProgress (p: FileProgress): string {
  const pct = p.total === 0 ? 100 : Math.floor(100 * p.bytes / p.total)
  const eta = p.rate > 0 && p.bytes < p.total ? `, ETA ${formatDuration((p.total - p.bytes) / p.rate)}` : ''
  return `${p.phase} ${printableLine(p.name, 60)}: ${formatBytes(p.bytes)} / ${formatBytes(p.total)} (${pct}%), ${formatBytes(p.rate)}/s${eta}`
}

/**
 * Progress on stderr: one line redrawn on a terminal; otherwise a line a second at most (and
 * with --json, one JSON object a line: `{"type":"progress",…}`).
 */
function progressPrinter (json: boolean): { update: (p: FileProgress) => void, done: () => void } {
  const tty = process.stderr.isTTY === true && !json
  let last = 0
  let drawn = false
  return {
    update: p => {
      const now = Date.now()
      if (!tty && now - last < 1000 && p.bytes < p.total) return
      last = now
      if (json) process.stderr.write(`${JSON.stringify({ type: 'progress', ...p })}\n`)
      else if (tty) { process.stderr.write(`\r${describeProgress(p)}\x1b[K`); drawn = true } else process.stderr.write(`${describeProgress(p)}\n`)
    },
    done: () => { if (drawn) process.stderr.write('\n') }
  }
}

export const sendFile: CommandModule<GlobalArgs, SendFileArgs> = {
  command: 'send-file <to> <path>',
  describe: 'Offer a file to <to>, or to a room with #name; its devices fetch it from this device (progress on stderr)',
  builder: y => y
    .positional('to', { type: 'string', demandOption: true, describe: 'A username, or #room' })
    .positional('path', { type: 'string', demandOption: true, describe: 'The file' }) as any,
  handler: async argv => {
    const to = String(argv.to)
    // a running device may have another working folder
    const path = resolve(String(argv.path))
    const progress = progressPrinter(argv.json)
    // a direct chat must be accepted: catch up first, so an acceptance is known here
    const catchUp = to.startsWith('#') ? false : 'strict'
    let res
    try {
      res = await withDevice({ home: argv.home, gossip: gossipFrom(argv), catchUp, files: filesFrom(argv) }, async api => await api.sendFile(to, path, { onProgress: progress.update }))
    } finally {
      progress.done()
    }
    if (argv.json) {
      printJson(res)
      return
    }
    printLine(`offered ${printableLine(res.offer.name)} (${formatBytes(res.offer.size)}) to ${to}: file id ${res.id}`)
    if (res.sealed != null) {
      const s = res.sealed
      if (s.state === 'stored') printLine(`${s.to} is offline: the file waits for them at the rendezvous node, sealed to their key`)
      else if (s.state === 'uploading') printLine(`${s.to} is offline: the file goes to the rendezvous node in the background, sealed to their key (see meshchat files)`)
      else printLine(`${s.to} is offline: leaving the file at the rendezvous node was cut (${printableLine(s.error?.message ?? 'unknown', 120)}); it goes on while a device of this home runs`)
    }
    if (!res.servingNow) printLine('it is served while a device of this home runs (meshchat listen, or the chat screen)')
  }
}

export const files: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'files',
  describe: 'File offers and transfers in every conversation, with their state',
  handler: async argv => {
    const list = await withDevice({ home: argv.home, gossip: gossipFrom(argv), catchUp: true, files: filesFrom(argv) }, async api => await api.files())
    if (argv.json) {
      printJson(list)
      return
    }
    if (list.length === 0) {
      printLine('no files yet; offer one with: meshchat send-file <user|#room> <path>')
      return
    }
    for (const line of fileLines(list)) printLine(line)
  }
}

/** `<id>  done        from alice  report.pdf (1.2 MiB)  /home/bob/…/report.pdf`, aligned. */
export function fileLines (list: FileEntry[]): string[] {
  const who = list.map(f => f.direction === 'in' ? `from ${f.from}` : `to ${f.target}`)
  const pct = (bytes: number, size: number): number => size === 0 ? 100 : Math.floor(100 * bytes / size)
  const state = list.map(f => f.state === 'downloading' || f.state === 'paused' ? `${f.state} ${pct(f.bytes, f.size)}%` : f.state)
  const whoWidth = Math.max(...who.map(w => w.length))
  const stateWidth = Math.max(...state.map(s => s.length))
  return list.map((f, i) => {
    const where = f.path == null ? '' : `  ${printableLine(f.path, 200)}`
    const why = f.error == null ? '' : `  (${printableLine(f.error.message, 120)})`
    // the sender's view of a copy left at the rendezvous node for someone offline
    const s = f.sealed
    const error = s?.error == null ? '' : `: ${printableLine(s.error.message, 120)}`
    const node = s == null
      ? ''
      : s.state === 'stored'
        ? `  (waits for ${s.to} at the rendezvous node)`
        : s.state === 'failed'
          ? `  (the rendezvous node refused it${error})`
          : `  (to the rendezvous node for ${s.to}: ${s.state === 'paused' ? 'paused at ' : ''}${pct(s.bytes, f.size)}%${error})`
    return `${f.id}  ${state[i]!.padEnd(stateWidth)}  ${who[i]!.padEnd(whoWidth)}  ${printableLine(f.name, 80)} (${formatBytes(f.size)})${where}${why}${node}`
  })
}

export const get: CommandModule<GlobalArgs, GetArgs> = {
  command: 'get <file>',
  describe: 'Fetch an offered file by its id (see meshchat files); a cut transfer resumes (progress on stderr)',
  builder: y => y
    .positional('file', { type: 'string', demandOption: true, describe: 'The file id (or its sha256)' })
    .option('to', { type: 'string', describe: 'Folder to put it in (default: the files folder of the home)' })
    .option('allow-relay', { type: 'boolean', default: false, describe: 'Let the bytes go through a relay when no direct connection exists' }) as any,
  handler: async argv => {
    const progress = progressPrinter(argv.json)
    let res
    try {
      res = await withDevice({ home: argv.home, gossip: gossipFrom(argv), catchUp: true, files: filesFrom(argv) }, async api => await api.getFile(String(argv.file), {
        ...(argv.to == null ? {} : { to: resolve(String(argv.to)) }),
        allowRelay: argv.allowRelay,
        onProgress: progress.update
      }))
    } finally {
      progress.done()
    }
    if (argv.json) printJson(res)
    else if (res.already) printLine(`already here: ${res.path}`)
    else printLine(`saved ${res.path} (${formatBytes(res.size)}, sha256 verified${res.resumedFrom > 0 ? `, resumed after ${formatBytes(res.resumedFrom)}` : ''})`)
  }
}
