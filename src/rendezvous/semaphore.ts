import { ServerBusyError } from '../protocol/index.js'

/** Runs at most `limit` tasks at once with a bounded queue; a full queue refuses at once. */
export class Semaphore {
  private active = 0
  private readonly waiting: Array<() => void> = []

  constructor (private readonly limit: number, private readonly maxQueue: number) {}

  async run<T> (fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) {
      if (this.waiting.length >= this.maxQueue) {
        throw new ServerBusyError('server busy, try again shortly')
      }
      // the finishing task hands its slot over without releasing it
      await new Promise<void>(resolve => this.waiting.push(resolve))
    } else {
      this.active++
    }
    try {
      return await fn()
    } finally {
      const next = this.waiting.shift()
      if (next != null) next()
      else this.active--
    }
  }
}
