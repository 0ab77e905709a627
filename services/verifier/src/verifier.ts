import { Worker } from 'bullmq'
import { Redis } from 'ioredis'
import { randomUUID } from 'node:crypto'
import { type Db, sqlQuery, sqlTime } from '@hitless/db'
import { parseWith, VERIFY_QUEUE, type Verdict, VerifyJobSchema } from '@hitless/protocol'
import { type Judgement, judge, type StoredSnapshot } from './judge.js'

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
    // On the pg pool (a verification per host of a rollout, @hitless/db sql.ts): one query for
    // the update, its verdict if any and the rollout's policy, one for the snapshots if any.
    const [update] = await sqlQuery<{
      toKernel: string
      blackoutMs: number | null
      policy: { blackoutSloMs?: unknown } | null
      verdict: string | null
      snapshots: number
    }>(
      this.db,
      `SELECT u."toKernel", u."blackoutMs", r.policy, v.verdict,
              (SELECT count(*)::int FROM "Snapshot" s WHERE s."updateId" = u.id) AS snapshots
       FROM "HostUpdate" u
       JOIN "Rollout" r ON r.id = u."rolloutId"
       LEFT JOIN "VerdictRecord" v ON v."updateId" = u.id
       WHERE u.id = $1`,
      [updateId],
    )
    if (!update) throw new Error(`no update ${updateId}`)
    if (update.verdict) return update.verdict as Verdict
    const snapshots = update.snapshots
      ? await sqlQuery<StoredSnapshot>(
          this.db,
          `SELECT phase, format, digest, "sizeBytes", encoding, data FROM "Snapshot" WHERE "updateId" = $1`,
          [updateId],
        )
      : []
    const slo = update.policy?.blackoutSloMs
    let j: Judgement
    try {
      j = judge(snapshots, {
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
    // The verdict and the update's resulting state in one statement; a verdict recorded
    // meanwhile (a re-run) is kept, and so is the state it led to.
    const now = sqlTime(new Date())
    const json = (x: unknown) => (x === undefined || x === null ? null : JSON.stringify(x))
    const [kept] = await sqlQuery<{ verdict: string; recorded: boolean }>(
      this.db,
      `WITH v AS (
         INSERT INTO "VerdictRecord" (id, "updateId", verdict, reasons, diff, faults, "createdAt")
         VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, $6::jsonb, $7::timestamp(3))
         ON CONFLICT ("updateId") DO NOTHING
         RETURNING verdict),
       u AS (
         UPDATE "HostUpdate" SET state = $8::"HostUpdateState", "updatedAt" = $7::timestamp(3)
         WHERE id = $2 AND EXISTS (SELECT 1 FROM v))
       SELECT verdict, true AS recorded FROM v
       UNION ALL
       SELECT verdict, false FROM "VerdictRecord" WHERE "updateId" = $2 AND NOT EXISTS (SELECT 1 FROM v)`,
      [
        randomUUID(),
        updateId,
        j.verdict,
        JSON.stringify(j.reasons),
        json(j.diff),
        json(j.faults),
        now,
        STATE_FOR[j.verdict],
      ],
    )
    if (!kept?.recorded) return (kept?.verdict ?? j.verdict) as Verdict
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
      // Several at once: a verification mostly waits on PostgreSQL and Redis, and a verdict
      // waiting in the queue holds its host's rollout slot.
      { connection: this.connection, prefix: this.opts.prefix, concurrency: this.opts.concurrency ?? 8 },
    )
    this.worker.on('error', (e) => this.log(`verifier worker: ${e.message}`))
  }

  async stop(): Promise<void> {
    await this.worker?.close()
    this.connection?.disconnect()
  }
}
