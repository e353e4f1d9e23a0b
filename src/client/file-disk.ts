/**
 * Files on disk for issue 9: hashing a file chunk by chunk (the offer's sha256 and manifest),
 * checking a finished download from disk, positioned writes that report a full disk clearly, and
 * moving a verified file into its folder without ever overwriting one. Every read goes through
 * one reused buffer, so memory stays flat whatever the file's size.
 */
import { createHash } from 'node:crypto'
import { constants as fsConstants } from 'node:fs'
import { copyFile, link, lstat, mkdir, open, rename, rm, statfs, unlink } from 'node:fs/promises'
import { basename, extname, join } from 'node:path'
import { CHUNK_HASH_BYTES, DiskFullError, MAX_FILE_NAME_BYTES, TimeoutError, chunkLength } from '../protocol/index.js'
import type { FileHandle } from 'node:fs/promises'

export interface Hashed {
  sha256: string
  /** Every chunk's sha256, concatenated (chunks × 32 bytes). */
  hashes: Buffer
  /** sha256 of `hashes`: what the offer names. */
  manifest: string
}

/** Reads exactly `length` bytes at `position` into `buf` (a short read means the file shrank). */
export async function readFully (fd: FileHandle, buf: Buffer, offset: number, length: number, position: number): Promise<void> {
  let got = 0
  while (got < length) {
    const { bytesRead } = await fd.read(buf, offset + got, length - got, position + got)
    if (bytesRead === 0) throw new Error('the file is shorter than it was')
    got += bytesRead
  }
}

/**
 * The sha256 of a whole file and of each of its chunks, read once, chunk by chunk, into one
 * buffer. `onProgress` gets the bytes hashed so far after each chunk.
 */
export async function hashFile (path: string, size: number, chunkSize: number, onProgress?: (bytes: number) => void, signal?: AbortSignal): Promise<Hashed> {
  const chunks = Math.ceil(size / chunkSize)
  const whole = createHash('sha256')
  const hashes = Buffer.alloc(chunks * CHUNK_HASH_BYTES)
  const fd = await open(path, 'r')
  try {
    const buf = Buffer.allocUnsafe(Math.min(chunkSize, Math.max(size, 1)))
    for (let i = 0; i < chunks; i++) {
      if (signal?.aborted === true) throw new TimeoutError('hashing was stopped')
      const len = chunkLength({ size, chunkSize }, i)
      await readFully(fd, buf, 0, len, i * chunkSize)
      const piece = buf.subarray(0, len)
      whole.update(piece)
      createHash('sha256').update(piece).digest().copy(hashes, i * CHUNK_HASH_BYTES)
      onProgress?.(i * chunkSize + len)
    }
  } finally {
    await fd.close()
  }
  return { sha256: whole.digest('hex'), hashes, manifest: createHash('sha256').update(hashes).digest('hex') }
}

/** The sha256 of the first `size` bytes of an open file, streamed through one buffer. */
export async function hashOpenFile (fd: FileHandle, size: number, bufSize = 1024 * 1024): Promise<string> {
  const whole = createHash('sha256')
  const buf = Buffer.allocUnsafe(Math.max(1, Math.min(bufSize, size)))
  for (let pos = 0; pos < size; pos += buf.length) {
    const len = Math.min(buf.length, size - pos)
    await readFully(fd, buf, 0, len, pos)
    whole.update(buf.subarray(0, len))
  }
  return whole.digest('hex')
}

/** Writes every buffer of `bufs` at `position` on, to the end (a full disk is DiskFullError). */
export async function writeFully (fd: FileHandle, bufs: Iterable<Uint8Array>, position: number): Promise<number> {
  let pos = position
  try {
    for (const buf of bufs) {
      let off = 0
      while (off < buf.length) {
        const { bytesWritten } = await fd.write(buf, off, buf.length - off, pos)
        if (bytesWritten === 0) throw Object.assign(new Error('no space left'), { code: 'ENOSPC' })
        off += bytesWritten
        pos += bytesWritten
      }
    }
  } catch (err) {
    throw diskError(err)
  }
  return pos - position
}

/** ENOSPC and EDQUOT become DiskFullError; other errors stay as they are. */
export function diskError (err: unknown): unknown {
  const code = (err as NodeJS.ErrnoException).code
  if (code === 'ENOSPC' || code === 'EDQUOT') return new DiskFullError('no space left on the disk for the file; what arrived so far is kept and the transfer resumes with meshchat get once there is room')
  return err
}

/** Bytes free for this user in the file system holding `dir` (Infinity when it cannot tell). */
export async function freeBytes (dir: string): Promise<number> {
  try {
    const s = await statfs(dir)
    return Number(s.bavail) * Number(s.bsize)
  } catch {
    return Number.POSITIVE_INFINITY
  }
}

/** `name`, or `name (1)`, `name (2)` … before the extension, kept within the name length limit. */
export function candidateName (name: string, n: number): string {
  if (n === 0) return name
  const ext = extname(name)
  const stem = ext.length > 0 && ext.length < name.length ? name.slice(0, -ext.length) : name
  const suffix = ` (${n})${ext.length < name.length ? ext : ''}`
  let cut = ext.length < name.length ? stem : name
  while (Buffer.byteLength(cut + suffix) > MAX_FILE_NAME_BYTES && cut.length > 1) cut = cut.slice(0, -1)
  return cut + suffix
}

/**
 * Moves the verified file at `from` into `dir` as `name`, or `name (1)` … when taken: never
 * overwrites (a hard link fails on an existing name), and across file systems copies to a
 * hidden temp name first, so a name in `dir` only ever holds a complete file. Returns the path.
 */
export async function placeFile (from: string, dir: string, name: string): Promise<string> {
  await mkdir(dir, { recursive: true })
  for (let n = 0; n < 10_000; n++) {
    const to = join(dir, candidateName(name, n))
    try {
      await link(from, to)
      await unlink(from)
      return to
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'EEXIST') continue
      if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw diskError(err)
    }
    // another file system (or one without hard links): a complete copy under a hidden name first
    const tmp = join(dir, `.${basename(from)}.${process.pid}.tmp`)
    try {
      await copyFile(from, tmp, fsConstants.COPYFILE_EXCL)
      const fd = await open(tmp, 'r+')
      try { await fd.sync() } finally { await fd.close() }
      try {
        await link(tmp, to)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue
        // no hard links on this file system: the copy is complete and synced; rename it unless
        // the name is taken (only a name made in the instant between both calls is at risk)
        if (await exists(to)) continue
        await rename(tmp, to)
      }
      await unlink(from)
      return to
    } catch (err) {
      throw diskError(err)
    } finally {
      await rm(tmp, { force: true })
    }
  }
  throw new Error(`no free name for ${name} in ${dir}`)
}

async function exists (path: string): Promise<boolean> {
  try {
    await lstat(path)
    return true
  } catch {
    return false
  }
}
