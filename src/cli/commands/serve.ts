import { defaultDataDir, gossipFrom, numberOption } from '../options.js'
import { MAX_HEARTBEAT_MS, MIN_HEARTBEAT_MS } from '../../protocol/constants.js'
import { printJson, printLine, FatalError } from '../output.js'
import type { LogLevel } from '../../rendezvous/index.js'
import type { GlobalArgs } from '../options.js'
import type { Settings } from '../settings.js'
import type { CommandModule } from 'yargs'

interface ServeArgs extends GlobalArgs {
  host: string
  port: number
  data?: string
  logLevel: LogLevel
  heartbeatMs: number
  maxConnections: number
  connectionsPerSecond: number
  accountFreeFailures: number
  addressFreeFailures: number
  registrationsPerSecond: number
  relayServer: boolean
  relayReservations: number
  relayTtl: number
  relayDataLimit: number
  relayDurationLimit: number
  requestsPerSecond: number
  maxStreams: number
  maxConnectionsPerHost: number
  roomRate: number
  roomBurst: number
  presenceWritesPerSecond: number
  metricsPort?: number
  metricsHost: string
  fileQuota: string | number
  fileSenderQuota?: string | number
  fileMaxSize: string | number
  fileRetentionDays: number
}

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kib: 1024, kb: 1000, m: 1024 ** 2, mib: 1024 ** 2, mb: 1000 ** 2, g: 1024 ** 3, gib: 1024 ** 3, gb: 1000 ** 3, t: 1024 ** 4, tib: 1024 ** 4, tb: 1000 ** 4 }

function retentionDays (days: number): number {
  if (!Number.isFinite(days) || days < 0) throw new FatalError(`--file-retention-days: "${String(days)}" is not a number of days`, 2)
  return days
}

/** A size given as bytes or with a unit (`512MiB`, `1GiB`, `2GB`). */
export function parseSize (value: string | number, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(String(value).trim())
  const unit = SIZE_UNITS[(m?.[2] ?? '').toLowerCase()]
  if (m == null || unit == null) throw new FatalError(`--${flag}: "${String(value)}" is not a size (bytes, or a number with KiB, MiB, GiB, TiB)`, 2)
  return Math.floor(Number(m[1]) * unit)
}

