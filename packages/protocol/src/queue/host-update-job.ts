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
})
export type HostUpdateJob = Type.Static<typeof HostUpdateJobSchema>
