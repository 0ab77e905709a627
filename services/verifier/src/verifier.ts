import { Worker } from 'bullmq'
import { Redis } from 'ioredis'
import type { Db } from '@hitless/db'
import { parseWith, VERIFY_QUEUE, type Verdict, VerifyJobSchema } from '@hitless/protocol'
import { type Judgement, judge } from './judge.js'

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
 * ids; snapshots are gzip-compressed binary there), judges them against the update's target
 * kernel and the rollout's blackout SLO (`policy.blackoutSloMs`, when set), and records the
 * verdict, reasons, bounded diff and fault counts with the update's resulting state in one
 * transaction.
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
        rollout: { select: { policy: true } },
        snapshots: {
          select: { phase: true, format: true, digest: true, sizeBytes: true, encoding: true, data: true },
        },
      },
    })
    if (!update) throw new Error(`no update ${updateId}`)
    if (update.verdict) return update.verdict.verdict as Verdict
    const slo = (update.rollout.policy as { blackoutSloMs?: unknown } | null)?.blackoutSloMs
    let j: Judgement
    try {
      j = judge(update.snapshots, {
        targetKernel: update.toKernel,
        ...(typeof slo === 'number' ? { blackoutSloMs: slo } : {}),
        ...(update.blackoutMs !== null ? { reportedBlackoutMs: update.blackoutMs } : {}),
      })
    } catch (e) {
      // A verdict is owed whatever the snapshots hold: never leave the update VERIFYING.
      j = {
        verdict: 'unverified',
        reasons: [`verifier could not compare the snapshots: ${(e as Error).message}`],
      }
    }
    await this.db.$transaction(async (tx) => {
      await tx.verdictRecord.create({
        data: {
          updateId,
          verdict: j.verdict,
          reasons: j.reasons,
          ...(j.diff !== undefined ? { diff: j.diff as object } : {}),
          ...(j.faults ? { faults: j.faults } : {}),
        },
      })
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
