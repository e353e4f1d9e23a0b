/**
 * A bare gossipsub receiver in its own process, for the room fan-out reference: createMeshNode
 * (the same stack and loopback scoring as meshchat), subscribed to one topic, no meshchat
 * validation or storage. argv[2] is a JSON list of multiaddrs to dial. Reports each message's
 * sentAt (from the publisher's clock, the same machine) and when it arrived, over IPC.
 */
import '../src/polyfill.js'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { createMeshNode } from '../src/net/index.js'
import { LOOPBACK_GOSSIP } from '../src/testing/index.js'
import { BARE_TOPIC } from './children.js'

async function main (): Promise<void> {
  const dial = JSON.parse(process.argv[2] ?? '[]') as string[]
  const node = await createMeshNode({
    privateKey: await generateKeyPair('Ed25519'),
    listen: ['/ip4/127.0.0.1/tcp/0'],
    maxConnections: 1_000,
    inboundConnectionThreshold: 100,
    maxIncomingPendingConnections: 100,
    gossip: LOOPBACK_GOSSIP
  })
  const decoder = new TextDecoder()
  node.services.pubsub.addEventListener('gossipsub:message', evt => {
    const receivedAt = Date.now()
    if (evt.detail.msg.topic !== BARE_TOPIC) return
    try {
      const { i, sentAt } = JSON.parse(decoder.decode(evt.detail.msg.data)) as { i: string, sentAt: number }
      process.send?.({ type: 'msg', i, sentAt, receivedAt })
    } catch { /* not ours */ }
  })
  node.services.pubsub.subscribe(BARE_TOPIC)
  await Promise.allSettled(dial.map(async a => await node.dial(multiaddr(a), { signal: AbortSignal.timeout(10_000) })))
  const stop = (): void => { void Promise.resolve(node.stop()).finally(() => process.exit(0)) }
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
  process.once('disconnect', stop)
  process.send?.({ type: 'ready', addr: node.getMultiaddrs()[0]?.toString() })
}

main().catch(err => {
  process.stderr.write(`gossip-child: ${(err as Error).stack ?? String(err)}\n`)
  process.exit(1)
})
