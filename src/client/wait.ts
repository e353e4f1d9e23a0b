/** Waiting in the client core: pauses that end early when the client stops. */

/**
 * Waits `ms`, or less when `signal` aborts first (it resolves then, never rejects). Its abort
 * listener goes when the time is up: a long-lived signal (the client's stop signal, a send's
 * timeout) sees many of these waits, and each one left behind would stay until it aborts.
 */
export async function sleep (ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return
  await new Promise<void>(resolve => {
    const done = (): void => {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    signal.addEventListener('abort', done, { once: true })
  })
}
