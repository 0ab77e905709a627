import Type from 'typebox'
import { FaultCountsSchema } from '../enums/fault-counts.js'
import { HardwareSchema } from '../enums/hardware.js'
import { UpdateStepSchema } from '../enums/update-step.js'
import { LabelsSchema } from './common.js'

/** An agent process enrols the hosts it runs (one real host, or an emulated fleet). */
export const EnrolBodySchema = Type.Object({
  agentId: Type.String({ minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9][-A-Za-z0-9_.]*$' }),
  hosts: Type.Array(
    Type.Object({
      name: Type.String({ minLength: 1, maxLength: 200 }),
      hardware: HardwareSchema,
      kernel: Type.String({ minLength: 1, maxLength: 200 }),
      bootId: Type.String({ minLength: 1, maxLength: 100 }),
      labels: Type.Optional(LabelsSchema),
    }),
    { minItems: 1, maxItems: 10000 },
  ),
})
export type EnrolBody = Type.Static<typeof EnrolBodySchema>

/** Per-host tokens are returned once, here; the controller keeps only their hashes. */
export const EnrolResponseSchema = Type.Object({
  queue: Type.String(),
  hosts: Type.Array(Type.Object({ id: Type.String(), name: Type.String(), token: Type.String() })),
})
export type EnrolResponse = Type.Static<typeof EnrolResponseSchema>

export const HeartbeatBodySchema = Type.Object({
  bootId: Type.String({ minLength: 1, maxLength: 100 }),
  kernel: Type.String({ minLength: 1, maxLength: 200 }),
})
export type HeartbeatBody = Type.Static<typeof HeartbeatBodySchema>

/** Fencing context every agent call about an update carries (see docs/architecture.md). */
export const ClaimContextSchema = Type.Object({
  attempt: Type.Integer({ minimum: 1 }),
  epoch: Type.Integer({ minimum: 0 }),
  /** Identifies the worker running the job (BullMQ lock token); a step is owned by one worker. */
  worker: Type.String({ minLength: 1, maxLength: 200 }),
})

export const StepClaimBodySchema = Type.Intersect([
  ClaimContextSchema,
  Type.Object({ step: UpdateStepSchema }),
])
export type StepClaimBody = Type.Static<typeof StepClaimBodySchema>

export const StepClaimResponseSchema = Type.Object({
  /** `run`: do the step; `skip`: the journal says it is done (a redelivered job). */
  action: Type.Enum(['run', 'skip']),
  /** What the step recorded when it was done, so a resumed job can carry on from it. */
  detail: Type.Optional(Type.Unknown()),
})
export type StepClaimResponse = Type.Static<typeof StepClaimResponseSchema>

/** How an attempt ended, as the agent reports it (the finish call, or a last step report). */
export const FinishFieldsSchema = Type.Object({
  outcome: Type.Enum(['completed', 'failed', 'failed-held']),
  reason: Type.Optional(Type.String({ maxLength: 2000 })),
  blackoutMs: Type.Optional(Type.Number({ minimum: 0 })),
  dmaDuringBlackout: Type.Optional(Type.Integer({ minimum: 0 })),
  faults: Type.Optional(FaultCountsSchema),
  bootId: Type.String({ minLength: 1, maxLength: 100 }),
  kernel: Type.String({ minLength: 1, maxLength: 200 }),
})
export type FinishFields = Type.Static<typeof FinishFieldsSchema>

export const StepReportBodySchema = Type.Intersect([
  ClaimContextSchema,
  Type.Object({
    step: UpdateStepSchema,
    status: Type.Enum(['done', 'failed']),
    durationMs: Type.Number({ minimum: 0 }),
    detail: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    /**
     * With `status: done`: also claim this step, in the same transaction (one round trip per
     * step instead of two). The answer is then 200 with the claim's outcome.
     */
    next: Type.Optional(UpdateStepSchema),
    /**
     * Without `next` (the last step, or a failed one): also end the attempt, in the same
     * transaction, as `POST .../finish` does (one round trip instead of two). The answer is then
     * 200 with `verifying`.
     */
    finish: Type.Optional(FinishFieldsSchema),
  }),
])
export type StepReportBody = Type.Static<typeof StepReportBodySchema>

/**
 * Answer to a step report carrying `next`: the report is journaled either way; `next` is the
 * claim of the next step (as `POST .../claim` answers it), or `refused` is the error that claim
 * would have answered (stale epoch or attempt, another worker, the update ended): the job stops.
 * Answer to a report carrying `finish`: `verifying`.
 */
export const StepReportResponseSchema = Type.Object({
  next: Type.Optional(StepClaimResponseSchema),
  /** With `finish`: as `POST .../finish` answers (true: the update waits for its verdict). */
  verifying: Type.Optional(Type.Boolean()),
  refused: Type.Optional(
    Type.Object({
      code: Type.String(),
      message: Type.String(),
      details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    }),
  ),
})
export type StepReportResponse = Type.Static<typeof StepReportResponseSchema>

export const FinishBodySchema = Type.Intersect([ClaimContextSchema, FinishFieldsSchema])
export type FinishBody = Type.Static<typeof FinishBodySchema>

export const SNAPSHOT_PHASES = ['pre', 'post'] as const
export type SnapshotPhase = (typeof SNAPSHOT_PHASES)[number]
export const SnapshotParamsSchema = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 200 }),
  phase: Type.Enum(SNAPSHOT_PHASES),
})
