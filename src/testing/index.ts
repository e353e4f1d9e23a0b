/**
 * The multi-node harness: a rendezvous node and N clients in this process, each with a temp
 * folder, all on 127.0.0.1. Tests use it; users can import `meshchat/testing` to script scenarios.
 */
import '../polyfill.js'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { RendezvousNode } from '../rendezvous/index.js'
import { MeshClient, register, login } from '../client/index.js'
import type { RendezvousInit } from '../rendezvous/index.js'
import type { ClientEvent, ClientInit } from '../client/index.js'
import type { GossipInit } from '../net/index.js'

/** Loopback peers all share 127.0.0.1: gossipsub must not penalise that here (STACK-FACTS.md). */
export const LOOPBACK_GOSSIP: GossipInit = { ipColocationWhitelist: ['127.0.0.1', '::1'] }
/** A cheap scrypt cost so that tests register many users quickly; never use it in production. */
export const TEST_SCRYPT = { N: 2 ** 10, r: 8, p: 1 }
export const TEST_PASSWORD = 'correct horse battery'

export interface HarnessInit {
  rendezvous?: Partial<RendezvousInit>
  client?: Partial<ClientInit>
}

export class Harness {
  rendezvous?: RendezvousNode
  readonly clients: MeshClient[] = []
  private readonly dirs: string[] = []
  private rendezvousDir?: string
  private port = 0

  constructor (private readonly init: HarnessInit = {}) {}

  async tempDir (prefix: string): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), `meshchat-${prefix}-`))
    this.dirs.push(dir)
    return dir
  }

  /** Starts (or restarts, on the same folder, key and port) the rendezvous node. */
  async startRendezvous (): Promise<RendezvousNode> {
    this.rendezvousDir ??= await this.tempDir('rendezvous')
    const node = new RendezvousNode({
      dataDir: this.rendezvousDir,
      listen: [`/ip4/127.0.0.1/tcp/${this.port}`],
      scrypt: TEST_SCRYPT,
      gossip: LOOPBACK_GOSSIP,
      heartbeatMs: 500,
      ...this.init.rendezvous
    })
    await node.start()
    this.port = Number(node.addresses()[0]?.split('/')[4])
    this.rendezvous = node
    return node
  }

  async stopRendezvous (): Promise<void> {
    await this.rendezvous?.stop()
    this.rendezvous = undefined
  }

  /** The rendezvous node's data folder (for admin commands); set once the node first started. */
  get rendezvousDataDir (): string {
    if (this.rendezvousDir == null) throw new Error('rendezvous node never started')
    return this.rendezvousDir
  }

  get serverAddress (): string {
    const addr = this.rendezvous?.addresses()[0]
    if (addr == null) throw new Error('rendezvous node not started')
    return addr
  }

  /** Registers `user` (or logs in when `existing`) in a fresh home and starts a client there. */
  async client (user: string, options: { existing?: boolean, home?: string, start?: boolean, init?: Partial<ClientInit> } = {}): Promise<MeshClient> {
    const home = options.home ?? await this.tempDir(`home-${user}`)
    const creds = { home, server: this.serverAddress, user, password: TEST_PASSWORD, wrapScrypt: TEST_SCRYPT }
    if (options.existing === true) await login(creds)
    else await register(creds)
    return await this.startClient(home, options.start ?? true, options.init)
  }

  /** Starts a client on a home that is already logged in. */
  async startClient (home: string, start = true, init: Partial<ClientInit> = {}): Promise<MeshClient> {
    const client = new MeshClient({
      home,
      listen: ['/ip4/127.0.0.1/tcp/0'],
      gossip: LOOPBACK_GOSSIP,
      reconnectMinMs: 100,
      reconnectMaxMs: 500,
      ...this.init.client,
      ...init
    })
    if (start) await client.start()
    this.clients.push(client)
    return client
  }

  /** Several users at once, each with one device. */
  async clientsFor (users: string[]): Promise<MeshClient[]> {
    const out: MeshClient[] = []
    for (const u of users) out.push(await this.client(u))
    return out
  }

  /**
   * Makes two clients accepted chat partners: `a` asks, `b` accepts, and both have seen it.
   * For tests that just need two people to chat.
   */
  async connect (a: MeshClient, b: MeshClient, timeoutMs = 10_000): Promise<void> {
    await a.request(b.user)
    await eventually(async () => (await b.chatState(a.user)).state === 'pending', timeoutMs, `${b.user} to see ${a.user}'s request`)
    await b.accept(a.user)
    await eventually(async () => (await a.chatState(b.user)).state === 'accepted', timeoutMs, `${a.user} to see ${b.user}'s acceptance`)
  }

  async stop (): Promise<void> {
    await Promise.allSettled(this.clients.map(async c => { await c.stop() }))
    this.clients.length = 0
    await this.stopRendezvous().catch(() => {})
    await Promise.allSettled(this.dirs.map(async d => { await rm(d, { recursive: true, force: true }) }))
  }
}

/** Records a client's events and waits for one that matches, with a deadline. */
export class EventLog {
  readonly events: ClientEvent[] = []
  private readonly waiters = new Set<() => void>()
  private readonly off: () => void

  constructor (client: MeshClient) {
    this.off = client.on(ev => {
      this.events.push(ev)
      for (const w of this.waiters) w()
    })
  }

  find<T extends ClientEvent> (pred: (ev: ClientEvent) => ev is T): T | undefined
  find (pred: (ev: ClientEvent) => boolean): ClientEvent | undefined
  find (pred: (ev: ClientEvent) => boolean): ClientEvent | undefined {
    return this.events.find(pred)
  }

  async waitFor (pred: (ev: ClientEvent) => boolean, timeoutMs = 5_000, what = 'event'): Promise<ClientEvent> {
    const found = this.events.find(pred)
    if (found != null) return found
    return await new Promise((resolve, reject) => {
      const check = (): void => {
        const ev = this.events.find(pred)
        if (ev != null) { done(); resolve(ev) }
      }
      const timer = setTimeout(() => { done(); reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)) }, timeoutMs)
      const done = (): void => { clearTimeout(timer); this.waiters.delete(check) }
      this.waiters.add(check)
    })
  }

  stop (): void {
    this.off()
  }
}

/** Waits for a condition with a deadline (never a fixed sleep). */
export async function eventually (cond: () => boolean | Promise<boolean>, timeoutMs = 5_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

export { RendezvousNode, MeshClient }
export * from './processes.js'
export * from './tmux.js'
export * from './netns.js'
