/** Opening a LevelDB folder with a schema version, so a later release can migrate it. */
import { mkdir } from 'node:fs/promises'
import { Level } from 'level'
import { MeshchatError } from '../protocol/index.js'

export type Db = Level<string, unknown>

/** What reads keys: a LevelDB database or sublevel. */
export interface KeyReader<V> {
  /** 'open' once getSync may be used (a sublevel opens a moment after it is made) */
  readonly status: string
  getMany: (keys: string[]) => Promise<Array<V | undefined>>
  getSync: (key: string) => V | undefined
}

/**
 * Reads of this many keys or fewer are made on the spot (classic-level's getSync) instead of by
 * LevelDB's thread pool. An asynchronous read is two thread hops (to a pool thread and back),
 * and on a busy machine each hop waits to be scheduled: here an awaited getMany of one key took
 * 68–82 µs idle against 6–18 µs for getSync (hit, miss), and every received message reads its id
 * before it is stored, on the way to its ack. Larger reads (an archive page's 500 ids) still go
 * to the pool, where they do not hold up the event loop.
 */
export const SYNC_READ_KEYS = 8

/**
 * Values of `keys` (undefined for missing ones), read synchronously when they are few
 * (SYNC_READ_KEYS) and the store is open; otherwise LevelDB's asynchronous read, which also
 * waits for a store still opening.
 */
export async function readKeys<V> (level: KeyReader<V>, keys: string[]): Promise<Array<V | undefined>> {
  if (keys.length <= SYNC_READ_KEYS && level.status === 'open') return keys.map(k => level.getSync(k))
  return await level.getMany(keys)
}

export class StoreLockedError extends MeshchatError {
  override readonly exitCode = 11
  constructor (message: string) {
    super(message)
    this.name = 'StoreLockedError'
  }
}

/**
 * Opens (creating) the database in `dir` and checks its schema version: a newer one than this
 * release knows is refused rather than misread.
 */
export interface OpenDbOptions {
  lockWaitMs?: number
  /** LevelDB's in-memory write buffer (memtable), bytes; it fills only as far as writes come. @default 4 MiB (LevelDB's) */
  writeBufferBytes?: number
}

export async function openDb (dir: string, kind: string, schemaVersion: number, options: OpenDbOptions = {}): Promise<Db> {
  // another short-lived process (a one-shot command) may hold the folder for a moment: wait for it
  const deadline = Date.now() + (options.lockWaitMs ?? 0)
  for (let delay = 25; ; delay = Math.min(delay * 2, 250)) {
    try {
      return await openOnce(dir, kind, schemaVersion, options.writeBufferBytes)
    } catch (err) {
      if (!(err instanceof StoreLockedError) || Date.now() + delay > deadline) throw err
      await new Promise(resolve => setTimeout(resolve, delay))
    }
  }
}

async function openOnce (dir: string, kind: string, schemaVersion: number, writeBufferBytes?: number): Promise<Db> {
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const db = new Level<string, unknown>(dir, { valueEncoding: 'json', ...(writeBufferBytes == null ? {} : { writeBufferSize: writeBufferBytes }) })
  try {
    await db.open()
  } catch (err: unknown) {
    const cause = (err as { cause?: { code?: string } }).cause
    if ((err as { code?: string }).code === 'LEVEL_DATABASE_NOT_OPEN' && cause?.code === 'LEVEL_LOCKED') {
      throw new StoreLockedError(`the data folder ${dir} is in use by another meshchat process`)
    }
    throw err
  }
  const meta = db.sublevel<string, unknown>('meta', { valueEncoding: 'json' })
  const found = await meta.get('schema') as { kind: string, version: number } | undefined
  if (found == null) {
    await meta.put('schema', { kind, version: schemaVersion })
  } else if (found.kind !== kind) {
    await db.close()
    throw new MeshchatError(`${dir} holds a ${found.kind} database, not a ${kind} one`)
  } else if (found.version > schemaVersion) {
    await db.close()
    throw new MeshchatError(`${dir} was written by a newer meshchat (schema ${found.version}); upgrade meshchat`)
  }
  return db
}
