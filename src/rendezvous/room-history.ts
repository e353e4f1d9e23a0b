/**
 * The recent history the node keeps of each room, written behind the room's traffic: a room
 * message is forwarded as soon as it is valid, and written meanwhile. The write (a read of the
 * room's count, a LevelDB batch, behind every other write of the node's store) used to sit between
 * validation and forwarding, so everyone who got a message through the node waited for it.
 *
 * Writes stay in arrival order (the store's chain), and a history read waits for the writes
 * begun before it, so a device that saw a message and then asks for the room's history finds it.
 * At most MAX_PENDING_ROOM_WRITES are under way: past that (a slow disk) the validator waits for
 * its own write, so gossipsub's queue backs up rather than the node's memory.
 */
import type { Envelope } from '../protocol/index.js'
import type { Logger } from './log.js'
import type { RendezvousState } from '../store/index.js'

export const MAX_PENDING_ROOM_WRITES = 256

export class RoomHistory {
  private pending = 0
  private last: Promise<void> = Promise.resolve()

  constructor (private readonly store: () => RendezvousState, private readonly keep: number, private readonly log: Logger) {}

  /** Starts writing `env` to `room`'s history; resolves at once unless too many writes are under way. */
  async add (room: string, env: Envelope): Promise<void> {
    this.pending++
    const write = this.store().addRoomMessage(room, { sentAt: env.sentAt, id: env.id, envelope: env }, this.keep)
      .catch(err => { this.log.error('room history write failed', { room, error: (err as Error).message }) })
      .finally(() => { this.pending-- })
    this.last = write
    if (this.pending > MAX_PENDING_ROOM_WRITES) await write
  }

  /** Resolves when every write begun so far is done (or failed, which was logged). */
  async settled (): Promise<void> {
    await this.last
  }

  /** Writes under way. */
  get inFlight (): number {
    return this.pending
  }
}
