import Type from 'typebox'
import { StrategySchema } from '../enums/strategy.js'
import { LabelsSchema } from './common.js'
import { EXAMPLE_POLICY, ROLLOUT_EXAMPLE } from './examples.js'
import { KernelRefSchema, KernelSpecSchema } from './kernel.js'
import { ResolvedPolicySchema, RolloutPolicySchema } from './rollout-policy.js'
import { HostUpdateSchema } from './update.js'

export * from './rollout-policy.js'

export const ROLLOUT_PHASES = ['PENDING', 'RUNNING', 'PAUSED', 'COMPLETED', 'HALTED', 'ABORTED'] as const
export type RolloutPhase = (typeof ROLLOUT_PHASES)[number]
export const RolloutPhaseSchema = Type.Enum(ROLLOUT_PHASES)
/** Phases in which a rollout holds its hosts: another rollout selecting one of them is a 409. */
export const ACTIVE_ROLLOUT_PHASES: readonly RolloutPhase[] = ['PENDING', 'RUNNING', 'PAUSED', 'HALTED']

export const HostSelectorSchema = Type.Object({
  /** Every label given must match; `{}` selects every host. */
  labels: Type.Optional(LabelsSchema),
  /** Explicit host names (intersected with the label match when both are given). */
  names: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { maxItems: 10000 })),
})
export type HostSelector = Type.Static<typeof HostSelectorSchema>

export const CreateRolloutBodySchema = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    /** The target kernel artifact, or `{id}` of one registered with POST /api/v1/kernels. */
    kernel: Type.Union([KernelSpecSchema, KernelRefSchema]),
    strategy: StrategySchema,
    selector: HostSelectorSchema,
    /** Canaries, waves, concurrency, spread, budget, bake, windows, verdict gates (all optional). */
    policy: Type.Optional(RolloutPolicySchema),
    /** Validate and return the wave plan without creating anything. */
    dryRun: Type.Optional(Type.Boolean()),
  },
  {
    examples: [
      {
        name: 'kernel 7.2.13 to rack a',
        kernel: {
          version: '7.2.13-hitless1',
          image: '/boot/vmlinuz-7.2.13-hitless1',
          sha256: 'a'.repeat(64),
        },
        strategy: 'serialise',
        selector: { labels: { rack: 'a' } },
      },
      {
        name: 'fleet-wide 7.2.13 with canary, waves and rack spread',
        kernel: { id: 'kernel-3f2a9c0d1e4b5a6f' },
        strategy: 'serialise',
        selector: { labels: { pool: 'gpu' } },
        policy: EXAMPLE_POLICY,
      },
    ],
  },
)
export type CreateRolloutBody = Type.Static<typeof CreateRolloutBodySchema>

export const WavePlanSchema = Type.Object({
  index: Type.Integer(),
  /** `canary` for wave 0 when the policy has canaries. */
  kind: Type.Enum(['canary', 'wave']),
  hosts: Type.Array(Type.String()),
})
export type WavePlan = Type.Static<typeof WavePlanSchema>

/** What dryRun returns: the plan the rollout would follow, nothing created. */
export const RolloutDryRunSchema = Type.Object(
  {
    dryRun: Type.Literal(true),
    hosts: Type.Array(Type.String()),
    waves: Type.Array(WavePlanSchema),
    policy: ResolvedPolicySchema,
    limits: Type.Object({
      maxConcurrent: Type.Integer(),
      errorBudget: Type.Integer(),
    }),
    /** When the first maintenance window opens (null: no windows, start now). */
    firstWindowOpensAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  },
  {
    $id: 'RolloutDryRun',
    examples: [
      {
        dryRun: true,
        hosts: ['h1', 'h2', 'h3'],
        waves: [
          { index: 0, kind: 'canary', hosts: ['h1'] },
          { index: 1, kind: 'wave', hosts: ['h2', 'h3'] },
        ],
        policy: { ...EXAMPLE_POLICY, maxPerDomain: 1 },
        limits: { maxConcurrent: 1, errorBudget: 0 },
        firstWindowOpensAt: '2026-12-01T21:00:00.000Z',
      },
    ],
  },
)
export type RolloutDryRun = Type.Static<typeof RolloutDryRunSchema>

export const WaveSchema = Type.Object({
  index: Type.Integer(),
  kind: Type.Enum(['canary', 'wave']),
  hostCount: Type.Integer(),
  startedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  finishedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
})

export const RolloutSchema = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    phase: RolloutPhaseSchema,
    phaseReason: Type.Union([Type.String(), Type.Null()]),
    strategy: StrategySchema,
    kernel: Type.Object({ id: Type.String(), version: Type.String(), sha256: Type.String() }),
    /** Set on a rollback rollout: the halted rollout whose hosts it returns to their old kernel. */
    rollbackOf: Type.Union([Type.String(), Type.Null()]),
    policy: ResolvedPolicySchema,
    createdAt: Type.String({ format: 'date-time' }),
    createdBy: Type.Union([Type.String(), Type.Null()]),
    summary: Type.Object({
      hosts: Type.Integer(),
      succeeded: Type.Integer(),
      failed: Type.Integer(),
      inProgress: Type.Integer(),
      needsReview: Type.Integer(),
      cancelled: Type.Integer(),
    }),
    waves: Type.Array(WaveSchema),
    hosts: Type.Array(HostUpdateSchema),
  },
  { $id: 'Rollout', examples: [ROLLOUT_EXAMPLE] },
)
export type Rollout = Type.Static<typeof RolloutSchema>

export const RolloutListQuerySchema = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
  phase: Type.Optional(RolloutPhaseSchema),
})

/** Body of pause, resume and abort: an optional reason for the audit log. */
export const RolloutActionBodySchema = Type.Object({
  reason: Type.Optional(Type.String({ maxLength: 2000 })),
})
export type RolloutActionBody = Type.Static<typeof RolloutActionBodySchema>
