/** Entry points the CLI calls: the chat screen and the login form, each on the real terminal. */
import { render } from 'ink'
import { App } from './components/App.js'
import { LoginForm } from './components/LoginForm.js'
import type { ChatPort } from './port.js'
import type { LoginValues } from './components/LoginForm.js'

/** Shows the chat screen until the person quits. */
export async function runChat (port: ChatPort, options: { onLogout?: () => Promise<void> } = {}): Promise<void> {
  const app = render(<App port={port} {...(options.onLogout == null ? {} : { onLogout: options.onLogout })} />, { exitOnCtrlC: false, patchConsole: false })
  await app.waitUntilExit()
  app.cleanup()
}

/** Shows the login form; resolves once `attempt` succeeded, or with false when the person gave up. */
export async function runLoginForm (initial: Partial<LoginValues>, attempt: (values: LoginValues) => Promise<void>): Promise<boolean> {
  let done = false
  const app = render(<LoginForm initial={initial} onSubmit={async v => { await attempt(v); done = true }} onCancel={() => {}} />, { exitOnCtrlC: false, patchConsole: false })
  await app.waitUntilExit()
  app.cleanup()
  return done
}

export type { ChatPort, LoginValues }
