import Type from 'typebox'
import { StrategySchema } from '../enums/strategy.js'
import { LabelsSchema } from './common.js'
import { KernelSpecSchema } from './kernel.js'
import { HostUpdateSchema } from './update.js'

export const ROLLOUT_PHASES = ['PENDING', 'RUNNING', 'PAUSED', 'COMPLETED', 'HALTED', 'ABORTED'] as const
export type RolloutPhase = (typeof ROLLOUT_PHASES)[number]
export const RolloutPhaseSchema = Type.Enum(ROLLOUT_PHASES)

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
    kernel: KernelSpecSchema,
    strategy: StrategySchema,
    selector: HostSelectorSchema,
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
    ],
  },
)
export type CreateRolloutBody = Type.Static<typeof CreateRolloutBodySchema>

export const RolloutSchema = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    phase: RolloutPhaseSchema,
    phaseReason: Type.Union([Type.String(), Type.Null()]),
    strategy: StrategySchema,
    kernel: Type.Object({ id: Type.String(), version: Type.String(), sha256: Type.String() }),
    createdAt: Type.String({ format: 'date-time' }),
    summary: Type.Object({
      hosts: Type.Integer(),
      succeeded: Type.Integer(),
      failed: Type.Integer(),
      inProgress: Type.Integer(),
      needsReview: Type.Integer(),
    }),
    hosts: Type.Array(HostUpdateSchema),
  },
  { $id: 'Rollout' },
)
export type Rollout = Type.Static<typeof RolloutSchema>
