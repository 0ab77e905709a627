import Type from 'typebox'
import { UPDATE_STEPS, type UpdateStep } from './update-step.js'

/**
 * Faults a live update can be made to suffer, for tests and demos (`hitless simulate update
 * --inject KIND`). Each one must be caught — a refused restore, DMA faults, or a snapshot
 * difference — and never reported as a success (docs/live-update.md says what catches which).
 * - corrupt-blob / truncate-blob: the handover blob is damaged between the kernels.
 * - drop-mapping / extra-mapping / alter-perm / shift-pa / leaf-size: the rebuilt IOAS disagrees
 *   with the preserved tables (one area missing, one too many, other permissions, another
 *   physical page, another leaf size) — the verifier's catalogue of state differences.
 * - move-device: a device comes back attached to another HWPT.
 * - alter-config: the new kernel rewrites a live configuration entry (STE/CD, context/PASID).
 * - crash:<STEP>: the agent dies during that step and must resume or fail cleanly.
 * - slow-kexec: the new kernel takes long to come back (blackout over the SLO).
 */
export const STATE_FAULT_INJECTIONS = [
  'corrupt-blob',
  'truncate-blob',
  'drop-mapping',
  'extra-mapping',
  'alter-perm',
  'shift-pa',
  'leaf-size',
  'move-device',
  'alter-config',
  'slow-kexec',
] as const

export const CRASH_FAULT_INJECTIONS = UPDATE_STEPS.map((s) => `crash:${s}` as const)

export const FAULT_INJECTIONS = [...STATE_FAULT_INJECTIONS, ...CRASH_FAULT_INJECTIONS] as const
export type FaultInjection = (typeof STATE_FAULT_INJECTIONS)[number] | `crash:${UpdateStep}`
export const FaultInjectionSchema = Type.Enum(FAULT_INJECTIONS)

export function isFaultInjection(s: string): s is FaultInjection {
  return (FAULT_INJECTIONS as readonly string[]).includes(s)
}

/** The step a `crash:<STEP>` injection names, or undefined for any other kind. */
export function crashStep(f: FaultInjection): UpdateStep | undefined {
  return f.startsWith('crash:') ? (f.slice(6) as UpdateStep) : undefined
}
