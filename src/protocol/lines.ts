/**
 * Newline-delimited JSON over local sockets and stdin (the device's control socket, `listen
 * --json`, the rendezvous node's admin socket): splitting bytes into bounded lines.
 */
import { createConnection } from 'node:net'
import { StringDecoder } from 'node:string_decoder'

/** Longest command line accepted on stdin or a local control socket. */
export const MAX_COMMAND_BYTES = 128 * 1024

/** Splits a byte stream into lines, refusing any line over MAX_COMMAND_BYTES. */
export function lineReader (onLine: (line: string) => void, onTooLong: () => void): (chunk: Buffer | string) => void {
  // a character cut between two chunks is joined again rather than turned into U+FFFD
  const decoder = new StringDecoder('utf8')
  let buf = ''
  // the rest of a line already refused as too long, up to its newline, is not a line of its own
  let skipping = false
  return chunk => {
    buf += typeof chunk === 'string' ? chunk : decoder.write(chunk)
    let nl
    while ((nl = buf.indexOf('\n')) >= 0) {
      const raw = buf.slice(0, nl)
      buf = buf.slice(nl + 1)
      if (skipping) {
        skipping = false
        continue
      }
      // a long line may arrive whole in one chunk
      if (Buffer.byteLength(raw) > MAX_COMMAND_BYTES) {
        onTooLong()
        continue
      }
      const line = raw.trim()
      if (line !== '') onLine(line)
    }
    if (skipping) {
      buf = ''
    } else if (Buffer.byteLength(buf) > MAX_COMMAND_BYTES) {
      buf = ''
      skipping = true
      onTooLong()
    }
  }
}

/**
 * True when a process answers on the local socket at `path` (a socket file left by a process
 * that died answers nothing): the device's control socket and the node's admin socket use it.
 */
export async function socketAnswers (path: string): Promise<boolean> {
  return await new Promise(resolve => {
    const s = createConnection(path)
    s.once('connect', () => { s.destroy(); resolve(true) })
    s.once('error', () => { resolve(false) })
  })
}
