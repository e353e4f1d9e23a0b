/**
 * The far end of the floors, in its own process (a DM also crosses a process boundary): a plain
 * TCP echo and sink on 127.0.0.1, and a meshchat libp2p node (createMeshNode: tcp + noise + yamux,
 * identify, ping, gossipsub subscribed to the global room) with echo and sink protocols.
 * Forked by the bench; talks over IPC.
 */
import '../src/polyfill.js'
import { createServer } from 'node:net'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createMeshNode } from '../src/net/index.js'
import { GLOBAL_ROOM, roomTopic } from '../src/protocol/index.js'
import { LOOPBACK_GOSSIP } from '../src/testing/index.js'
import { ECHO_PROTOCOL, SINK_PROTOCOL } from './children.js'
import type { AddressInfo, Server } from 'node:net'
import type { Stream } from '@libp2p/interface'


function send (msg: Record<string, unknown>): void {
  process.send?.(msg)
}

async function listen (server: Server): Promise<number> {
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return (server.address() as AddressInfo).port
}

/** Resolves when the stream is closed either way, so the handler keeps it while it lives. */
async function closed (stream: Stream): Promise<void> {
  await new Promise<void>(resolve => { stream.addEventListener('close', () => { resolve() }, { once: true }) })
}

async function main (): Promise<void> {
  const echo = createServer(sock => { sock.setNoDelay(true); sock.pipe(sock); sock.on('error', () => {}) })
  const sink = createServer(sock => {
    let bytes = 0
    sock.on('data', (b: Buffer) => { bytes += b.length })
    sock.on('end', () => { sock.end(JSON.stringify({ bytes })) })
    sock.on('error', () => {})
  })
  const node = await createMeshNode({
    privateKey: await generateKeyPair('Ed25519'),
    listen: ['/ip4/127.0.0.1/tcp/0'],
    maxConnections: 20_000,
    inboundConnectionThreshold: 100_000,
    maxIncomingPendingConnections: 1_000,
    gossip: LOOPBACK_GOSSIP
  })
  await node.handle(ECHO_PROTOCOL, async stream => {
    stream.addEventListener('message', evt => { stream.send(evt.data) })
    stream.addEventListener('remoteCloseWrite', () => { void stream.close().catch(() => {}) })
    await closed(stream)
  }, { maxInboundStreams: 1_024 })
  await node.handle(SINK_PROTOCOL, async stream => {
    let bytes = 0
    stream.addEventListener('message', evt => { bytes += evt.data.byteLength })
    stream.addEventListener('remoteCloseWrite', () => {
      stream.send(new TextEncoder().encode(JSON.stringify({ bytes })))
      void stream.close().catch(() => {})
    })
    await closed(stream)
  }, { maxInboundStreams: 16 })
  node.services.pubsub.subscribe(roomTopic(GLOBAL_ROOM))

  process.on('message', (m: { type?: string }) => {
    if (m.type === 'memory') send({ type: 'memory', ...process.memoryUsage(), connections: node.getConnections().length })
    if (m.type === 'gc') { (globalThis as { gc?: () => void }).gc?.(); send({ type: 'gc-done' }) }
  })
  const stop = (): void => {
    echo.close(); sink.close()
    void Promise.resolve(node.stop()).finally(() => process.exit(0))
  }
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
  process.once('disconnect', stop)
  send({ type: 'ready', tcpEcho: await listen(echo), tcpSink: await listen(sink), addrs: node.getMultiaddrs().map(a => a.toString()) })
}

main().catch(err => {
  process.stderr.write(`echo-child: ${(err as Error).stack ?? String(err)}\n`)
  process.exit(1)
})
