import { enumerateInterleavings } from '@hitless/emulator'
import { type FaultCounts, HARDWARE, type Hardware } from '@hitless/protocol'
import {
  buildSwitchWorld,
  methodsFor,
  runSwitch,
  type SwitchMethod,
  type SwitchWorld,
} from './switch-methods.js'

/** One row of `hitless analyze switch`. */
export interface SwitchRow {
  hardware: Hardware
  method: SwitchMethod
  /** Runs: (CPU stores + 1) boundaries × warm and cold caches. */
  interleavings: number
  /** Summed over every interleaving. */
  faults: FaultCounts
  /** No ground-truth violation and no fault in any interleaving. */
  hitless: boolean
}

/** A row with what the markdown explains it from. */
export interface SwitchDetail extends SwitchRow {
  /** CPU stores of the switch (each a boundary at which DMA ran). */
  stores: number
  /** Hardware fault IDs seen (SMMUv3 event IDs, VT-d fault reasons) and how often. */
  faultTypes: Record<number, number>
  /** Ground-truth violation kinds seen. */
  violationKinds: string[]
  /** Interleavings that faulted, as `boundary/cache`. */
  failing: string[]
}

/**
 * Runs one method on one hardware model across every interleaving (deterministic mode): a fresh
 * host per run, the switch's stores, and after the k-th store the device probes its whole working
 * set from warm caches and from cold ones (enumerateInterleavings). Faults are counted from the
 * DMA engine: ground truth (accesses that did not reach the right page, or whose outcome the
 * architecture leaves UNPREDICTABLE), recorded and lost (by the hardware's fault log).
 */
export function analyzeOne(hardware: Hardware, method: SwitchMethod): SwitchDetail {
  const totals = { groundTruth: 0, faults: 0, lost: 0 }
  let current: { w: SwitchWorld; gt: number; faults: number; lost: number } | undefined
  const settle = () => {
    if (!current) return
    const c = current.w.engine.devices[0].counters
    totals.groundTruth += c.groundTruth.total - current.gt
    totals.faults += c.faults - current.faults
    totals.lost += c.lost - current.lost
    current = undefined
  }
  const report = enumerateInterleavings(
    () => {
      settle()
      const w = buildSwitchWorld(hardware, method)
      const c = w.engine.devices[0].counters
      current = { w, gt: c.groundTruth.total, faults: c.faults, lost: c.lost }
      return w
    },
    (w) => runSwitch(w, method),
  )
  settle()
  const faultTypes: Record<number, number> = {}
  for (const r of report.runs)
    for (const [id, n] of Object.entries(r.faultsByType))
      faultTypes[Number(id)] = (faultTypes[Number(id)] ?? 0) + n
  const faults = { groundTruth: totals.groundTruth, recorded: totals.faults - totals.lost, lost: totals.lost }
  return {
    hardware,
    method,
    interleavings: report.runs.length,
    faults,
    hitless: report.hitless && faults.groundTruth === 0 && totals.faults === 0,
    stores: report.stores,
    faultTypes,
    violationKinds: [...new Set(report.failing.flatMap((r) => r.violations.map((v) => v.kind)))].sort(),
    failing: report.failing.map((r) => `${r.boundary}/${r.cache}`),
  }
}

/** Every applicable (hardware, method) pair, hardware in the protocol's order. */
export function analyzeSwitch(hardware: readonly Hardware[] = HARDWARE): SwitchDetail[] {
  return hardware.flatMap((h) => methodsFor(h).map((m) => analyzeOne(h, m)))
}

/** The row as `--output json` prints it. */
export function toRow(d: SwitchDetail): SwitchRow {
  return {
    hardware: d.hardware,
    method: d.method,
    interleavings: d.interleavings,
    faults: d.faults,
    hitless: d.hitless,
  }
}
