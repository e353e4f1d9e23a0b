/**
 * Hosts behind NAT on one machine: Linux network namespaces joined by veth pairs and a bridge,
 * with "router" namespaces that masquerade their LAN (iptables MASQUERADE), all made by the test
 * and torn down after. Needs root, iproute2 and iptables; `natLabSupport()` says why not.
 *
 *   ┌──────────── inet (bridge, 198.51.100.0/24) ────────────┐
 *   srv 198.51.100.10        ra .2 ─ NAT ─ a 10.0.1.2      rb .3 ─ NAT ─ b 10.0.2.2
 *
 * Every address lives only inside namespaces this lab made; nothing leaves the machine.
 */
import { execFile, execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { ProcessGroup } from './processes.js'

export const PUBLIC_NET = '198.51.100'
export const SERVER_IP = `${PUBLIC_NET}.10`

export function natLabSupport (): { ok: true } | { ok: false, reason: string } {
  if (process.getuid?.() !== 0) return { ok: false, reason: 'not root' }
  for (const tool of ['ip', 'iptables']) {
    try {
      execFileSync(tool, ['-V'], { stdio: 'ignore' })
    } catch {
      try { execFileSync(tool, ['--version'], { stdio: 'ignore' }) } catch { return { ok: false, reason: `${tool} is not installed` } }
    }
  }
  const probe = `mcprobe${randomBytes(3).toString('hex')}`
  try {
    execFileSync('ip', ['netns', 'add', probe], { stdio: 'ignore' })
    execFileSync('ip', ['netns', 'del', probe], { stdio: 'ignore' })
  } catch {
    return { ok: false, reason: 'this machine cannot create network namespaces' }
  }
  return { ok: true }
}

async function sh (file: string, args: string[]): Promise<string> {
  return await new Promise((resolve, reject) => {
    execFile(file, args, { timeout: 10_000 }, (err, stdout, stderr) => {
      if (err != null) reject(new Error(`${file} ${args.join(' ')}: ${stderr.trim() || err.message}`))
      else resolve(stdout)
    })
  })
}

export type HostName = 'srv' | 'a' | 'b'

export class NatLab {
  private readonly tag = randomBytes(3).toString('hex')
  private readonly made: string[] = []
  readonly groups: Record<HostName, ProcessGroup>

  private constructor () {
    this.groups = { srv: new ProcessGroup({ netns: this.ns('srv') }), a: new ProcessGroup({ netns: this.ns('a') }), b: new ProcessGroup({ netns: this.ns('b') }) }
  }

  /** The namespace of a host or router of this lab (names unique per lab). */
  ns (name: string): string {
    return `mc${this.tag}-${name}`
  }

  private async exec (name: string, ...args: string[]): Promise<string> {
    return await sh('ip', ['netns', 'exec', this.ns(name), ...args])
  }

  private async addNs (name: string): Promise<void> {
    await sh('ip', ['netns', 'add', this.ns(name)])
    this.made.push(this.ns(name))
    await this.exec(name, 'ip', 'link', 'set', 'lo', 'up')
  }

  /** A veth pair: `endA` in namespace `a`, `endB` in namespace `b`. */
  private async veth (a: string, endA: string, b: string, endB: string): Promise<void> {
    const tmpA = `v${this.tag}${endA}`.slice(0, 15)
    const tmpB = `w${this.tag}${endB}`.slice(0, 15)
    await sh('ip', ['link', 'add', tmpA, 'type', 'veth', 'peer', 'name', tmpB])
    await sh('ip', ['link', 'set', tmpA, 'netns', this.ns(a)])
    await sh('ip', ['link', 'set', tmpB, 'netns', this.ns(b)])
    await this.exec(a, 'ip', 'link', 'set', tmpA, 'name', endA)
    await this.exec(b, 'ip', 'link', 'set', tmpB, 'name', endB)
    await this.exec(a, 'ip', 'link', 'set', endA, 'up')
    await this.exec(b, 'ip', 'link', 'set', endB, 'up')
  }

  static async create (): Promise<NatLab> {
    const lab = new NatLab()
    try {
      await lab.build()
    } catch (err) {
      await lab.destroy()
      throw err
    }
    return lab
  }

  private async build (): Promise<void> {
    for (const n of ['inet', 'srv', 'ra', 'a', 'rb', 'b']) await this.addNs(n)
    await this.exec('inet', 'ip', 'link', 'add', 'br0', 'type', 'bridge')
    await this.exec('inet', 'ip', 'link', 'set', 'br0', 'up')
    const uplink = async (host: string, port: string, ip: string): Promise<void> => {
      await this.veth(host, 'wan', 'inet', port)
      await this.exec('inet', 'ip', 'link', 'set', port, 'master', 'br0')
      await this.exec(host, 'ip', 'addr', 'add', `${ip}/24`, 'dev', 'wan')
    }
    await uplink('srv', 'psrv', SERVER_IP)
    await uplink('ra', 'pra', `${PUBLIC_NET}.2`)
    await uplink('rb', 'prb', `${PUBLIC_NET}.3`)
    for (const [router, host, net] of [['ra', 'a', '10.0.1'], ['rb', 'b', '10.0.2']] as const) {
      await this.veth(router, 'lan', host, 'eth0')
      await this.exec(router, 'ip', 'addr', 'add', `${net}.1/24`, 'dev', 'lan')
      await this.exec(host, 'ip', 'addr', 'add', `${net}.2/24`, 'dev', 'eth0')
      await this.exec(host, 'ip', 'route', 'add', 'default', 'via', `${net}.1`)
      await this.exec(router, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1')
      await this.exec(router, 'iptables', '-t', 'nat', '-A', 'POSTROUTING', '-o', 'wan', '-j', 'MASQUERADE')
      // a home router: nothing from outside reaches the LAN unless it answers what went out
      await this.exec(router, 'iptables', '-A', 'FORWARD', '-i', 'wan', '-o', 'lan', '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT')
      await this.exec(router, 'iptables', '-A', 'FORWARD', '-i', 'wan', '-o', 'lan', '-j', 'DROP')
    }
  }

  /** The host's link to its router (or the server's uplink) goes down or comes back. */
  async link (host: HostName, up: boolean): Promise<void> {
    const [ns, dev] = host === 'srv' ? ['srv', 'wan'] : [host, 'eth0']
    await this.exec(ns, 'ip', 'link', 'set', dev, up ? 'up' : 'down')
    if (up && host !== 'srv') {
      const net = host === 'a' ? '10.0.1' : '10.0.2'
      await this.exec(host, 'ip', 'route', 'replace', 'default', 'via', `${net}.1`)
    }
  }

  /** Drops this share of the packets the host's router forwards, both ways (0 removes the rule). */
  async loss (host: 'a' | 'b', probability: number): Promise<void> {
    const router = host === 'a' ? 'ra' : 'rb'
    await this.exec(router, 'iptables', '-F', 'MESHLOSS').catch(async () => {
      await this.exec(router, 'iptables', '-N', 'MESHLOSS')
      await this.exec(router, 'iptables', '-I', 'FORWARD', '1', '-j', 'MESHLOSS')
    })
    if (probability > 0) {
      await this.exec(router, 'iptables', '-A', 'MESHLOSS', '-m', 'statistic', '--mode', 'random', '--probability', String(probability), '-j', 'DROP')
    }
  }

  async destroy (): Promise<void> {
    await Promise.allSettled(Object.values(this.groups).map(async g => { await g.stopAll() }))
    for (const ns of this.made.reverse()) {
      await sh('ip', ['netns', 'del', ns]).catch(() => {})
    }
    this.made.length = 0
  }
}
