import Type from 'typebox'
import { KernelSpecSchema } from '../api/kernel.js'
import { StrategySchema } from '../enums/strategy.js'

/** Payload of a host-update job: ids and the fencing context, never large state. */
export const HostUpdateJobSchema = Type.Object({
  updateId: Type.String(),
  rolloutId: Type.String(),
  hostId: Type.String(),
  attempt: Type.Integer({ minimum: 1 }),
  /** The controller lease epoch that dispatched this job; a claim with a stale one is refused. */
  epoch: Type.Integer({ minimum: 0 }),
  strategy: StrategySchema,
  kernel: KernelSpecSchema,
  /** `rollback`: back to the kernel the host ran before a halted rollout. Default forward. */
  direction: Type.Optional(Type.Enum(['forward', 'rollback'])),
  /** Handover format both kernels read: the older of their two (see KernelSpec.handoverFormat). */
  handoverFormat: Type.Optional(Type.Integer({ minimum: 1 })),
})
export type HostUpdateJob = Type.Static<typeof HostUpdateJobSchema>
