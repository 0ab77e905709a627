import { Queue, QueueEvents } from 'bullmq'
import { Redis } from 'ioredis'
import {
  type HostUpdateJob,
  hostUpdateJobId,
  hostUpdateQueueName,
  VERIFY_QUEUE,
  type VerifyJob,
  verifyJobId,
} from '@hitless/protocol'

/**
 * The controller's only door to BullMQ. Jobs carry ids, never state; job ids make enqueueing
 * idempotent (BullMQ ignores a second add with the same id), so re-deriving what is owed from
 * PostgreSQL and enqueueing it again is always safe.
 */
export class QueueRepository {
  private readonly connection: Redis
  private readonly queues = new Map<string, Queue>()
  private verifyEvents: QueueEvents | undefined

  constructor(
    private readonly redisUrl: string,
    private readonly prefix: string,
  ) {
    this.connection = new Redis(redisUrl, { maxRetriesPerRequest: null })
    this.connection.on('error', () => {})
  }

  private queue(name: string): Queue {
    let q = this.queues.get(name)
    if (!q) {
      q = new Queue(name, { connection: this.connection, prefix: this.prefix })
      this.queues.set(name, q)
    }
    return q
  }

  async enqueueHostUpdate(agentId: string, job: HostUpdateJob): Promise<void> {
    await this.queue(hostUpdateQueueName(agentId)).add('host-update', job, {
      jobId: hostUpdateJobId(job.rolloutId, job.hostId, job.attempt, job.epoch),
      // Retries are the controller's decision (a new attempt), not BullMQ's: a failed live
      // update must never be silently re-run.
      attempts: 1,
      removeOnComplete: { age: 24 * 3600, count: 10000 },
      removeOnFail: { age: 7 * 24 * 3600 },
    })
  }

  async enqueueVerify(job: VerifyJob): Promise<void> {
    await this.queue(VERIFY_QUEUE).add('verify', job, {
      jobId: verifyJobId(job.updateId, job.attempt),
      attempts: 5,
      backoff: { type: 'exponential', delay: 1000 },
      removeOnComplete: { age: 24 * 3600, count: 10000 },
      removeOnFail: { age: 7 * 24 * 3600 },
    })
  }

  /**
   * Calls `fn` whenever a verification job completes: a verdict may free a concurrency slot or
   * end a wave, so the leader plans at once instead of at its next tick.
   */
  onVerified(fn: () => void): void {
    if (this.verifyEvents) return
    this.verifyEvents = new QueueEvents(VERIFY_QUEUE, {
      connection: { url: this.redisUrl, maxRetriesPerRequest: null },
      prefix: this.prefix,
    })
    this.verifyEvents.on('error', () => {})
    this.verifyEvents.on('completed', fn)
  }

  async ping(): Promise<boolean> {
    try {
      return (await this.connection.ping()) === 'PONG'
    } catch {
      return false
    }
  }

  /** Waiting + active jobs per queue the controller has used, for /metrics. */
  async depths(): Promise<Record<string, number>> {
    const out: Record<string, number> = {}
    for (const [name, q] of this.queues) {
      const c = await q.getJobCounts('waiting', 'active', 'delayed', 'prioritized')
      out[name] = Object.values(c).reduce((a, b) => a + b, 0)
    }
    return out
  }

  async close(): Promise<void> {
    await this.verifyEvents?.close()
    await Promise.all([...this.queues.values()].map((q) => q.close()))
    this.connection.disconnect()
  }
}
