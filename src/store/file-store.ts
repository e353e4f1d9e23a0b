/**
 * A device's records about files (issue 9), in its history database: every file offer it has
 * seen (indexed by message id and by content), the files it shares (what it may serve, and to
 * which conversations), and its transfers, with the count of chunks verified and on disk so a
 * killed process resumes where it stopped. The bytes live in files, never in LevelDB.
 */
import type { Db } from './db.js'
import type { FileOffer } from '../protocol/index.js'
import type { BatchOperation } from 'level'

/** A file offer as seen in a conversation (the message's fields a file list needs). */
export interface OfferRecord {
  /** The offer message's id: what `meshchat get <id>` names. */
  id: string
  conv: string
  author: string
  /** The author's device that offered it (it holds the file). */
  device: string
  sentAt: number
  offer: FileOffer
}

/** A file this device serves: its own offers, and files it received completely (rooms). */
export interface ShareRecord {
  sha256: string
  /** Absolute path of the file on this device. */
  path: string
  size: number
  /** mtime when it was hashed: a file changed since is refused, not served. */
  mtimeMs: number
  chunkSize: number
  chunks: number
  /** Conversations it was offered in: who may fetch it. */
  convs: string[]
  sharedAt: number
}

export type TransferState = 'downloading' | 'paused' | 'waiting-direct' | 'done' | 'failed'

/** A download into this device, keyed by content: two offers of one file share it. */
export interface TransferRecord {
  sha256: string
  /** The offer message it started from. */
  id: string
  conv: string
  from: string
  name: string
  size: number
  chunkSize: number
  chunks: number
  /** The offer's manifest: a partial file is resumed only for an offer with the same one. */
  manifest?: string
  /** Chunks 0 … done - 1 are verified and on disk (fsynced) in the partial file. */
  done: number
  state: TransferState
  /** The folder it goes to once complete. */
  dir: string
  /** Where it is, once done. */
  path?: string
  /** Why it is paused, waiting or failed. */
  error?: { name: string, message: string }
  startedAt: number
  updatedAt: number
}

/**
 * A sealed upload's state at this device: uploading (now, or cut by a killed process), paused
 * (cut; it goes on when the rendezvous node is reachable), stored (the node holds every part),
 * failed (refused by the node: quota, size; not retried by itself).
 */
export type UploadState = 'uploading' | 'paused' | 'stored' | 'failed'

/**
 * A file this device leaves at the rendezvous node, sealed to `to`'s account key, because no
 * device of theirs was online (issue 9, "to someone offline"). Kept so that an upload cut by a
 * restart goes on from what the node holds.
 */
export interface UploadRecord {
  sha256: string
  /** The recipient account. */
  to: string
  conv: string
  name: string
  size: number
  chunkSize: number
  chunks: number
  state: UploadState
  /** Parts (the manifest and every chunk: chunks + 1 in all) the node held when last heard. */
  stored: number
  /** Why it is paused or failed. */
  error?: { name: string, message: string }
  startedAt: number
  updatedAt: number
}

type Op = BatchOperation<Db, string, unknown>

/**
 * Layout:
 * - `fileoffer!<message id>` → OfferRecord (written in the same batch as the message)
 * - `filesha!<sha256>!<message id>` → '' (offers by content)
 * - `share!<sha256>` → ShareRecord
 * - `xfer!<sha256>` → TransferRecord
 * - `upload!<to>!<sha256>` → UploadRecord
 */
export class FileStore {
  private readonly offers
  private readonly bySha
  private readonly shares
  private readonly transfers
  private readonly uploads

  constructor (private readonly db: Db) {
    this.offers = db.sublevel<string, OfferRecord>('fileoffer', { valueEncoding: 'json' })
    this.bySha = db.sublevel<string, string>('filesha', { valueEncoding: 'json' })
    this.shares = db.sublevel<string, ShareRecord>('share', { valueEncoding: 'json' })
    this.transfers = db.sublevel<string, TransferRecord>('xfer', { valueEncoding: 'json' })
    this.uploads = db.sublevel<string, UploadRecord>('upload', { valueEncoding: 'json' })
  }

  /** The writes that index an offer; the message store adds them to the message's own batch. */
  indexOps (rec: OfferRecord): Op[] {
    return [
      { type: 'put', sublevel: this.offers, key: rec.id, value: rec } as unknown as Op,
      { type: 'put', sublevel: this.bySha, key: `${rec.offer.sha256}!${rec.id}`, value: '' } as unknown as Op
    ]
  }

  async offer (id: string): Promise<OfferRecord | undefined> {
    return await this.offers.get(id)
  }

  /** Offers of the file with this content, oldest message id order (at most `limit`). */
  async offersOf (sha256: string, limit = 100): Promise<OfferRecord[]> {
    const ids = (await this.bySha.keys({ gt: `${sha256}!`, lt: `${sha256}"`, limit }).all()).map(k => k.slice(sha256.length + 1))
    return (await this.offers.getMany(ids)).filter((r): r is OfferRecord => r != null)
  }

  /** Every offer seen (at most `limit`). */
  async allOffers (limit = 10_000): Promise<OfferRecord[]> {
    return await this.offers.values({ limit }).all()
  }

  async share (sha256: string): Promise<ShareRecord | undefined> {
    return await this.shares.get(sha256)
  }

  async putShare (rec: ShareRecord): Promise<void> {
    await this.shares.put(rec.sha256, rec)
  }

  async deleteShare (sha256: string): Promise<void> {
    await this.shares.del(sha256)
  }

  async allShares (limit = 10_000): Promise<ShareRecord[]> {
    return await this.shares.values({ limit }).all()
  }

  async transfer (sha256: string): Promise<TransferRecord | undefined> {
    return await this.transfers.get(sha256)
  }

  async putTransfer (rec: TransferRecord): Promise<void> {
    await this.transfers.put(rec.sha256, rec)
  }

  async deleteTransfer (sha256: string): Promise<void> {
    await this.transfers.del(sha256)
  }

  async allTransfers (limit = 10_000): Promise<TransferRecord[]> {
    return await this.transfers.values({ limit }).all()
  }

  async upload (to: string, sha256: string): Promise<UploadRecord | undefined> {
    return await this.uploads.get(`${to}!${sha256}`)
  }

  async putUpload (rec: UploadRecord): Promise<void> {
    await this.uploads.put(`${rec.to}!${rec.sha256}`, rec)
  }

  async deleteUpload (to: string, sha256: string): Promise<void> {
    await this.uploads.del(`${to}!${sha256}`)
  }

  async allUploads (limit = 10_000): Promise<UploadRecord[]> {
    return await this.uploads.values({ limit }).all()
  }
}
