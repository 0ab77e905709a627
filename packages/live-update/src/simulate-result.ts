import type { FaultCounts, FaultInjection, Verdict } from '@hitless/protocol'
import { verifySnapshots } from '@hitless/verify'
import type { BlackoutPhases, KernelThreadRecord } from './concurrent/concurrent-update.js'
import type { SimulateMode, SimulateOptions, SimulateResult } from './simulate.js'
import type { LiveUpdateResult } from './state-machine/live-update.js'

export interface SimulatedRun {
  mode: SimulateMode
  targetKernel: string
  seed: number
  mappings: number
  devices: number
  inject: FaultInjection[]
  dmaFloor: number
  result: LiveUpdateResult
  /** Faults between the guest's setup and the end of the run (post minus baseline). */
  faults: FaultCounts
  crashes: string[]
  kernels?: KernelThreadRecord[]
  blackoutPhases?: BlackoutPhases
}

/** Faults between two readings of the machine's counters (its ground truth, the IOMMU's log). */
export function faultsBetween(baseline: FaultCounts, end: FaultCounts): FaultCounts {
  return {
    groundTruth: end.groundTruth - baseline.groundTruth,
    recorded: end.recorded - baseline.recorded,
    lost: end.lost - baseline.lost,
  }
}

/**
 * One simulated update judged, in either mode alike: the verifier's own comparison of the two
 * snapshots (@hitless/verify); without them, faults or `unverified`; and `hitless` only with at
 * least `dmaFloor` DMA accesses during the blackout.
 */
export function simulateResult(o: SimulateOptions, run: SimulatedRun): SimulateResult {
  const { result, faults, dmaFloor } = run
  let verdict: Verdict = 'unverified'
  const reasons: string[] = []
  if (result.outcome !== 'completed')
    reasons.push(`update ${result.outcome}: ${result.reason ?? 'no reason'}`)
  if (result.pre && result.post) {
    const v = verifySnapshots(result.pre, result.post, {
      targetKernel: run.targetKernel,
      blackoutSloMs: o.blackoutSloMs ?? 1000,
    })
    verdict = result.outcome === 'completed' ? v.verdict : v.verdict === 'hitless' ? 'unverified' : v.verdict
    reasons.push(...v.reasons)
  } else if (faults.groundTruth + faults.recorded + faults.lost > 0) {
    verdict = 'faulted'
    reasons.push(`fault.groundTruth: ${faults.groundTruth} DMA access(es) did not reach their page`)
  } else reasons.push('unverified: no post-update snapshot (the update did not complete)')
  const during = result.dmaDuringBlackout ?? null
  if (verdict === 'hitless' && (during === null || during < dmaFloor)) {
    verdict = 'unverified'
    reasons.push(
      `continuity: ${during ?? 0} DMA accesses during the blackout, below the floor of ${dmaFloor}`,
    )
  }
  return {
    mode: run.mode,
    hardware: o.hardware,
    strategy: o.strategy,
    seed: run.seed,
    mappings: run.mappings,
    devices: run.devices,
    inject: run.inject,
    outcome: result.outcome,
    ...(result.failedStep ? { failedStep: result.failedStep } : {}),
    ...(result.reason ? { reason: result.reason } : {}),
    crashes: run.crashes,
    steps: result.steps,
    blackoutMs: result.blackoutMs ?? null,
    dmaDuringBlackout: during,
    dmaFloor,
    faults,
    preDigest: result.preDigest ?? null,
    postDigest: result.postDigest ?? null,
    handoverBytes: result.handoverBytes ?? null,
    restore: result.restore ?? null,
    verdict,
    reasons,
    ...(run.kernels ? { kernels: run.kernels } : {}),
    ...(run.blackoutPhases ? { blackoutPhases: run.blackoutPhases } : {}),
  }
}
