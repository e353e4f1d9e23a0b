/** A read-through, write-through cache of small LevelDB records (the client's and the node's stores). */
import { readKeys } from './db.js'
import type { KeyReader } from './db.js'

/** Records a cache keeps by default (least recently set go first). */
export const RECORD_CACHE_ENTRIES = 10_000
/** Keys read from disk per request. */
const CHUNK = 500

/**
 * Small records kept in memory after their first read, and what is known to be missing. Written
 * through: the store updates an entry only once the batch that writes it is on disk. The process
 * that opened the store is its only writer (LevelDB's lock), so memory and disk agree. Readers
 * get copies: the store builds a batch by changing what it read.
 */
export class RecordCache<V> {
  private readonly map = new Map<string, V | null>()
  /** Writes so far: a read that was out while one happened is not kept (the written entry may have been evicted). */
  private writes = 0

  constructor (private readonly sublevel: KeyReader<V>, private readonly max = RECORD_CACHE_ENTRIES) {}

  async getMany (keys: string[]): Promise<Array<V | undefined>> {
    const found = new Map<string, V | null>()
    const missing: string[] = []
    for (const k of keys) {
      const v = this.map.get(k)
      if (v === undefined) missing.push(k)
      else found.set(k, v)
    }
    for (let i = 0; i < missing.length; i += CHUNK) {
      const slice = missing.slice(i, i + CHUNK)
      const writes = this.writes
      const read = await readKeys(this.sublevel, slice)
      const raced = this.writes !== writes
      slice.forEach((k, j) => {
        // a write committed while this read was out wins over what was read, and then what was
        // read is answered but not kept
        const v = this.map.has(k) ? this.map.get(k)! : read[j] ?? null
        if (!raced) this.set(k, v ?? undefined)
        found.set(k, v)
      })
    }
    return keys.map(k => copyOf(found.get(k) ?? undefined))
  }

  async get (key: string): Promise<V | undefined> {
    return (await this.getMany([key]))[0]
  }

  /** What a committed write put under `key` (undefined: deleted). */
  written (key: string, value: V | undefined): void {
    this.writes++
    this.set(key, value)
  }

  private set (key: string, value: V | undefined): void {
    this.map.delete(key)
    this.map.set(key, value ?? null)
    if (this.map.size > this.max) this.map.delete(this.map.keys().next().value!)
  }
}

function copyOf<V> (value: V | undefined): V | undefined {
  return value != null && typeof value === 'object' ? { ...value } : value
}
