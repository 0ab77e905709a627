import type { FaultCounts, Hardware, HostUpdateJob, Labels, UpdateStep } from '@hitless/protocol'

/** What the update runner needs of one host, real or emulated. */
export interface HostRuntime {
  readonly name: string
  readonly hardware: Hardware
  readonly labels: Labels
  kernel(): string
  bootId(): string
  /**
   * Runs one step of the live update. Returns what the journal should keep for the step (a
   * resumed job gets it back). Throws to fail the step.
   */
  runStep(step: UpdateStep, job: HostUpdateJob): Promise<Record<string, unknown>>
  /** Encoded snapshot for `phase`, or undefined when this runtime cannot take one. */
  snapshot(phase: 'pre' | 'post'): Promise<{ data: Uint8Array; format: string } | undefined>
  /** Measurements of the last update for the finish report. */
  lastUpdateReport(): { blackoutMs?: number; dmaDuringBlackout?: number; faults?: FaultCounts }
}
