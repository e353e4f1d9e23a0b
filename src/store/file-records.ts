/**
 * The rendezvous node's records of files waiting for accounts (issue 9): one record per upload
 * (recipient, sender, sha256), one key per sealed part stored on disk, and per-account byte totals.
 * The sealed bytes themselves live in files (src/rendezvous/files.ts), never in LevelDB.
 *
 * A file's whole sealed size is reserved in the recipient's and the sender's totals when its
 * record is made, in the same batch, so a quota is checked once, before anything is written, and
 * no crash can leave a total out of step with the records.
 */
import type { Db } from './db.js'

export interface FileRecord {
  to: string
  from: string
  sha256: string
  size: number
  chunkSize: number
  chunks: number
  createdAt: number
  /** Sealed bytes of the whole file (every chunk and the manifest): what it counts against quotas. */
  bytes: number
  /** Parts stored so far: chunks and the manifest (complete at `chunks + 1`). */
  stored: number
}

/** Bytes reserved by files waiting for an account (`inbound`, and how many files) and sent by it (`outbound`). */
export interface FileUsage {
  inbound: number
  files: number
  outbound: number
}

export interface FileLimits {
  /** Most sealed bytes waiting for one recipient. */
  inbound: number
  /** Most sealed bytes one sender may have waiting, for all recipients together. */
  outbound: number
  /** Most files waiting for one recipient. */
  files: number
}

export type AddFileResult =
  | { added: true, record: FileRecord }
  | { added: false, record: FileRecord }
  | { added: false, full: 'inbound' | 'outbound' | 'files', usage: FileUsage }

/** A part key: a chunk index, or `manifest`. */
export type PartName = number | 'manifest'

export interface FileRecordStore {
  get: (to: string, from: string, sha256: string) => Promise<FileRecord | undefined>
  /** Makes the record and reserves its bytes when they fit the limits; an existing record is returned as it is. */
  add: (record: Omit<FileRecord, 'stored'>, limits: FileLimits) => Promise<AddFileResult>
  /** Notes a part as stored (its file is on disk); `added` is false when it was there already, undefined when the record is gone. */
  addPart: (to: string, from: string, sha256: string, part: PartName, bytes: number) => Promise<{ added: boolean, record: FileRecord } | undefined>
  /** Forgets a part whose file went missing. */
  removePart: (to: string, from: string, sha256: string, part: PartName) => Promise<void>
  /** The sealed length of a stored part, or undefined. */
  part: (to: string, from: string, sha256: string, part: PartName) => Promise<number | undefined>
  parts: (to: string, from: string, sha256: string) => Promise<PartName[]>
  /** Files waiting for `to`, oldest upload first by sender and hash. */
  listFor: (to: string, limit: number) => Promise<FileRecord[]>
  /** Every record (for retention and the startup check). */
  listAll: () => Promise<FileRecord[]>
  /** Deletes the record, its parts and its reservation in one batch; the removed record, if any. */
  remove: (to: string, from: string, sha256: string) => Promise<FileRecord | undefined>
  usage: (user: string) => Promise<FileUsage>
  /** Rebuilds every total from the records (a safety net run at startup). */
  recount: () => Promise<void>
  /** Resolves when no write is pending. */
  settled: () => Promise<void>
}

const pad = (n: number): string => n.toString().padStart(8, '0')
const partKey = (to: string, from: string, sha256: string, part: PartName): string => `${to}!${from}!${sha256}!${part === 'manifest' ? 'm' : pad(part)}`
const recordKey = (to: string, from: string, sha256: string): string => `${to}!${from}!${sha256}`
type BatchOps = Array<{ type: 'put', key: string, value: unknown } | { type: 'del', key: string }>

/** LevelDB layout: `frec!<to>!<from>!<sha256>`, `fpart!<to>!<from>!<sha256>!<part>`, `fin!<user>`, `fout!<user>`. */
export class LevelFileRecords implements FileRecordStore {
  private readonly records
  private readonly partKeys
  private readonly inbound
  private readonly outbound
  private chain: Promise<unknown> = Promise.resolve()

  constructor (private readonly db: Db) {
    this.records = db.sublevel<string, FileRecord>('frec', { valueEncoding: 'json' })
    this.partKeys = db.sublevel<string, number>('fpart', { valueEncoding: 'json' })
    this.inbound = db.sublevel<string, { bytes: number, files: number }>('fin', { valueEncoding: 'json' })
    this.outbound = db.sublevel<string, number>('fout', { valueEncoding: 'json' })
  }