export const serve = (settings: Settings): CommandModule<GlobalArgs, ServeArgs> => ({
  command: 'serve',
  describe: 'Run a rendezvous node: accounts, presence, certificates, introductions',
  builder: y => y
    .option('host', { type: 'string', default: settings['host'] as string | undefined, describe: 'Address to listen on (0.0.0.0 for every IPv4 interface, :: for IPv6)' })
    .option('port', { type: 'number', default: settings['port'] as number | undefined, describe: 'TCP port to listen on' })
    .option('data', { type: 'string', describe: `Folder for the node key and database [default: ${defaultDataDir()}]` })
    .option('log-level', { type: 'string', default: settings['log-level'] as string | undefined, choices: ['debug', 'info', 'warn', 'error', 'silent'], describe: 'Structured log lines on stderr at this level and above' })
    .option('heartbeat-ms', { type: 'number', default: settings['heartbeat-ms'] as number | undefined, describe: 'Session heartbeat; a device silent for 3 beats is offline' })
    .option('max-connections', { type: 'number', default: settings['max-connections'] as number | undefined, describe: 'Connections held at most' })
    .option('connections-per-second', { type: 'number', default: settings['connections-per-second'] as number | undefined, describe: 'New inbound connections per second per remote host' })
    .option('account-free-failures', { type: 'number', default: settings['account-free-failures'] as number | undefined, describe: 'Failed logins per account before they are slowed down' })
    .option('address-free-failures', { type: 'number', default: settings['address-free-failures'] as number | undefined, describe: 'Failed logins per address before they are slowed down' })
    .option('registrations-per-second', { type: 'number', default: settings['registrations-per-second'] as number | undefined, describe: 'New accounts per second per address' })
    .option('requests-per-second', { type: 'number', default: settings['requests-per-second'] as number | undefined, describe: 'Requests per second per device (bursts of twice that)' })
    .option('max-streams', { type: 'number', default: settings['max-streams'] as number | undefined, describe: 'Streams of one protocol a connection may hold open' })
    .option('max-connections-per-host', { type: 'number', default: settings['max-connections-per-host'] as number | undefined, describe: 'Open connections from one IP' })
    .option('room-rate', { type: 'number', default: settings['room-rate'] as number | undefined, describe: 'Room messages per second per device' })
    .option('room-burst', { type: 'number', default: settings['room-burst'] as number | undefined, describe: 'Room messages one device may send at once' })
    .option('presence-writes-per-second', { type: 'number', default: settings['presence-writes-per-second'] as number | undefined, describe: 'Session writes a second presence may take; above it, presence goes out less often than every 25 ms' })
    .option('metrics-port', { type: 'number', describe: 'Serve Prometheus metrics at http://<metrics-host>:<port>/metrics' })
    .option('metrics-host', { type: 'string', default: '127.0.0.1', describe: 'Address the metrics are served on' })
    .option('file-quota', { type: 'string', default: settings['file-quota'] as string | undefined, describe: 'Sealed files that may wait at the node for one account (bytes, or 512MiB, 1GiB, ...)' })
    .option('file-sender-quota', { type: 'string', default: settings['file-sender-quota'] === '' ? undefined : settings['file-sender-quota'] as string | undefined, describe: 'Sealed files one account may leave waiting for all others together [default: half of --file-quota]' })
    .option('file-max-size', { type: 'string', default: settings['file-max-size'] as string | undefined, describe: 'Largest file that may wait at the node' })
    .option('file-retention-days', { type: 'number', default: settings['file-retention-days'] as number | undefined, describe: 'Days a file waits at the node before it is deleted' })
    .option('relay-server', { type: 'boolean', default: settings['relay-server'] as boolean | undefined, describe: 'Relay (circuit v2) for devices behind NAT (--no-relay-server to turn off)' })
    .option('relay-reservations', { type: 'number', default: settings['relay-reservations'] as number | undefined, describe: 'Devices holding a relay slot at once' })
    .option('relay-ttl', { type: 'number', default: settings['relay-ttl'] as number | undefined, describe: 'Seconds a relay slot lasts before the device renews it' })
    .option('relay-data-limit', { type: 'number', default: settings['relay-data-limit'] as number | undefined, describe: 'Bytes one relayed connection may carry each way' })
    .option('relay-duration-limit', { type: 'number', default: settings['relay-duration-limit'] as number | undefined, describe: 'Seconds one relayed connection may last' }) as any,
  handler: async argv => {
    const { RendezvousNode, jsonLogger } = await import('../../rendezvous/index.js')
    const host = argv.host.includes(':') ? `/ip6/${argv.host}` : `/ip4/${argv.host}`
    const port = numberOption(argv.port, 'port', 0, 65_535)
    const node = new RendezvousNode({
      dataDir: argv.data ?? (settings.data as string | undefined) ?? defaultDataDir(),
      listen: [`${host}/tcp/${port}`],
      logger: jsonLogger(argv.logLevel),
      heartbeatMs: numberOption(argv.heartbeatMs, 'heartbeat-ms', MIN_HEARTBEAT_MS, MAX_HEARTBEAT_MS),
      maxConnections: numberOption(argv.maxConnections, 'max-connections', 1, 1_000_000),
      inboundConnectionThreshold: numberOption(argv.connectionsPerSecond, 'connections-per-second', 1, 1_000_000),
      accountFreeFailures: numberOption(argv.accountFreeFailures, 'account-free-failures', 0, 1_000_000),
      addressFreeFailures: numberOption(argv.addressFreeFailures, 'address-free-failures', 0, 1_000_000),
      registrationsPerSecond: numberOption(argv.registrationsPerSecond, 'registrations-per-second', 0.001, 1_000_000, false),
      gossip: gossipFrom(argv),
      requestsPerSecond: numberOption(argv.requestsPerSecond, 'requests-per-second', 0.001, 1_000_000, false),
      maxStreams: numberOption(argv.maxStreams, 'max-streams', 1, 10_000),
      maxConnectionsPerHost: numberOption(argv.maxConnectionsPerHost, 'max-connections-per-host', 1, 1_000_000),
      roomRate: numberOption(argv.roomRate, 'room-rate', 0.001, 10_000, false),
      roomBurst: numberOption(argv.roomBurst, 'room-burst', 1, 100_000),
      presenceWritesPerSecond: numberOption(argv.presenceWritesPerSecond, 'presence-writes-per-second', 1, 10_000_000),
      fileQuotaBytes: parseSize(argv.fileQuota, 'file-quota'),
      ...(argv.fileSenderQuota == null || argv.fileSenderQuota === '' ? {} : { fileSenderQuotaBytes: parseSize(argv.fileSenderQuota, 'file-sender-quota') }),
      fileMaxBytes: parseSize(argv.fileMaxSize, 'file-max-size'),
      fileRetentionDays: retentionDays(argv.fileRetentionDays),
      ...(argv.metricsPort == null ? {} : { metricsPort: numberOption(argv.metricsPort, 'metrics-port', 0, 65_535), metricsHost: argv.metricsHost }),
      relay: argv.relayServer
        ? {
            maxReservations: numberOption(argv.relayReservations, 'relay-reservations', 0, 100_000),
            reservationTtlMs: numberOption(argv.relayTtl, 'relay-ttl', 1, 7 * 86_400) * 1000,
            dataLimitBytes: numberOption(argv.relayDataLimit, 'relay-data-limit', 0, Number.MAX_SAFE_INTEGER),
            durationLimitMs: numberOption(argv.relayDurationLimit, 'relay-duration-limit', 1, 7 * 86_400) * 1000
          }
        : false
    })
    try {
      await node.start()
    } catch (err) {
      // libp2p's message names its own config knobs and puts the reason (EADDRINUSE…) on a later line
      if ((err as Error).name !== 'UnsupportedListenAddressesError') throw err
      const reason = /(E[A-Z]+): ([^\n]*)/.exec((err as Error).message)?.[2]
      throw new FatalError(`cannot listen on ${host}/tcp/${port}${reason == null ? '' : `: ${reason}`}`, 1)
    }
    if (argv.json) printJson({ peerId: node.peerId, addrs: node.addresses() })
    else printLine(`meshchat rendezvous node listening on ${node.addresses().join(' ')}`)
    await new Promise<void>(resolve => {
      const stop = (): void => { resolve() }
      process.once('SIGINT', stop)
      process.once('SIGTERM', stop)
    })
    await node.stop()
  }
})
