import type { FaultCounts, SnapshotHeader } from '@hitless/protocol'

/** Faults between SNAPSHOT_PRE and SNAPSHOT_POST; `null` where they cannot be counted. */
export interface FaultFindings {
  recorded: number | null
  lost: number | null
  groundTruth: number | null
  /** Faults the new kernel counted since its boot (within the window, but not all of it). */
  kernelSinceBoot: number
  faulted: boolean
  /** Why faults were found (a reason each). */
  reasons: string[]
  /** Why faults could not be counted. */
  unknown: string[]
  /** What the backend cannot observe at all (caps the verdict at `consistent`). */
  notObserved: string[]
}

/**
 * Counts faults from hardware-held state, post minus pre. Kernel counters restart at kexec, so
 * they alone prove nothing absent; a fault they show is a fault, though. Any fault or lost fault
 * fails; recorded and ground truth are compared where the backend knows both.
 */
export function checkFaults(pre: SnapshotHeader, post: SnapshotHeader): FaultFindings {
  const f: FaultFindings = {
    recorded: null,
    lost: null,
    groundTruth: null,
    kernelSinceBoot: 0,
    faulted: false,
    reasons: [],
    unknown: [],
    notObserved: [],
  }
  const hwA = pre.faults.hardware
  const hwB = post.faults.hardware
  if (pre.capabilities.hardwareFaultCounters && post.capabilities.hardwareFaultCounters && hwA && hwB) {
    if (hwA.source !== hwB.source) {
      f.unknown.push(`hardware fault counters come from ${hwA.source} before and ${hwB.source} after`)
    } else if (hwB.recorded < hwA.recorded || hwB.lost < hwA.lost) {
      f.unknown.push(
        `hardware fault counters went backwards (${hwA.source} recorded ${hwA.recorded}→${hwB.recorded}, lost ${hwA.lost}→${hwB.lost}): reset during the update, faults between the snapshots unknown`,
      )
    } else {
      f.recorded = hwB.recorded - hwA.recorded
      f.lost = hwB.lost - hwA.lost
    }
  }
  const gtA = pre.faults.groundTruth
  const gtB = post.faults.groundTruth
  if (
    pre.capabilities.groundTruthFaults &&
    post.capabilities.groundTruthFaults &&
    gtA !== undefined &&
    gtB !== undefined
  ) {
    if (gtB < gtA) f.unknown.push(`ground-truth fault counter went backwards (${gtA}→${gtB})`)
    else f.groundTruth = gtB - gtA
  }
  const k = post.faults.kernel
  f.kernelSinceBoot = k ? Math.max(k.recorded + k.lost, k.groundTruth) : 0
  if (f.recorded)
    f.reasons.push(
      `fault.recorded: ${f.recorded} DMA fault(s) recorded by the hardware between the snapshots`,
    )
  if (f.lost) {
    f.reasons.push(
      `fault.lost: ${f.lost} DMA fault(s) lost by the hardware (event queue or fault-record overflow): the update can never be hitless`,
    )
  }
  if (f.groundTruth)
    f.reasons.push(`fault.groundTruth: ${f.groundTruth} DMA access(es) did not reach their page`)
  if (
    f.recorded !== null &&
    f.lost !== null &&
    f.groundTruth !== null &&
    f.groundTruth !== f.recorded + f.lost
  ) {
    f.reasons.push(
      `fault.mismatch: the hardware accounts for ${f.recorded + f.lost} fault(s) (recorded ${f.recorded}, lost ${f.lost}) but ground truth saw ${f.groundTruth}`,
    )
  }
  if (f.kernelSinceBoot) {
    f.reasons.push(`fault.kernel: the new kernel counted ${f.kernelSinceBoot} DMA fault(s) since it booted`)
  }
  f.faulted = !!(f.recorded || f.lost || f.groundTruth || f.kernelSinceBoot)
  if (f.recorded === null && f.groundTruth === null && f.unknown.length === 0) {
    f.notObserved.push(
      'faults between the snapshots cannot be counted: the backend observes neither hardware-held fault counters nor ground truth (kernel counters restart at kexec)',
    )
  }
  return f
}

/** The fault counts stored with a verdict: only when all three are known (never a guess). */
export function faultCounts(f: FaultFindings): FaultCounts | null {
  if (f.recorded === null || f.lost === null || f.groundTruth === null) return null
  return { recorded: f.recorded, lost: f.lost, groundTruth: f.groundTruth }
}