  private serial<T> (fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn)
    this.chain = next.catch(() => {})
    return next
  }

  async settled (): Promise<void> {
    await this.chain
  }

  async get (to: string, from: string, sha256: string): Promise<FileRecord | undefined> {
    return await this.records.get(recordKey(to, from, sha256))
  }

  async usage (user: string): Promise<FileUsage> {
    const inbound = await this.inbound.get(user)
    return { inbound: inbound?.bytes ?? 0, files: inbound?.files ?? 0, outbound: await this.outbound.get(user) ?? 0 }
  }

  async add (fields: Omit<FileRecord, 'stored'>, limits: FileLimits): Promise<AddFileResult> {
    return await this.serial(async () => {
      const found = await this.get(fields.to, fields.from, fields.sha256)
      if (found != null) return { added: false, record: found }
      const to = await this.usage(fields.to)
      const from = fields.from === fields.to ? to : await this.usage(fields.from)
      if (to.files + 1 > limits.files) return { added: false, full: 'files', usage: to }
      if (to.inbound + fields.bytes > limits.inbound) return { added: false, full: 'inbound', usage: to }
      if (from.outbound + fields.bytes > limits.outbound) return { added: false, full: 'outbound', usage: from }
      const record: FileRecord = { ...fields, stored: 0 }
      await this.db.batch([
        { type: 'put', sublevel: this.records, key: recordKey(fields.to, fields.from, fields.sha256), value: record },
        { type: 'put', sublevel: this.inbound, key: fields.to, value: { bytes: to.inbound + fields.bytes, files: to.files + 1 } },
        { type: 'put', sublevel: this.outbound, key: fields.from, value: from.outbound + fields.bytes }
      ] as unknown as BatchOps)
      return { added: true, record }
    })
  }

  async addPart (to: string, from: string, sha256: string, part: PartName, bytes: number): Promise<{ added: boolean, record: FileRecord } | undefined> {
    return await this.serial(async () => {
      const record = await this.get(to, from, sha256)
      if (record == null) return undefined
      const key = partKey(to, from, sha256, part)
      if (await this.partKeys.get(key) != null) return { added: false, record }
      const next = { ...record, stored: record.stored + 1 }
      await this.db.batch([
        { type: 'put', sublevel: this.partKeys, key, value: bytes },
        { type: 'put', sublevel: this.records, key: recordKey(to, from, sha256), value: next }
      ] as unknown as BatchOps)
      return { added: true, record: next }
    })
  }

  async removePart (to: string, from: string, sha256: string, part: PartName): Promise<void> {
    await this.serial(async () => {
      const record = await this.get(to, from, sha256)
      const key = partKey(to, from, sha256, part)
      if (record == null || await this.partKeys.get(key) == null) return
      await this.db.batch([
        { type: 'del', sublevel: this.partKeys, key },
        { type: 'put', sublevel: this.records, key: recordKey(to, from, sha256), value: { ...record, stored: Math.max(0, record.stored - 1) } }
      ] as unknown as BatchOps)
    })
  }

  async part (to: string, from: string, sha256: string, part: PartName): Promise<number | undefined> {
    return await this.partKeys.get(partKey(to, from, sha256, part))
  }

  async parts (to: string, from: string, sha256: string): Promise<PartName[]> {
    const prefix = `${recordKey(to, from, sha256)}!`
    const keys = await this.partKeys.keys({ gt: prefix, lt: `${prefix}\xff` }).all()
    return keys.map(k => {
      const name = k.slice(prefix.length)
      return name === 'm' ? 'manifest' : Number(name)
    })
  }

  async listFor (to: string, limit: number): Promise<FileRecord[]> {
    return await this.records.values({ gt: `${to}!`, lt: `${to}!\xff`, limit }).all()
  }

  async listAll (): Promise<FileRecord[]> {
    return await this.records.values().all()
  }

  async remove (to: string, from: string, sha256: string): Promise<FileRecord | undefined> {
    return await this.serial(async () => {
      const record = await this.get(to, from, sha256)
      if (record == null) return undefined
      const prefix = `${recordKey(to, from, sha256)}!`
      const parts = await this.partKeys.keys({ gt: prefix, lt: `${prefix}\xff` }).all()
      const inbound = await this.usage(to)
      const outbound = from === to ? inbound : await this.usage(from)
      await this.db.batch([
        { type: 'del', sublevel: this.records, key: recordKey(to, from, sha256) },
        ...parts.map(key => ({ type: 'del', sublevel: this.partKeys, key })),
        { type: 'put', sublevel: this.inbound, key: to, value: { bytes: Math.max(0, inbound.inbound - record.bytes), files: Math.max(0, inbound.files - 1) } },
        // a file sent to oneself was counted in both totals of the same account
        { type: 'put', sublevel: this.outbound, key: from, value: Math.max(0, outbound.outbound - record.bytes) }
      ] as unknown as BatchOps)
      return record
    })
  }

  async recount (): Promise<void> {
    await this.serial(async () => {
      const inbound = new Map<string, { bytes: number, files: number }>()
      const outbound = new Map<string, number>()
      for (const r of await this.records.values().all()) {
        const i = inbound.get(r.to) ?? { bytes: 0, files: 0 }
        inbound.set(r.to, { bytes: i.bytes + r.bytes, files: i.files + 1 })
        outbound.set(r.from, (outbound.get(r.from) ?? 0) + r.bytes)
      }
      const ops: unknown[] = []
      for (const key of await this.inbound.keys().all()) if (!inbound.has(key)) ops.push({ type: 'del', sublevel: this.inbound, key })
      for (const key of await this.outbound.keys().all()) if (!outbound.has(key)) ops.push({ type: 'del', sublevel: this.outbound, key })
      for (const [key, value] of inbound) ops.push({ type: 'put', sublevel: this.inbound, key, value })
      for (const [key, value] of outbound) ops.push({ type: 'put', sublevel: this.outbound, key, value })
      if (ops.length > 0) await this.db.batch(ops as BatchOps)
    })
  }
}
