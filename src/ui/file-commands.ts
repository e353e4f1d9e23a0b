/**
 * Carrying out `/send`, `/get` and `/files` (issue 9): each transfer runs in the background (the
 * composer stays usable), reports back as actions, and a failure is the one-line error on the
 * status line. Progress comes as the client's `file` events, which the cards show.
 */
import { homedir } from 'node:os'
import { basename } from 'node:path'
import { expandHome, offerToGet } from './files.js'
import type { CommandContext } from './commands.js'
import type { ChatPort } from './port.js'
import type { SlashCommand } from './slash.js'

export type FileCommand = Extract<SlashCommand, { cmd: 'send' | 'get' | 'files' }>

export function isFileCommand (c: SlashCommand): c is FileCommand {
  return c.cmd === 'send' || c.cmd === 'get' || c.cmd === 'files'
}

let sendCount = 0

/** Loads every offer afresh into the state (after a transfer settled, or for `/files`). */
function reloadFiles (ctx: CommandContext, then?: () => void): void {
  const { port, act } = ctx
  if (port.files == null) { then?.(); return }
  port.files().then(list => {
    act.dispatch({ type: 'files', list })
    then?.()
  }, act.fail)
}

function need<K extends 'sendFile' | 'getFile' | 'files'> (port: ChatPort, method: K, what: string): asserts port is ChatPort & Required<Pick<ChatPort, K>> {
  if (port[method] == null) throw new Error(`this client cannot ${what}`)
}

/**
 * Runs a file command. `home` is where `~` points (the person's home folder unless a test says
 * otherwise).
 */
export function runFileCommand (c: FileCommand, ctx: CommandContext, home: string = homedir()): void {
  const { port, state, act } = ctx
  const info = (text: string): void => { act.dispatch({ type: 'notice', notice: { text, kind: 'info' } }) }
  try {
    switch (c.cmd) {
      case 'send': {
        const target = state.selected
        if (target == null) throw new Error('open a conversation first, then /send <path>')
        need(port, 'sendFile', 'send files')
        const path = expandHome(c.path, home)
        const key = `${Date.now().toString(36)}-${++sendCount}`
        const name = basename(path)
        const startedAt = Date.now()
        let ended = false
        act.dispatch({ type: 'send-progress', send: { key, target, name, size: 0, bytes: 0, startedAt } })
        port.sendFile(target, path, {
          onProgress: p => {
            if (!ended) act.dispatch({ type: 'send-progress', send: { key, target, name, size: p.total, bytes: p.bytes, startedAt, ...(p.phase === 'uploading' ? { phase: 'uploading' as const } : {}) } })
          }
        }).then(res => {
          ended = true
          act.dispatch({ type: 'send-end', key })
          info(`offered ${res.offer.name} to ${target}`)
          // the offer's state here (shared, served from this device)
          reloadFiles(ctx)
        }, err => {
          ended = true
          act.dispatch({ type: 'send-end', key })
          act.fail(err)
        })
        return
      }
      case 'get': {
        need(port, 'getFile', 'fetch files')
        let ref = c.id
        let name: string | undefined
        if (ref == null) {
          const target = state.selected
          if (target == null) throw new Error('open a conversation first, or /get <file-id> (/files lists them)')
          const offer = offerToGet(state.me, target, state.messages[target] ?? [], state.files)
          if (offer == null) throw new Error(`no file offered to you in ${target}; /files lists every offer`)
          ref = offer.id
          name = offer.name
        }
        info(`fetching ${name ?? ref}…`)
        port.getFile(ref, c.relay === true ? { allowRelay: true } : {}).then(res => {
          info(res.already ? `${res.name} is here already: ${res.path}` : `${res.name} is verified and saved to ${res.path}`)
          reloadFiles(ctx)
        }, err => {
          act.fail(err)
          // the card says why (failed, paused, waiting for a direct connection)
          reloadFiles(ctx)
        })
        return
      }
      case 'files':
        need(port, 'files', 'list files')
        reloadFiles(ctx, () => { act.dispatch({ type: 'overlay', overlay: 'files' }) })
    }
  } catch (err) {
    act.fail(err)
  }
}
