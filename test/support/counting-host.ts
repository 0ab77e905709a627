import type { HostUpdateJob, UpdateStep } from '@hitless/protocol'
import type { HostRuntime } from '../../services/host-agent/src/runtime/host-runtime.js'

/** Wraps a host runtime and counts every step it really runs: the effects a test checks. */
export function countingHost(inner: HostRuntime): HostRuntime & { runs: Map<UpdateStep, number> } {
  const runs = new Map<UpdateStep, number>()
  return {
    name: inner.name,
    hardware: inner.hardware,
    labels: inner.labels,
    kernel: () => inner.kernel(),
    bootId: () => inner.bootId(),
    runStep: async (step: UpdateStep, job: HostUpdateJob) => {
      runs.set(step, (runs.get(step) ?? 0) + 1)
      return inner.runStep(step, job)
    },
    snapshot: (phase) => inner.snapshot(phase),
    lastUpdateReport: () => inner.lastUpdateReport(),
    runs,
  }
}
