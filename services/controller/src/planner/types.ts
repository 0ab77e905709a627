import type { HostUpdateState, ResolvedPolicy, RolloutPhase, Verdict } from '@hitless/protocol'

// The planner's view of a rollout: plain data read from PostgreSQL, no I/O. The loop builds it
// (loop/rollout-state.repository.ts), calls planNext, and carries out the actions.

export interface PlannerUpdate {
  id: string
  hostName: string
  /** Value of the policy's spreadBy label on this host (null: none, or no spread). */
  domain: string | null
  /** Wave index the update belongs to. */
  wave: number
  /** Position in the rollout's plan; dispatch follows it within a wave. */
  order: number
  state: HostUpdateState
  /** The host is READY and may start an update now (not cordoned, offline or held). */
  hostReady: boolean
  verdict: Verdict | null
  blackoutMs: number | null
  /** When the current attempt's KEXEC step started, while it has not ended. */
  kexecRunningSince: Date | null
  /** An operator resumed past this update's verdict gate (it pauses no more). */
  gateAcked: boolean
}

export interface PlannerWave {
  index: number
  startedAt: Date | null
  finishedAt: Date | null
}

export interface PlannerRollout {
  id: string
  phase: RolloutPhase
  policy: ResolvedPolicy
  waves: PlannerWave[]
  updates: PlannerUpdate[]
  /** Set on a rollback rollout (which never rolls back in turn). */
  rollbackOf: string | null
  /** A rollback rollout was already created for this (halted) rollout. */
  rolledBack: boolean
}

/** What the planner asks the loop to do; each is one fenced write (and maybe an enqueue). */
export type PlannerAction =
  | { kind: 'failHeld'; updateId: string; reason: string }
  | { kind: 'halt'; reason: string }
  | { kind: 'pause'; reason: string }
  | { kind: 'finishWave'; wave: number }
  | { kind: 'startWave'; wave: number }
  | { kind: 'dispatch'; updateId: string; hostName: string }
  | { kind: 'complete'; reason: string }
  | { kind: 'startRollback'; updateIds: string[] }
  /** Nothing to do now, and why (baking, window closed, slots full): shown as phaseReason. */
  | { kind: 'wait'; reason: string; until?: Date }
