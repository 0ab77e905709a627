// Shared timing for the emulator benchmarks (not a *.bench.ts file: the runner does not start it).
//
// Every measured loop runs REPS times, interleaved (baseline, walk, translation, baseline, …), so
// that noise from other work on the machine falls on all of them alike; each figure is the median
// of its repetitions, and each ratio is also reported as the median of the per-repetition ratios
// with its range.

export interface Timing {
  /** Median ns per operation. */
  ns: number
  /** ns per operation of every repetition. */
  runs: number[]
}

const nowNs = () => Number(process.hrtime.bigint())

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

/** Times each loop `reps` times, interleaved; a loop does `ops` operations and returns a sink. */
export function timeInterleaved(
  reps: number,
  ops: number,
  loops: Record<string, () => number>,
): Record<string, Timing> {
  const names = Object.keys(loops)
  const runs: Record<string, number[]> = {}
  let sink = 0
  for (const n of names) {
    runs[n] = []
    sink += loops[n]() // warm-up (optimisation)
  }
  for (let r = 0; r < reps; r++) {
    for (const n of names) {
      const t0 = nowNs()
      sink += loops[n]()
      runs[n].push((nowNs() - t0) / ops)
    }
  }
  if (Number.isNaN(sink)) throw new Error('sink')
  const out: Record<string, Timing> = {}
  for (const n of names) out[n] = { ns: median(runs[n]), runs: runs[n] }
  return out
}

/** Median and range of the per-repetition ratios a/b. */
export function ratio(a: Timing, b: Timing): { median: number; min: number; max: number } {
  const rs = a.runs.map((x, i) => x / b.runs[i])
  return { median: median(rs), min: Math.min(...rs), max: Math.max(...rs) }
}

export const fmtRatio = (r: { median: number; min: number; max: number }): string =>
  `${r.median.toFixed(2)}x [${r.min.toFixed(2)}-${r.max.toFixed(2)}]`

export const fmtRate = (t: Timing): string => `${(1e3 / t.ns).toFixed(2)} M/s (${t.ns.toFixed(1)} ns)`
