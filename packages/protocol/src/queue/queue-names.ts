/**
 * BullMQ queue names (docs/architecture.md, "Queues"). Host updates are routed per agent
 * process: one queue per agent, whether it runs one real host or an emulated fleet, so an
 * emulated fleet of N hosts costs one blocking connection, not N.
 */
export const VERIFY_QUEUE = 'verify'
export const hostUpdateQueueName = (agentId: string): string => `host-update.${agentId}`

/** Job ids: BullMQ refuses a second job with the same id, which makes enqueueing idempotent. */
export const hostUpdateJobId = (rolloutId: string, hostId: string, attempt: number): string =>
  `${rolloutId}:${hostId}:${attempt}`
export const verifyJobId = (updateId: string, attempt: number): string => `verify:${updateId}:${attempt}`
