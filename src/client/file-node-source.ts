/**
 * The rendezvous node's sealed copy of a file as a ChunkSource (issue 9, "to someone offline"):
 * a download that finds no device of the sender online takes the chunks the sender left at the
 * node, sealed to this account (file-archive.ts), through the same verify-and-store path as
 * chunks from a device. Only direct chats: room files are not sealed to one account.
 */
import { downloadSealed } from './file-archive.js'
import { InvalidMessageError } from '../protocol/index.js'
import type { SourceFactory } from './files.js'
import type { Certificate } from '../protocol/index.js'
import type { AccountKeyPair } from '../crypto/index.js'
import type { Libp2p, PeerId } from '@libp2p/interface'

export interface NodeSourceInit {
  node: () => Libp2p
  server: () => PeerId
  cert: () => Certificate
  accountKey: () => AccountKeyPair
}

/** Add with `client.fileList.addSource(nodeSource(…))`: tried after the sender's devices. */
export function nodeSource (init: NodeSourceInit): SourceFactory {
  return o => {
    if (!o.conv.startsWith('dm:')) return undefined
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
