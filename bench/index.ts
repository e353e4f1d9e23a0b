/**
 * `npm run bench` (issue 10): one bounded run that measures the floors and meshchat's figures in
 * the same run, prints a table and writes the same figures as JSON to docs/benchmarks.json (or to
 * BENCH_OUT, so that a partial or trial run leaves the recorded figures alone).
 * Every group cleans up its processes and temp folders, even when it fails; the whole run is cut
 * at BENCH_MAX_SECONDS.
 */
import '../src/polyfill.js'
import { heapGrowingPercent, tuneHeap } from '../src/heap.js'
import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { availableParallelism, loadavg, release, totalmem } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { REPO_ROOT } from '../src/testing/index.js'
import { loadConfig } from './config.js'
import { Report } from './report.js'
import { killAllChildren } from './children.js'
import { stopEveryGroup } from './cluster.js'
import { floorBench } from './floor.js'
import { dmBench } from './dm.js'
import { fanoutBench } from './fanout.js'
import { rendezvousBench } from './rendezvous.js'
import { historyBench } from './history.js'
import { filesBench } from './files.js'
import { now } from './stats.js'
import type { BenchConfig } from './config.js'

type Group = (report: Report, config: BenchConfig) => Promise<void>

const GROUPS: Array<[string, Group]> = [
  ['floor', floorBench],
  ['dm', dmBench],
  ['fanout', fanoutBench],
  ['rendezvous', rendezvousBench],
  ['history', historyBench],
  ['files', filesBench]
]

function log (line: string): void {
  process.stderr.write(`[bench] ${line}\n`)
}

