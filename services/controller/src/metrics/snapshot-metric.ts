import type { Metric, Registry } from 'prom-client'

export type Labels = Record<string, string>

/** One exposition line: `metricName{labels} value` (metricName defaults to the metric's name). */
export interface Sample {
  metricName?: string
  labels: Labels
  value: number
}

/** One label set of a histogram, as the aggregate SQL returns it. */
export interface HistogramRow {
  labels: Labels
  /** Observations <= each bound (already cumulative: `count(*) FILTER (WHERE v <= le)`). */
  le: number[]
  count: number
  sum: number
}

/**
 * A counter or histogram whose samples are computed from PostgreSQL at scrape time rather than
 * incremented in this process, so that every replica exports the same totals over all time.
 *
 * Each series is held at the highest value this process has exported: a value that goes down is
 * read by Prometheus as a counter reset (and `rate()` then counts the whole value again). The
 * totals do not go down (an operator's retry is added back from its audit entry, metrics.ts):
 * the hold is the safety net for rows removed by hand. A series that disappears from PostgreSQL
 * keeps being exported at its last value.
 *
 * prom-client's Registry reads `name`, `help`, `type`, `aggregator` and `get()` of a metric;
 * its typings list only its own classes, hence the one cast in `register`.
 */
export class SnapshotMetric {
  readonly aggregator = 'sum' as const
  private readonly series = new Map<string, Sample>()

  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'histogram',
  ) {}

  register(registry: Registry): this {
    registry.registerMetric(this as unknown as Metric)
    return this
  }

  /** Replaces the samples with this scrape's; each series keeps the highest value exported. */
  publish(samples: Sample[]): void {
    for (const s of samples) {
      const key = seriesKey(s)
      const held = this.series.get(key)
      this.series.set(key, held && held.value > s.value ? held : s)
    }
  }

  async get(): Promise<{
    name: string
    help: string
    type: 'counter' | 'histogram'
    aggregator: 'sum'
    values: Sample[]
  }> {
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values: [...this.series.values()],
    }
  }

  reset(): void {
    this.series.clear()
  }
}

function seriesKey(s: Sample): string {
  const labels = Object.keys(s.labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(s.labels[k])}`)
  return `${s.metricName ?? ''}{${labels.join(',')}}`
}

/**
 * The exposition of one histogram: for each label set, `_bucket{le}` for every bound then
 * `le="+Inf"` (= `_count`), `_sum` and `_count`. Bucket counts are made cumulative in `le` even if
 * a row's are not (they are, from `FILTER (WHERE v <= le)`; this is the invariant, not a fix-up).
 */
export function histogramSamples(name: string, bounds: number[], rows: HistogramRow[]): Sample[] {
  const out: Sample[] = []
  for (const r of rows) {
    if (r.le.length !== bounds.length)
      throw new Error(`${name}: ${r.le.length} bucket counts for ${bounds.length} bounds`)
    let cumulative = 0
    bounds.forEach((le, i) => {
      cumulative = Math.max(cumulative, r.le[i])
      out.push({ metricName: `${name}_bucket`, labels: { ...r.labels, le: String(le) }, value: cumulative })
    })
    out.push({
      metricName: `${name}_bucket`,
      labels: { ...r.labels, le: '+Inf' },
      value: Math.max(cumulative, r.count),
    })
    out.push({ metricName: `${name}_sum`, labels: r.labels, value: r.sum })
    out.push({ metricName: `${name}_count`, labels: r.labels, value: Math.max(cumulative, r.count) })
  }
  return out
}
