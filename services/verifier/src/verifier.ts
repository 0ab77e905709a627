import { Worker } from 'bullmq'
import { Redis } from 'ioredis'
import type { Db } from '@hitless/db'
import { parseWith, VERIFY_QUEUE, type Verdict, VerifyJobSchema } from '@hitless/protocol'
import { judge } from './judge.js'

/** Update state a verdict leads to; `unverified` waits for a human (never counted a success). */
const STATE_FOR: Record<Verdict, 'SUCCEEDED' | 'FAILED' | 'NEEDS_REVIEW'> = {
  hitless: 'SUCCEEDED',
  consistent: 'SUCCEEDED',
  faulted: 'FAILED',
  diverged: 'FAILED',
  unverified: 'NEEDS_REVIEW',
}

/**
 * Consumes verification jobs: reads the update's snapshots from PostgreSQL (jobs carry only
 * ids), judges, and records the verdict and the update's resulting state in one transaction.
 * Re-running a job is harmless: a recorded verdict is kept.
 */
export class VerifierService {
  private worker: Worker | undefined
  private connection: Redis | undefined

  constructor(
    private readonly db: Db,
    private readonly opts: { redisUrl: string; prefix: string; concurrency?: number },
    private readonly log: (m: string) => void = () => {},
  ) {}

  async verify(updateId: string): Promise<Verdict> {
    const update = await this.db.hostUpdate.findUnique({
      where: { id: updateId },
      include: {
        verdict: true,
        snapshots: { select: { phase: true, format: true, digest: true, sizeBytes: true } },
      },
    })
    if (!update) throw new Error(`no update ${updateId}`)
    if (update.verdict) return update.verdict.verdict as Verdict
    const j = judge(update.snapshots)
    await this.db.$transaction(async (tx) => {
      await tx.verdictRecord.create({ data: { updateId, verdict: j.verdict, reasons: j.reasons } })
      await tx.hostUpdate.update({ where: { id: updateId }, data: { state: STATE_FOR[j.verdict] } })
    })
    this.log(`update ${updateId}: ${j.verdict} (${j.reasons.join('; ')})`)
    return j.verdict
  }

  start(): void {
    this.connection = new Redis(this.opts.redisUrl, { maxRetriesPerRequest: null })
    this.connection.on('error', () => {})
    this.worker = new Worker(
      VERIFY_QUEUE,
      async (job) => {
        const data = parseWith(VerifyJobSchema, job.data, 'job')
        return { verdict: await this.verify(data.updateId) }
      },
      { connection: this.connection, prefix: this.opts.prefix, concurrency: this.opts.concurrency ?? 2 },
    )
    this.worker.on('error', (e) => this.log(`verifier worker: ${e.message}`))
  }

  async stop(): Promise<void> {
    await this.worker?.close()
    this.connection?.disconnect()
  }
}