function version (pkg: string): string {
  try {
    return (JSON.parse(readFileSync(join(REPO_ROOT, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version
  } catch {
    return 'unknown'
  }
}

function git (args: string[]): string {
  try {
    return execFileSync('git', args, { cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  } catch {
    return 'unknown'
  }
}

function machine (): Record<string, unknown> {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8')
  return {
    nproc: availableParallelism(),
    cpu: /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1]?.trim() ?? 'unknown',
    memGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.version,
    libp2p: version('libp2p'),
    gossipsub: version('@libp2p/gossipsub'),
    level: version('level'),
    loadavgAtStart: loadavg().map(l => Number(l.toFixed(2))),
    // what the in-process clients and the `meshchat` processes ran with (src/heap.ts; 0: V8's own)
    heapGrowingPercent: heapGrowingPercent(),
    commit: git(['rev-parse', '--short', 'HEAD']),
    dirty: git(['status', '--porcelain', '--', 'src']) !== ''
  }
}

/** Machine-wide CPU jiffies (busy, total) from /proc/stat. */
function machineJiffies (): { busy: number, total: number } {
  const f = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number)
  const total = f.reduce((x, y) => x + y, 0)
  return { busy: total - (f[3] ?? 0) - (f[4] ?? 0), total }
}

/** CPU jiffies of this process and of its children that have exited (all of them, between groups). */
function ownJiffies (): number {
  const stat = readFileSync('/proc/self/stat', 'utf8')
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number)
  return (f[11] ?? 0) + (f[12] ?? 0) + (f[13] ?? 0) + (f[14] ?? 0)
}

/** How busy the machine is before the run (other processes), 0..1 of all cores, over `ms`. */
async function machineBusy (ms = 1_000): Promise<number> {
  const read = (): number[] => (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number)
  const a = read()
  await new Promise(resolve => setTimeout(resolve, ms))
  const b = read()
  const d = b.map((v, i) => v - (a[i] ?? 0))
  const total = d.reduce((x, y) => x + y, 0)
  const idle = (d[3] ?? 0) + (d[4] ?? 0)
  return total === 0 ? 0 : 1 - idle / total
}

async function main (): Promise<number> {
  // the in-process clients run with the heap setting of the `meshchat` command (src/heap.ts)
  tuneHeap()
  const config = loadConfig()
  const report = new Report()
  const started = new Date()
  const t0 = now()
  const meta = machine()
  meta.busyBeforeStart = Number((await machineBusy()).toFixed(2))
  log(`${String(meta.nproc)} × ${String(meta.cpu)}, node ${process.version}, load ${(meta.loadavgAtStart as number[]).join(' ')}, ${Math.round(Number(meta.busyBeforeStart) * 100)}% busy before the run`)
  if (Number(meta.busyBeforeStart) > 0.2) log('WARNING: other processes keep this machine busy; the figures will be slower than it can do')

  let cut = false
  const hardStop = setTimeout(() => {
    cut = true
    log(`the run passed ${config.maxSeconds} s: stopping`)
    report.fail('run', new Error(`cut short at BENCH_MAX_SECONDS=${config.maxSeconds}`))
    void cleanup().finally(() => { finish(report, config, meta, started, t0, true); process.exit(2) })
  }, config.maxSeconds * 1000)
  const onSignal = (): void => { void cleanup().finally(() => process.exit(130)) }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)

  const durations: Record<string, number> = {}
  const load: Record<string, { busy: number, others: number }> = {}
  for (const [name, run] of GROUPS) {
    if (cut) break
    if (config.only != null && !config.only.includes(name)) continue
    const g0 = now()
    const m0 = machineJiffies()
    const o0 = ownJiffies()
    log(`${name} …`)
    try {
      await run(report, config)
    } catch (err) {
      // a group failing because the run was cut short is not news: the hard stop reports it
      if (cut) return await new Promise<number>(() => {})
      report.fail(name, err)
      log(`${name} failed: ${(err as Error).stack ?? String(err)}`)
    }
    durations[name] = Number(((now() - g0) / 1000).toFixed(1))
    // the group's children have all exited by now, so their CPU is in this process's cutime
    const m1 = machineJiffies()
    const dt = Math.max(1, m1.total - m0.total)
    load[name] = { busy: Number(((m1.busy - m0.busy) / dt).toFixed(2)), others: Number((Math.max(0, m1.busy - m0.busy - (ownJiffies() - o0)) / dt).toFixed(2)) }
    log(`${name} done in ${durations[name]} s; machine ${Math.round(load[name].busy * 100)}% busy, ${Math.round(load[name].others * 100)}% by other processes`)
  }
  if (cut) return await new Promise<number>(() => {})
  clearTimeout(hardStop)
  report.facts.groupSeconds = durations
  report.facts.machineLoad = load
  finish(report, config, meta, started, t0, false)
  return report.errors.length === 0 ? 0 : 1
}

async function cleanup (): Promise<void> {
  await Promise.race([stopEveryGroup(), new Promise(resolve => setTimeout(resolve, 10_000))])
  killAllChildren()
}

function finish (report: Report, config: BenchConfig, meta: Record<string, unknown>, started: Date, t0: number, cut: boolean): void {
  const seconds = Number(((now() - t0) / 1000).toFixed(1))
  process.stdout.write(`\nmeshchat bench, ${started.toISOString()}, ${String(meta.nproc)} × ${String(meta.cpu)}, node ${process.version}, ${seconds} s${cut ? ' (CUT SHORT)' : ''}; machine ${Math.round(Number(meta.busyBeforeStart) * 100)}% busy before the run\n\n`)
  process.stdout.write(`${report.table()}\n`)
  const load = report.facts.machineLoad as Record<string, { busy: number, others: number }> | undefined
  if (load != null) {
    process.stdout.write(`\nmachine CPU during each group (all cores): ${Object.entries(load).map(([g, l]) => `${g} ${Math.round(l.busy * 100)}% (other processes ${Math.round(l.others * 100)}%)`).join(', ')}\n`)
  }
  for (const e of report.errors) process.stdout.write(`\nERROR in ${e.group}: ${e.name}: ${e.message}\n`)
  const out = config.out == null ? join(REPO_ROOT, 'docs', 'benchmarks.json') : resolve(config.out)
  mkdirSync(dirname(out), { recursive: true })
  const { figures, errors, facts } = report.toJSON()
  writeFileSync(out, `${JSON.stringify({ date: started.toISOString(), seconds, cutShort: cut, machine: meta, config, figures, errors, facts }, null, 2)}\n`)
  process.stdout.write(`\nfigures written to ${out}\n`)
}

main().then(code => {
  void cleanup().finally(() => process.exit(code))
}, err => {
  log(`bench crashed: ${(err as Error).stack ?? String(err)}`)
  void cleanup().finally(() => process.exit(1))
})
