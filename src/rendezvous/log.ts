/** Structured logs for the rendezvous node: one JSON object a line, with a level filter. */

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent'
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 }

export interface Logger {
  debug: (msg: string, fields?: Record<string, unknown>) => void
  info: (msg: string, fields?: Record<string, unknown>) => void
  warn: (msg: string, fields?: Record<string, unknown>) => void
  error: (msg: string, fields?: Record<string, unknown>) => void
}

export function jsonLogger (level: LogLevel = 'info', write: (line: string) => void = line => process.stderr.write(line)): Logger {
  const at = ORDER[level]
  const emit = (l: LogLevel) => (msg: string, fields: Record<string, unknown> = {}): void => {
    if (ORDER[l] < at) return
    write(`${JSON.stringify({ ts: new Date().toISOString(), level: l, msg, ...fields })}\n`)
  }
  return { debug: emit('debug'), info: emit('info'), warn: emit('warn'), error: emit('error') }
}

export const silentLogger: Logger = jsonLogger('silent')
