/**
 * Driving the real `meshchat` in a pseudo-terminal, as a person does: each pane runs in its own
 * tmux server (a private socket), keys go in with send-keys and the screen comes back with
 * capture-pane. Tests that need it skip, visibly, where tmux is not installed.
 */
import { execFile, execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { MESHCHAT_BIN } from './processes.js'

/** How long `waitFor` watches the screen. @default 10000 */
export const DEFAULT_SCREEN_WAIT_MS = 10_000

export function tmuxAvailable (): boolean {
  try {
    execFileSync('tmux', ['-V'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

async function tmux (socket: string, args: string[]): Promise<string> {
  return await new Promise((resolve, reject) => {
    execFile('tmux', ['-L', socket, ...args], { timeout: 5_000 }, (err, stdout) => {
      if (err != null) reject(err)
      else resolve(stdout)
    })
  })
}

export interface PaneOptions {
  columns?: number
  rows?: number
  /** Environment of the program (MESHCHAT_* included); TERM is xterm-256color. */
  env?: Record<string, string>
}

/** One terminal running `meshchat <args>`. */
export class TerminalPane {
  private readonly socket = `meshchat-test-${randomBytes(4).toString('hex')}`
  private started = false

  constructor (private readonly args: string[], private readonly options: PaneOptions = {}) {}

  async start (): Promise<this> {
    // a clean environment, as in a fresh terminal: Ink draws only a last frame when it sees CI
    // variables (CI=true in CI runs), and a developer's MESHCHAT_* settings must not leak in
    const env = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? '/tmp',
      LANG: 'C.UTF-8',
      ...this.options.env,
      TERM: 'xterm-256color'
    }
    const exports = Object.entries(env).map(([k, v]) => `${k}=${shellQuote(v)}`).join(' ')
    const command = `env -i ${exports} ${shellQuote(process.execPath)} ${shellQuote(MESHCHAT_BIN)} ${this.args.map(shellQuote).join(' ')}; echo "[exited $?]"; sleep 30`
    await tmux(this.socket, ['new-session', '-d', '-x', String(this.options.columns ?? 80), '-y', String(this.options.rows ?? 24), command])
    this.started = true
    return this
  }

  /** The screen as text, one string a row. */
  async screen (): Promise<string> {
    return await tmux(this.socket, ['capture-pane', '-p'])
  }

  /** Types text literally (no key names). */
  async type (text: string): Promise<void> {
    await tmux(this.socket, ['send-keys', '-l', text])
  }

  /** Presses keys by tmux name: Enter, Escape, Tab, C-n, PPage, … */
  async press (...keys: string[]): Promise<void> {
    await tmux(this.socket, ['send-keys', ...keys])
  }

  /** Waits until the screen matches; the error shows the last screen. */
  async waitFor (pred: (screen: string) => boolean, what: string, timeoutMs = DEFAULT_SCREEN_WAIT_MS): Promise<string> {
    const deadline = Date.now() + timeoutMs
    let last = ''
    // the bottom lines seen meanwhile (notices come and go there), for the error
    const bottoms: string[] = []
    while (Date.now() < deadline) {
      last = await this.screen()
      if (pred(last)) return last
      const bottom = last.trimEnd().split('\n').at(-1)?.trim() ?? ''
      if (bottom !== '' && bottoms.at(-1) !== bottom && bottoms.length < 20) bottoms.push(bottom)
      await new Promise(resolve => setTimeout(resolve, 50))
    }
    throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; the bottom line went ${bottoms.map(b => JSON.stringify(b)).join(' → ')}; the screen was:\n${last}`)
  }

  /**
   * Waits until the program takes keys: a program shows its first screen a moment before it puts
   * the terminal in raw mode, and keys typed in between are lost or come late. Types a probe
   * character until it shows after `inputPrefix` (the end of the input line's label, e.g. '› '),
   * then erases every probe typed.
   */
  async ready (inputPrefix: string, timeoutMs = DEFAULT_SCREEN_WAIT_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs
    const probe = '¤'
    let typed = 0
    while (Date.now() < deadline) {
      await this.type(probe)
      typed++
      try {
        await this.waitFor(s => s.includes(`${inputPrefix}${probe}`), 'the probe', 500)
      } catch {
        continue
      }
      // a probe typed before raw mode, or while the program was busy, may show later than the
      // one seen: one backspace for every probe typed, all of them after the last probe (a
      // backspace on an empty line does nothing), then wait until none is left on the screen.
      // (Erasing only those seen left a late one in the line, typed in front of the test's text.)
      for (let k = 0; k < typed; k++) await this.press('BSpace')
      await this.waitFor(s => !s.includes(probe), 'the probes erased', Math.max(2_000, deadline - Date.now()))
      return
    }
    throw new Error(`the program took no keys within ${timeoutMs} ms; the screen was:\n${await this.screen()}`)
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    await tmux(this.socket, ['kill-server']).catch(() => {})
  }
}

function shellQuote (s: string): string {
  return `'${s.replace(/'/g, "'\\''")}'`
}
