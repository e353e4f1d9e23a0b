/**
 * What a bench run reports: figures, each read against references measured in the same run
 * (issue 10: "every figure is measured in the same run as its reference"), printed as a table
 * and written as JSON.
 */

export type Unit = 'ms' | 'msg/s' | 'MiB/s' | 'KiB' | 'MiB' | '/s' | 's' | 'count' | 'ms/s'

export interface Figure {
  /** Stable key, e.g. `dm.latency.p50`. */
  id: string
  group: string
  label: string
  value: number
  unit: Unit
  /** Ids of same-run references; the ratio value / reference is printed for each. */
  refs?: string[]
  /** The target from issue 10, in words. */
  target?: string
  /** Whether the target is met (undefined when no target applies or it cannot be judged). */
  pass?: boolean
  note?: string
}

export interface RatioEntry { ref: string, label: string, ratio: number }

export interface FigureOut extends Figure {
  ratios: RatioEntry[]
}

export interface GroupError { group: string, name: string, message: string }

export class Report {
  readonly figures: Figure[] = []
  readonly errors: GroupError[] = []
  /** Free-form facts of the run (settings, counts), written to the JSON. */
  readonly facts: Record<string, unknown> = {}

  add (figure: Figure): Figure {
    const at = this.figures.findIndex(f => f.id === figure.id)
    if (at >= 0) this.figures[at] = figure
    else this.figures.push(figure)
    return figure
  }

  get (id: string): Figure | undefined {
    return this.figures.find(f => f.id === id)
  }

  /** The value of a reference figure, or NaN when it was not measured (its group failed). */
  value (id: string): number {
    return this.get(id)?.value ?? Number.NaN
  }

  fail (group: string, err: unknown): void {
    const e = err as Error
    this.errors.push({ group, name: e?.name ?? 'Error', message: String(e?.message ?? err).split('\n').slice(0, 3).join(' | ') })
  }

  ratios (f: Figure): RatioEntry[] {
    return (f.refs ?? []).flatMap(ref => {
      const r = this.get(ref)
      if (r == null || !Number.isFinite(r.value) || r.value === 0) return []
      return [{ ref, label: r.label, ratio: f.value / r.value }]
    })
  }

  toJSON (): { figures: FigureOut[], errors: GroupError[], facts: Record<string, unknown> } {
    return { figures: this.figures.map(f => ({ ...f, ratios: this.ratios(f) })), errors: this.errors, facts: this.facts }
  }

  /** A plain-text table for the terminal. */
  table (): string {
    const rows: string[][] = [['figure', 'value', 'ratio to same-run reference', 'target', 'met']]
    let group = ''
    for (const f of this.figures) {
      if (f.group !== group) {
        group = f.group
        rows.push([`[${group}]`, '', '', '', ''])
      }
      const ratios = this.ratios(f).map(r => `${formatRatio(r.ratio)} ${r.label}`).join('; ')
      rows.push([`  ${f.label}`, formatValue(f.value, f.unit), ratios, f.target ?? '', f.pass == null ? '' : f.pass ? 'yes' : 'NO'])
    }
    const widths = rows[0]!.map((_h, i) => Math.min(i === 2 ? 60 : 70, Math.max(...rows.map(r => r[i]!.length))))
    const line = (r: string[]): string => r.map((c, i) => i === 1 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)).join('  ').trimEnd()
    return [line(rows[0]!), widths.map(w => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n')
  }
}

export function formatRatio (r: number): string {
  if (r >= 100) return `${r.toFixed(0)}×`
  if (r >= 10) return `${r.toFixed(1)}×`
  return `${r.toFixed(2)}×`
}

export function formatValue (v: number, unit: Unit): string {
  if (!Number.isFinite(v)) return 'n/a'
  switch (unit) {
    case 'ms':
      if (v < 1) return `${(v * 1000).toFixed(0)} µs`
      if (v < 10) return `${v.toFixed(2)} ms`
      return `${v.toFixed(1)} ms`
    case 's': return `${v.toFixed(2)} s`
    case 'msg/s':
    case '/s':
      return `${v >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(1)} ${unit}`
    case 'MiB/s': return `${v.toFixed(0)} MiB/s`
    case 'MiB': return `${v.toFixed(1)} MiB`
    case 'KiB': return `${v.toFixed(v >= 100 ? 0 : 1)} KiB`
    case 'ms/s': return `${v.toFixed(2)} ms/s`
    case 'count': return `${Math.round(v)}`
  }
}
