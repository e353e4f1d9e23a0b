import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { Harness, EventLog, eventually, LOOPBACK_GOSSIP, TEST_PASSWORD, TEST_SCRYPT } from '../../src/testing/index.js'
import { createMeshNode, request } from '../../src/net/index.js'
import { issueCertificate, signEnvelope } from '../../src/crypto/index.js'
import { register } from '../../src/client/index.js'
import {
  AUTH_PROTOCOL, DIRECTORY_PROTOCOL, DM_PROTOCOL, SESSION_PROTOCOL, GLOBAL_ROOM, roomTopic, dmAck, authResponse,
  directoryResponse, dmConversation, roomConversation, encodeFrame
} from '../../src/protocol/index.js'
import type { MeshNode } from '../../src/net/index.js'
import type { MeshClient } from '../../src/client/index.js'
import type { Certificate } from '../../src/protocol/index.js'
import type { PrivateKey } from '@libp2p/interface'

describe('hostile peers', function () {
  let h: Harness
  let rogue: MeshNode
  let rogueKey: PrivateKey
  const rejected: string[] = []

  beforeEach(async () => {
    rejected.length = 0
    h = new Harness({
      rendezvous: {
        logger: {
          debug: () => {},
          info: (msg, f) => { if (msg === 'room message rejected') rejected.push(String(f?.reason)) },
          warn: () => {},
          error: () => {}
        }
      }
    })
    await h.startRendezvous()
    rogueKey = await generateKeyPair('Ed25519')
    rogue = await createMeshNode({ privateKey: rogueKey, listen: ['/ip4/127.0.0.1/tcp/0'], gossip: LOOPBACK_GOSSIP })
  })
  afterEach(async () => {
    await rogue.stop()
    await h.stop()
  })

  const server = (): ReturnType<typeof multiaddr> => multiaddr(h.serverAddress)
  const addrOf = (c: MeshClient): ReturnType<typeof multiaddr> => c.libp2p.getMultiaddrs()[0]!

  /** A certificate for the rogue's own device, signed by a key that is not the rendezvous node's. */
  async function forgedCert (user: string): Promise<Certificate> {
    return await issueCertificate(await generateKeyPair('Ed25519'), user, rogue.peerId.toString())
  }

  it('drops a direct message with a forged certificate', async () => {
    const [alice, bob] = await h.clientsFor(['alice', 'bob'])
    await h.connect(alice!, bob!)
    const bobLog = new EventLog(bob!)
    const env = await signEnvelope(rogueKey, await forgedCert('alice'), { conv: dmConversation('alice', 'bob'), kind: 'text', body: { text: 'forged' } })
    await assert.rejects(request(rogue, addrOf(bob!), DM_PROTOCOL, env, dmAck), { name: 'InvalidCertificateError' })
    await bob!.send('alice', 'real')
    await bobLog.waitFor(e => e.type === 'message' && e.message.text === 'real')
    assert.deepEqual(bobLog.events.flatMap(e => e.type === 'message' ? [e.message.text] : []), ['real'])
  })

  it('drops a tampered message and one replayed from another device', async () => {
    const [alice, bob] = await h.clientsFor(['alice', 'bob'])
    await h.connect(alice!, bob!)
    const bobLog = new EventLog(bob!)
    const login = await alice!.home.requireLogin()
    const key = await alice!.home.deviceKey()
    const env = await signEnvelope(key, login.cert, { conv: dmConversation('alice', 'bob'), kind: 'text', body: { text: 'pay 10' } })
    const tampered = { ...env, body: { text: 'pay 1000' } }
    // the rogue relays alice's envelopes: its connection is not alice's device
    await assert.rejects(request(rogue, addrOf(bob!), DM_PROTOCOL, env, dmAck), { name: 'InvalidMessageError' })
    // alice's own device sending a tampered envelope: the signature fails
    await assert.rejects(request(alice!.libp2p, addrOf(bob!), DM_PROTOCOL, tampered, dmAck), { name: 'InvalidSignatureError' })
    // a message for someone else is refused by bob
    const forCarol = await signEnvelope(key, login.cert, { conv: dmConversation('alice', 'carol'), kind: 'text', body: { text: 'not yours' } })
    await assert.rejects(request(alice!.libp2p, addrOf(bob!), DM_PROTOCOL, forCarol, dmAck), { name: 'InvalidMessageError' })
    // the genuine one is accepted once, even when sent twice
    await request(alice!.libp2p, addrOf(bob!), DM_PROTOCOL, env, dmAck)
    await request(alice!.libp2p, addrOf(bob!), DM_PROTOCOL, env, dmAck)
    await bobLog.waitFor(e => e.type === 'message' && e.message.text === 'pay 10')
    assert.deepEqual(bobLog.events.flatMap(e => e.type === 'message' ? [e.message.text] : []), ['pay 10'])
  })

  it('rejects forged, stolen and oversized messages in the global room', async () => {
    const clients = await h.clientsFor(['alice', 'bob'])
    const [alice, bob] = clients
    const bobLog = new EventLog(bob!)
    const topic = roomTopic(GLOBAL_ROOM)
    rogue.services.pubsub.subscribe(topic)
    await rogue.dial(server())
    await rogue.dial(addrOf(bob!))
    await eventually(() => rogue.services.pubsub.getSubscribers(topic).length >= 2, 5_000, 'rogue sees room members')
    const forged = await signEnvelope(rogueKey, await forgedCert('alice'), { conv: roomConversation(GLOBAL_ROOM), kind: 'text', body: { text: 'forged room' } })
    await rogue.services.pubsub.publish(topic, encodeFrame(forged))
    // alice's genuine envelope, published by the rogue (gossipsub `from` is not alice's device)
    const aliceLogin = await alice!.home.requireLogin()
    const stolen = await signEnvelope(await alice!.home.deviceKey(), aliceLogin.cert, { conv: roomConversation(GLOBAL_ROOM), kind: 'text', body: { text: 'stolen room' } })
    await rogue.services.pubsub.publish(topic, encodeFrame(stolen))
    await rogue.services.pubsub.publish(topic, new TextEncoder().encode('{"not":"an envelope"}'))
    await rogue.services.pubsub.publish(topic, new Uint8Array(200 * 1024))
    await eventually(() => rejected.length >= 3, 5_000, 'the rendezvous node rejecting them')
    await eventually(() => alice!.libp2p.services.pubsub.getSubscribers(topic).length > 0)
    await alice!.send('#global', 'genuine')
    await bobLog.waitFor(e => e.type === 'message' && e.message.text === 'genuine')
    const texts = bobLog.events.flatMap(e => e.type === 'message' ? [e.message.text] : [])
    assert.deepEqual(texts, ['genuine'])
  })

  it('survives garbage on every protocol and keeps serving', async () => {
    const attacks: Array<[string, Uint8Array]> = [
      [AUTH_PROTOCOL, new Uint8Array([0x05, 1, 2, 3, 4, 5])],
      [AUTH_PROTOCOL, new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f])],
      [SESSION_PROTOCOL, new Uint8Array([0x03, 0x7b, 0x7d, 0x7d])],
      [SESSION_PROTOCOL, encodeFrame({ t: 'ping', n: 1 })],
      [DIRECTORY_PROTOCOL, new Uint8Array([0x02, 0xc3, 0x28])],
      [DIRECTORY_PROTOCOL, new Uint8Array(0)]
    ]
    for (const [protocol, bytes] of attacks) {
      const stream = await rogue.dialProtocol(server(), protocol)
      stream.send(bytes)
      await stream.close().catch(() => {})
    }
    // oversized frame: a length prefix of 1 MiB followed by data
    const big = await rogue.dialProtocol(server(), AUTH_PROTOCOL)
    big.send(new Uint8Array([0x80, 0x80, 0x40]))
    big.send(new Uint8Array(64 * 1024))
    await big.close().catch(() => {})
    await assert.rejects(rogue.dialProtocol(server(), '/meshchat/unknown/1.0.0'))
    // the directory refuses a forged certificate with a named error
    await assert.rejects(request(rogue, server(), DIRECTORY_PROTOCOL, { op: 'users', cert: await forgedCert('alice') }, directoryResponse), { name: 'InvalidCertificateError' })
    await assert.rejects(request(rogue, server(), AUTH_PROTOCOL, { op: 'login', user: 'x'.repeat(5000), password: 'y' }, authResponse), { name: 'InvalidMessageError' })
    // still serving
    const home = await h.tempDir('after')
    await register({ home, server: h.serverAddress, user: 'survivor', password: TEST_PASSWORD, wrapScrypt: TEST_SCRYPT })
    const c = await h.startClient(home)
    assert.equal(c.connectionState, 'connected')
  })
})
