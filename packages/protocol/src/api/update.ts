import Type from 'typebox'
import { FaultCountsSchema } from '../enums/fault-counts.js'
import { UpdateStepSchema } from '../enums/update-step.js'
import { VerdictSchema } from '../enums/verdict.js'
import { HOST_UPDATE_EXAMPLE, VERDICT_EXAMPLE } from './examples.js'

export const HOST_UPDATE_STATES = [
  'PENDING',
  'QUEUED',
  'RUNNING',
  'VERIFYING',
  'SUCCEEDED',
  'NEEDS_REVIEW',
  'FAILED',
  'FAILED_HELD',
  'CANCELLED',
] as const
export type HostUpdateState = (typeof HOST_UPDATE_STATES)[number]
export const HostUpdateStateSchema = Type.Enum(HOST_UPDATE_STATES)
export const TERMINAL_UPDATE_STATES: readonly HostUpdateState[] = [
  'SUCCEEDED',
  'NEEDS_REVIEW',
  'FAILED',
  'FAILED_HELD',
  'CANCELLED',
]

export const StepRecordSchema = Type.Object({
  attempt: Type.Integer(),
  step: UpdateStepSchema,
  status: Type.Enum(['running', 'done', 'failed']),
  startedAt: Type.String({ format: 'date-time' }),
  finishedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  durationMs: Type.Union([Type.Number(), Type.Null()]),
})
export type StepRecord = Type.Static<typeof StepRecordSchema>

export const VerdictBodySchema = Type.Object(
  {
    updateId: Type.String(),
    verdict: VerdictSchema,
    reasons: Type.Array(Type.String()),
    diff: Type.Union([Type.Unknown(), Type.Null()]),
    faults: Type.Union([FaultCountsSchema, Type.Null()]),
    createdAt: Type.String({ format: 'date-time' }),
  },
  { $id: 'Verdict', examples: [VERDICT_EXAMPLE] },
)
export type VerdictBody = Type.Static<typeof VerdictBodySchema>

export const HostUpdateSchema = Type.Object(
  {
    id: Type.String(),
    rolloutId: Type.String(),
    hostId: Type.String(),
    hostName: Type.String(),
    state: HostUpdateStateSchema,
    attempt: Type.Integer(),
    /** Index of the wave the host is in (0 is the canary wave when there is one). */
    wave: Type.Union([Type.Integer(), Type.Null()]),
    startedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    finishedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    fromKernel: Type.Union([Type.String(), Type.Null()]),
    toKernel: Type.String(),
    blackoutMs: Type.Union([Type.Number(), Type.Null()]),
    failureReason: Type.Union([Type.String(), Type.Null()]),
    steps: Type.Array(StepRecordSchema),
    verdict: Type.Union([VerdictSchema, Type.Null()]),
  },
  { $id: 'HostUpdate', examples: [HOST_UPDATE_EXAMPLE] },
)
export type HostUpdate = Type.Static<typeof HostUpdateSchema>

export const UpdateListQuerySchema = Type.Object({
  rolloutId: Type.Optional(Type.String({ maxLength: 200 })),
  hostId: Type.Optional(Type.String({ maxLength: 200 })),
  state: Type.Optional(HostUpdateStateSchema),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
})
