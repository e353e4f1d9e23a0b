/** What one `npm run bench` measures, and how much; each knob has an environment variable. */

export interface BenchConfig {
  /** Round trips for the TCP and libp2p floors. */
  rttCount: number
  /** Direct messages sent one at a time. BENCH_DM_COUNT */
  dmCount: number
  /**
   * Sends in flight for the DM throughput run. BENCH_DM_WINDOW. DMs ride one long-lived, pipelined
   * stream per device (src/net/channel.ts): up to 256 requests in flight on it (more wait for a
   * slot), of which the receiving handler works on 32 at a time.
   */
  dmWindow: number
  /** Seconds of the DM throughput run (a minute: issue 10 asks for memory flat over one). BENCH_DM_SECONDS */
  dmSeconds: number
  /** Receiver processes in the room. BENCH_FANOUT */
  fanout: number
  /** Room messages a second, and for how long (20/s for 5 s; 2/s for 10 s past 10 receivers). BENCH_FANOUT_RATE, BENCH_FANOUT_SECONDS */
  fanoutRate: number
  fanoutSeconds: number
  /** Also run bare gossipsub in the same shape. BENCH_BARE_GOSSIP=0 turns it off */
  bareGossip: boolean
  /** Devices held by the rendezvous node. BENCH_DEVICES */
  devices: number
  /** Devices per account (the node allows 16). */
  devicesPerAccount: number
  /** Messages in the conversation whose first page is read. BENCH_HISTORY */
  historySize: number
  /** Archived messages backfilled to a brand-new device. BENCH_BACKFILL */
  backfillSize: number
  /** Size of the file the files group sends, MiB. BENCH_FILE_MIB */
  fileMiB: number
  /** Only these groups (comma-separated). BENCH_ONLY=floor,dm,fanout,rendezvous,history,files */
  only: string[] | null
  /** The whole run is stopped past this. BENCH_MAX_SECONDS */
  maxSeconds: number
  /** Where the JSON goes. BENCH_OUT (default docs/benchmarks.json) */
  out: string | null
}

function int (name: string, fallback: number, min = 1, max = 10_000_000): number {
  const raw = process.env[name]
  if (raw == null || raw === '') return fallback
  const n = Number(raw)
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name}=${raw}: an integer from ${min} to ${max}`)
  return n
}

export function loadConfig (): BenchConfig {
  const only = process.env.BENCH_ONLY
  const fanout = int('BENCH_FANOUT', 10, 1, 200)
  // 20 msg/s to 10 receiver processes already keeps 2 cores busy; past 10 the default drops to 2 msg/s
  const wide = fanout > 10
  return {
    rttCount: 2_000,
    dmCount: int('BENCH_DM_COUNT', 2_000),
    dmWindow: int('BENCH_DM_WINDOW', 64, 1, 256),
    dmSeconds: int('BENCH_DM_SECONDS', 60, 1, 120),
    fanout,
    // every device (and the node) drops room messages over 20/s from one device (RoomValidator)
    fanoutRate: int('BENCH_FANOUT_RATE', wide ? 2 : 20, 1, 20),
    fanoutSeconds: int('BENCH_FANOUT_SECONDS', wide ? 10 : 5, 1, 60),
    bareGossip: process.env.BENCH_BARE_GOSSIP !== '0',
    devices: int('BENCH_DEVICES', 200, 1, 5_000),
    devicesPerAccount: 10,
    historySize: int('BENCH_HISTORY', 100_000, 1_000, 1_000_000),
    backfillSize: int('BENCH_BACKFILL', 10_000, 100, 200_000),
    fileMiB: int('BENCH_FILE_MIB', 1024, 1, 4096),
    only: only == null || only === '' ? null : only.split(',').map(s => s.trim()),
    maxSeconds: int('BENCH_MAX_SECONDS', 600, 30, 3_600),
    out: process.env.BENCH_OUT == null || process.env.BENCH_OUT === '' ? null : process.env.BENCH_OUT
  }
}
