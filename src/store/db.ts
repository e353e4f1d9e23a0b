/** Opening a LevelDB folder with a schema version, so a later release can migrate it. */
import { mkdir } from 'node:fs/promises'
import { Level } from 'level'
import { MeshchatError } from '../protocol/index.js'

export type Db = Level<string, unknown>

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
