/**
 * The rendezvous node's sealed copy of a file as a ChunkSource (issue 9, "to someone offline"):
 * a download that finds no device of the sender online takes the chunks the sender left at the
 * node, sealed to this account (file-archive.ts), through the same verify-and-store path as
 * chunks from a device. Only direct chats: room files are not sealed to one account.
 */
import { deleteSealed, downloadSealed, sealedUploadStatus, uploadSealed } from './file-archive.js'
import { InvalidMessageError } from '../protocol/index.js'
import type { SealedUpload, UploadSealedOptions, UploadSealedResult } from './file-archive.js'
import type { SourceFactory } from './files.js'
import type { Certificate, WaitingFile } from '../protocol/index.js'
import type { AccountKeyPair } from '../crypto/index.js'
import type { AbortOptions, Libp2p, PeerId } from '@libp2p/interface'

export interface NodeSourceInit {
  node: () => Libp2p
  server: () => PeerId
  cert: () => Certificate
  accountKey: () => AccountKeyPair
}

/**
 * What the file code asks of the rendezvous node's sealed file store, bound to this device (its
 * node, the pinned server, its certificate and account key): a source for downloads, uploads for
 * recipients who are offline, and deleting a copy once it is fetched.
 */
export interface NodeFileStore {
  source: SourceFactory
  upload: (upload: SealedUpload, options?: UploadSealedOptions) => Promise<UploadSealedResult>
  /** What the node holds of this account's upload of `sha256` to `to`. */
  status: (to: string, sha256: string, options?: AbortOptions) => Promise<{ file: WaitingFile | null, manifest: boolean, chunks: Set<number> }>
  /** As the recipient (`sender`), or as the sender cancelling (`to`); resolves to how many went. */
  delete: (target: { sha256: string, sender?: string, to?: string }, options?: AbortOptions) => Promise<number>
}

/** Use with `client.fileList.useNode(nodeFiles(…))`. */
export function nodeFiles (init: NodeSourceInit): NodeFileStore {
  return {
    source: nodeSource(init),
    upload: async (upload, options = {}) => await uploadSealed(init.node(), init.server(), init.cert(), upload, { senderKey: init.accountKey().publicKey, ...options }),
    status: async (to, sha256, options = {}) => await sealedUploadStatus(init.node(), init.server(), init.cert(), to, sha256, options),
    delete: async (target, options = {}) => await deleteSealed(init.node(), init.server(), init.cert(), target, options)
  }
}

/**
 * Add with `client.fileList.addSource(nodeSource(…))`: tried after the sender's devices. Never
 * for this account's own offers: the copy at the node is sealed to the recipient, and this
 * account's devices fetch from the device that offered it.
 */
export function nodeSource (init: NodeSourceInit): SourceFactory {
  return o => {
    if (!o.conv.startsWith('dm:') || o.author === init.cert().user) return undefined
    return {
      label: 'the rendezvous node',
      fetch: async (req, sink, options) => {
        const { offer } = req
        const common = { sender: o.author, manifestSha256: offer.manifest, window: req.window, ...(options.signal == null ? {} : { signal: options.signal }) }
        const args = [init.node(), init.server(), init.cert(), init.accountKey(), offer.sha256] as const
        if (req.manifest) {
          // from the last chunk on: the manifest alone
          const head = await downloadSealed(...args, { ...common, from: offer.chunks, onChunk: () => {} })
          if (head.file.size !== offer.size || head.file.chunkSize !== offer.chunkSize || head.file.chunks !== offer.chunks) {
            throw new InvalidMessageError('the copy at the rendezvous node is cut differently from the offer')
          }
          await sink.manifest(head.manifest)
        }
        if (req.from >= offer.chunks) return
        await downloadSealed(...args, { ...common, from: req.from, onChunk: async (index, bytes) => { await sink.chunk(index, [bytes], bytes.byteLength) } })
      }
    }
  }
}
