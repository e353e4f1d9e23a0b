/**
 * Prometheus metrics of the rendezvous node (`meshchat serve --metrics-port N`): counters and
 * gauges in the text exposition format, served over plain HTTP. Small enough not to need a
 * client library.
 */
import { createServer } from 'node:http'
import type { Server } from 'node:http'

type Labels = Record<string, string>

interface Family {
  type: 'counter' | 'gauge'
  help: string
  values: Map<string, { labels: Labels, value: number }>
  /** Gauges read at scrape time. */
  read?: () => number
}

function labelKey (labels: Labels): string {
  return Object.keys(labels).sort().map(k => `${k}="${labels[k]!.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`).join(',')
}

export class Metrics {
  private readonly families = new Map<string, Family>()

  counter (name: string, help: string): (labels?: Labels, by?: number) => void {
    this.families.set(name, { type: 'counter', help, values: new Map() })
    return (labels = {}, by = 1) => {
      const family = this.families.get(name)!
      const key = labelKey(labels)
      const entry = family.values.get(key) ?? { labels, value: 0 }
      entry.value += by
      family.values.set(key, entry)
    }
  }

  gauge (name: string, help: string, read: () => number): void {
    this.families.set(name, { type: 'gauge', help, values: new Map(), read })
  }

  /** The text exposition format (version 0.0.4). */
  render (): string {
    const out: string[] = []
    for (const [name, f] of this.families) {
      out.push(`# HELP ${name} ${f.help}`, `# TYPE ${name} ${f.type}`)
      if (f.read != null) {
        let v = 0
        try { v = f.read() } catch { v = Number.NaN }
        out.push(`${name} ${v}`)
        continue
      }
      if (f.values.size === 0) out.push(`${name} 0`)
      for (const { labels, value } of f.values.values()) {
        const key = labelKey(labels)
        out.push(`${name}${key === '' ? '' : `{${key}}`} ${value}`)
      }
    }
    return `${out.join('\n')}\n`
  }

  /** Serves GET /metrics on host:port; resolves with the port (0 picks a free one). */
  async serve (host: string, port: number): Promise<{ port: number, close: () => Promise<void> }> {
    const server: Server = createServer((req, res) => {
      if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
        res.writeHead(404).end('not found\n')
        return
      }
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(this.render())
    })
    server.headersTimeout = 5_000
    server.requestTimeout = 5_000
    server.maxConnections = 64
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, host, () => { server.off('error', reject); resolve() })
    })
    const address = server.address()
    return {
      port: typeof address === 'object' && address != null ? address.port : port,
      close: async () => { await new Promise<void>(resolve => { server.close(() => { resolve() }); server.closeAllConnections() }) }
    }
  }
}
