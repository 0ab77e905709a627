/**
 * BullMQ queue names (docs/architecture.md, "Queues"). Host updates are routed per agent
 * process: one queue per agent, whether it runs one real host or an emulated fleet, so an
 * emulated fleet of N hosts costs one blocking connection, not N.
 */
export const VERIFY_QUEUE = 'verify'
export const hostUpdateQueueName = (agentId: string): string => `host-update.${agentId}`

/**
 * Job ids: BullMQ refuses a second job with the same id, which makes enqueueing idempotent. The
 * epoch is part of the id so that a job a stale leader enqueued can never shadow the current
 * leader's job for the same update (the stale one's claims are refused; the current one runs).
 * (BullMQ refuses custom ids with colons, except its own legacy three-part form.)
 */
export const hostUpdateJobId = (rolloutId: string, hostId: string, attempt: number, epoch: number): string =>
  `${rolloutId}.${hostId}.a${attempt}.e${epoch}`
export const verifyJobId = (updateId: string, attempt: number): string => `verify:${updateId}:${attempt}`
