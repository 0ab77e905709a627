import type { CpuStorePort } from '../cpu/cpu-store-port.js'
import type { DmaEngine } from './dma-engine.js'
import type { GroundTruthViolation } from './ground-truth.js'

/** A freshly built host for one run: the CPU's store port and the DMA engine over its IOMMU. */
export interface InterleavingWorld {
  port: CpuStorePort
  engine: DmaEngine
}

export interface InterleavingRun {
  /** DMA ran after this many CPU stores (0: before the first). */
  boundary: number
  cache: 'warm' | 'cold'
  accesses: number
  faultsByType: Record<number, number>
  violations: GroundTruthViolation[]
}

export interface InterleavingReport {
  /** CPU stores the script performs. */
  stores: number
  runs: InterleavingRun[]
  /** No run had a ground-truth violation. */
  hitless: boolean
  /** Runs with violations. */
  failing: InterleavingRun[]
}

/**
 * Exhaustive interleaving of one short CPU store sequence with DMA: for each store boundary k
 * (0..K) and for warm and cold caches, a fresh world is built, the script runs, and after its k-th
 * store every device probes its whole working set once — from the caches as the build left them
 * (warm) or bypassing them (cold). A V=0 window that only a miss would observe is therefore found
 * even when a warm cache would hide it. 2(K+1) runs; `build` must be deterministic.
 */
export function enumerateInterleavings<W extends InterleavingWorld>(
  build: () => W,
  script: (world: W) => void,
): InterleavingReport {
  // Count the script's stores once.
  const counting = build()
  let stores = 0
  counting.port.setListener({ afterStore: () => stores++ })
  script(counting)
  counting.port.setListener(undefined)

  const runs: InterleavingRun[] = []
  for (let k = 0; k <= stores; k++) {
    for (const cache of ['warm', 'cold'] as const) {
      const w = build()
      const e = w.engine
      const before = e.violations.length
      const base = snapshot(e)
      const probe = () => {
        e.boundary = k
        e.setCold(cache === 'cold')
        e.probeAll()
        e.setCold(false)
      }
      let seen = 0
      w.port.setListener({
        afterStore: () => {
          seen++
          if (seen === k) probe()
        },
      })
      if (k === 0) probe()
      script(w)
      w.port.setListener(undefined)
      const after = snapshot(e)
      const faultsByType: Record<number, number> = {}
      for (const [id, n] of Object.entries(after.faults)) {
        const d = n - (base.faults[Number(id)] ?? 0)
        if (d) faultsByType[Number(id)] = d
      }
      runs.push({
        boundary: k,
        cache,
        accesses: after.accesses - base.accesses,
        faultsByType,
        violations: e.violations.slice(before),
      })
    }
  }
  const failing = runs.filter((r) => r.violations.length > 0)
  return { stores, runs, hitless: failing.length === 0, failing }
}

function snapshot(e: DmaEngine) {
  let accesses = 0
  const faults: Record<number, number> = {}
  for (const d of e.devices) {
    accesses += d.counters.accesses
    for (const [id, n] of Object.entries(d.counters.faultsByType))
      faults[Number(id)] = (faults[Number(id)] ?? 0) + n
  }
  return { accesses, faults }
}
