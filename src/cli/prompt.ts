/** Reading a password: MESHCHAT_PASSWORD, --password-stdin, or a masked prompt on a terminal. */
import { FatalError } from './output.js'

export async function readPassword (options: { passwordStdin?: boolean, prompt?: string }): Promise<string> {
  const fromEnv = process.env.MESHCHAT_PASSWORD
  if (options.passwordStdin === true) return await readStdinLine()
  if (fromEnv != null && fromEnv !== '') return fromEnv
  if (process.stdin.isTTY !== true) {
    throw new FatalError('no password given: use --password-stdin or MESHCHAT_PASSWORD when not on a terminal')
  }
  return await maskedPrompt(options.prompt ?? 'Password: ')
}

async function readStdinLine (): Promise<string> {
  let data = ''
  for await (const chunk of process.stdin) {
    data += (chunk as Buffer).toString()
    const nl = data.indexOf('\n')
    if (nl >= 0) { data = data.slice(0, nl); break }
    if (data.length > 4096) throw new FatalError('password on stdin is too long')
  }
  return data.replace(/\r$/, '')
}

async function maskedPrompt (prompt: string): Promise<string> {
  const stdin = process.stdin
  process.stderr.write(prompt)
  stdin.setRawMode(true)
  stdin.resume()
  return await new Promise((resolve, reject) => {
    let value = ''
    const done = (err?: Error): void => {
      stdin.setRawMode(false)
      stdin.pause()
      stdin.off('data', onData)
      process.stderr.write('\n')
      if (err != null) reject(err)
      else resolve(value)
    }
    const onData = (buf: Buffer): void => {
      for (const ch of buf.toString('utf8')) {
        if (ch === '\r' || ch === '\n') { done(); return }
        if (ch === '\u0003') { done(new FatalError('cancelled', 130)); return }
        if (ch === '\u007f' || ch === '\b') {
          if (value.length > 0) { value = value.slice(0, -1); process.stderr.write('\b \b') }
          continue
        }
        if (ch < ' ') continue
        value += ch
        process.stderr.write('*')
      }
    }
    stdin.on('data', onData)
  })
}
