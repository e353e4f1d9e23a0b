/** Printing results (text or JSON) and turning errors into one line and an exit code. */
import { MeshchatError, printable } from '../protocol/index.js'

export function printJson (value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`)
}

export function printLine (line: string): void {
  process.stdout.write(`${line}\n`)
}

/** An error that ends the program with a given exit code (bad usage is 2). */
export class FatalError extends MeshchatError {
  constructor (message: string, override readonly exitCode = 2) {
    super(message)
    this.name = 'FatalError'
  }
}

/** One line on stderr, never a stack trace unless --debug; returns the exit code. */
export function reportError (err: unknown, debug: boolean): number {
  if (err instanceof MeshchatError) {
    process.stderr.write(`meshchat: ${err.message}\n`)
    if (debug && err.stack != null) process.stderr.write(`${err.stack}\n`)
    return err.exitCode
  }
  const e = err as Error
  process.stderr.write(`meshchat: unexpected error: ${(e?.message ?? String(err)).split('\n')[0]}${debug ? '' : ' (run with --debug for details)'}\n`)
  if (debug && e?.stack != null) process.stderr.write(`${e.stack}\n`)
  return 1
}

export function formatTime (ms: number): string {
  const d = new Date(ms)
  return d.toTimeString().slice(0, 8)
}

/** "3 min ago", "2 h ago", or a date for older times. */
export function formatAgo (ms: number | null, now = Date.now()): string {
  if (ms == null) return 'never'
  const s = Math.max(0, Math.round((now - ms) / 1000))
  if (s < 60) return `${s} s ago`
  if (s < 3600) return `${Math.round(s / 60)} min ago`
  if (s < 86400) return `${Math.round(s / 3600)} h ago`
  return new Date(ms).toISOString().slice(0, 10)
}

/**
 * Text someone else wrote (a request, a profile), on one line of a table: whitespace runs become
 * one space, control characters `?`, and it is cut at `max` characters.
 */
export function printableLine (text: string, max = 80): string {
  return printable(text.replace(/\s+/g, ' ').trim(), max)
}
