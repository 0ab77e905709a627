import { createHash, randomUUID } from 'node:crypto'
import type { Readable } from 'node:stream'
import { createGzip } from 'node:zlib'
import { type Db, type SqlTx, sqlLiteral, sqlTime, sqlTransaction } from '@hitless/db'
import {
  type FinishBody,
  type FinishFields,
  HitlessError,
  type SnapshotPhase,
  type StepClaimBody,
  type StepClaimResponse,
  type StepReportBody,
  type StepReportResponse,
} from '@hitless/protocol'
import type { Principal } from './token.service.js'

/** The columns of a locked update the agent API's checks read. */
interface LockedUpdate {
  id: string
  hostId: string
  state: string
  attempt: number
  dispatchEpoch: number
  claimedBy: string | null
  claimedAt: Date | null
  hostState: string
}

/** A journal row of a step, as the checks read it. */
interface StepRow {
  step: string
  status: string
  detail: unknown
}

/**
 * The writes of one agent call, made in one statement after the checks (a data-modifying CTE
 * per row written: no two of them touch one row), sent with the COMMIT (values inlined).
 */
class Writes {
  private readonly parts: string[] = []

  /** A value, inlined. */
  v(x: string | number | null): string {
    return sqlLiteral(x)
  }

  add(sql: string): void {
    this.parts.push(sql)
  }

  /** Writes them and commits (one round trip). */
  async commit(tx: SqlTx): Promise<void> {
    await tx.commit(
      this.parts.length
        ? `WITH ${this.parts.map((p, i) => `w${i} AS (${p})`).join(', ')} SELECT 1`
        : undefined,
    )
  }
}

/** What a claim writes: the step running, the update RUNNING and claimed, the host UPDATING. */
interface ClaimWrite {
  step: string
  worker: string
}

/**
 * The agent API's rules: the only way a step or a result becomes true. Every call is checked,
 * in one transaction holding the update's row lock, against the caller's host, the update's
 * attempt and the epoch that dispatched it (a stale claim gets 409), and steps are journaled so
 * that a redelivered job skips what is done.
 *
 * Every step of every host is one of these calls, so they run on the pg pool directly
 * (@hitless/db sql.ts), in as few round trips as the checks allow: BEGIN with the update's lock
 * and the journal rows concerned, then the writes (one statement) with COMMIT.
 */
export class AgentService {
  constructor(
    private readonly db: Db,
    /** A step held by another worker longer than this is taken over (its lock expired). */
    private readonly takeoverMs: number,
  ) {}

  /**
   * Locks the update's row and reads it with its host's state, then reads the journal rows of
   * `steps` for its attempt — after the lock, in a statement of its own (its own snapshot): a
   * call that waited for the lock sees what the call before it journaled. Both ride with BEGIN
   * (one round trip). Checks the caller: the token's host is the update's, the job's attempt and
   * epoch are the update's.
   */
  private async lockUpdate(
    tx: SqlTx,
    principal: Principal,
    updateId: string,
    ctx: { attempt: number; epoch: number },
    steps: string[] = [],
  ): Promise<{ u: LockedUpdate; steps: StepRow[] }> {
    const id = sqlLiteral(updateId)
    const [rows, journal] = (await tx.firstAll([
      `SELECT u.id, u."hostId", u.state::text AS state, u.attempt, u."dispatchEpoch",
              u."claimedBy", u."claimedAt" AT TIME ZONE 'UTC' AS "claimedAt", h.state::text AS "hostState"
       FROM "HostUpdate" u JOIN "Host" h ON h.id = u."hostId"
       WHERE u.id = ${id}
       FOR UPDATE OF u`,
      ...(steps.length
        ? [
            `SELECT step, status, detail FROM "UpdateStep"
             WHERE "updateId" = ${id} AND attempt = (SELECT attempt FROM "HostUpdate" WHERE id = ${id})
               AND step IN (${steps.map(sqlLiteral).join(', ')})`,
          ]
        : []),
    ])) as [LockedUpdate[], StepRow[] | undefined]
    const u = rows[0]
    if (!u) throw new HitlessError('HITLESS_E_NOT_FOUND', `no update ${updateId}`)
    if (principal.role !== 'agent' || principal.hostId !== u.hostId) {
      throw new HitlessError(
        'HITLESS_E_FORBIDDEN',
        `this token does not act for the host of update ${updateId}`,
      )
    }
    if (ctx.attempt !== u.attempt || ctx.epoch !== u.dispatchEpoch) {
      throw new HitlessError(
        'HITLESS_E_STALE_CLAIM',
        `stale claim: job has attempt ${ctx.attempt} epoch ${ctx.epoch}, update is at attempt ${u.attempt} epoch ${u.dispatchEpoch}`,
        { attempt: u.attempt, epoch: u.dispatchEpoch },
      )
    }
    return { u, steps: journal ?? [] }
  }

  /**
   * The checks of the claim of one step on the locked update, given its journal row (null:
   * none). Every refusal is thrown before anything is written. Returns the answer and, for
   * `run`, what to write.
   */
  private checkClaim(
    u: LockedUpdate,
    body: StepClaimBody,
    step: StepRow | null,
    now: Date,
  ): { res: StepClaimResponse; write?: ClaimWrite } {
    if (!['QUEUED', 'RUNNING'].includes(u.state)) {
      throw new HitlessError('HITLESS_E_CONFLICT', `update ${u.id} is ${u.state}: nothing to run`, {
        state: u.state,
      })
    }
    if (step?.status === 'done') return { res: { action: 'skip', detail: step.detail ?? undefined } }
    if (step?.status === 'failed') {
      throw new HitlessError('HITLESS_E_CONFLICT', `step ${body.step} of update ${u.id} already failed`)
    }
    if (
      u.claimedBy &&
      u.claimedBy !== body.worker &&
      u.claimedAt &&
      now.getTime() - u.claimedAt.getTime() < this.takeoverMs
    ) {
      throw new HitlessError('HITLESS_E_CONFLICT', `update ${u.id} is being run by another worker`, {
        worker: u.claimedBy,
      })
    }
    return { res: { action: 'run' }, write: { step: body.step, worker: body.worker } }
  }

  /** The claim's writes: the step's journal row running (created or reset), the rest by the caller. */
  private writeClaimStep(w: Writes, u: LockedUpdate, c: ClaimWrite, now: string): void {
    w.add(
      `INSERT INTO "UpdateStep" (id, "updateId", attempt, step, status, "startedAt")
       VALUES (${w.v(randomUUID())}, ${w.v(u.id)}, ${w.v(u.attempt)}, ${w.v(c.step)}, 'running', ${now}::timestamp(3))
       ON CONFLICT ("updateId", attempt, step) DO UPDATE SET status = 'running', "startedAt" = EXCLUDED."startedAt"`,
    )
  }

  /** The host's row, when the update's writes change it. */
  private writeHost(w: Writes, u: LockedUpdate, set: string, now: string): void {
    w.add(`UPDATE "Host" SET ${set}, "updatedAt" = ${now}::timestamp(3) WHERE id = ${w.v(u.hostId)}`)
  }

  async claimStep(principal: Principal, updateId: string, body: StepClaimBody): Promise<StepClaimResponse> {
    return sqlTransaction(this.db, async (tx) => {
      const {
        u,
        steps: [step],
      } = await this.lockUpdate(tx, principal, updateId, body, [body.step])
      const now = new Date()
      const c = this.checkClaim(u, body, step ?? null, now)
      if (c.write) {
        const w = new Writes()
        const t = w.v(sqlTime(now))
        this.writeClaimStep(w, u, c.write, t)
        this.writeClaimedUpdate(w, u, c.write, t)
        if (u.hostState !== 'UPDATING') this.writeHost(w, u, `state = 'UPDATING'`, t)
        await w.commit(tx)
      }
      return c.res
    })
  }

  /** The update's row after a claim: RUNNING, claimed by the worker now, started (once). */
  private writeClaimedUpdate(w: Writes, u: LockedUpdate, c: ClaimWrite, now: string): void {
    w.add(
      `UPDATE "HostUpdate" SET state = 'RUNNING', "claimedBy" = ${w.v(c.worker)}, "claimedAt" = ${now}::timestamp(3),
         "startedAt" = COALESCE("startedAt", ${now}::timestamp(3)), "updatedAt" = ${now}::timestamp(3)
       WHERE id = ${w.v(u.id)}`,
    )
  }

  /**
   * Journals the end of a step. With `next` (after a step done), also claims the next step in
   * the same transaction, under the same lock and checks as `claimStep`; a refused claim does
   * not undo the report: it is answered as `refused`. With `finish`, also ends the attempt as
   * `finish` does, in the same transaction.
   */
  async reportStep(
    principal: Principal,
    updateId: string,
    body: StepReportBody,
  ): Promise<StepReportResponse | undefined> {
    const { next, finish } = body
    if (next !== undefined && body.status !== 'done') {
      throw new HitlessError('HITLESS_E_VALIDATION', 'body/next is only allowed with status done', {
        field: 'next',
      })
    }
    if (next === body.step) {
      throw new HitlessError('HITLESS_E_VALIDATION', 'body/next must be another step than body/step', {
        field: 'next',
      })
    }
    if (next !== undefined && finish !== undefined) {
      throw new HitlessError('HITLESS_E_VALIDATION', 'body/finish is not allowed with body/next', {
        field: 'finish',
      })
    }
    return sqlTransaction(this.db, async (tx) => {
      // The reported step's journal row and the next one's, read with the lock.
      const { u, steps: rows } = await this.lockUpdate(
        tx,
        principal,
        updateId,
        body,
        next ? [body.step, next] : [body.step],
      )
      if (u.claimedBy !== body.worker) {
        throw new HitlessError('HITLESS_E_CONFLICT', `update ${updateId} is claimed by another worker`)
      }
      const step = rows.find((r) => r.step === body.step)
      if (!step) throw new HitlessError('HITLESS_E_CONFLICT', `step ${body.step} was never claimed`)
      const now = new Date()
      const w = new Writes()
      const t = w.v(sqlTime(now))
      const journal = step.status !== 'done'
      if (journal) {
        w.add(
          `UPDATE "UpdateStep" SET status = ${w.v(body.status)}, "finishedAt" = ${t}::timestamp(3),
             "durationMs" = ${w.v(body.durationMs)}
             ${body.detail !== undefined ? `, detail = ${w.v(JSON.stringify(body.detail))}::jsonb` : ''}
           WHERE "updateId" = ${w.v(u.id)} AND attempt = ${w.v(u.attempt)} AND step = ${w.v(body.step)}`,
        )
      }
      let out: StepReportResponse | undefined
      let claimed: ClaimWrite | undefined
      if (next !== undefined) {
        try {
          const c = this.checkClaim(
            u,
            { ...body, step: next },
            rows.find((r) => r.step === next) ?? null,
            now,
          )
          out = { next: c.res }
          claimed = c.write
        } catch (e) {
          if (!(e instanceof HitlessError)) throw e
          out = {
            refused: { code: e.code, message: e.message, ...(e.details ? { details: e.details } : {}) },
          }
        }
      }
      if (claimed) {
        this.writeClaimStep(w, u, claimed, t)
        this.writeClaimedUpdate(w, u, claimed, t)
        if (u.hostState !== 'UPDATING') this.writeHost(w, u, `state = 'UPDATING'`, t)
        await w.commit(tx)
        return out
      }
      if (finish !== undefined) {
        const f = this.writeFinish(w, u, finish, t, journal)
        if (f.wrote || !journal) {
          await w.commit(tx)
          return { verifying: f.verifying }
        }
        out = { verifying: f.verifying }
      }
      if (journal)
        w.add(
          `UPDATE "HostUpdate" SET "claimedAt" = ${t}::timestamp(3), "updatedAt" = ${t}::timestamp(3) WHERE id = ${w.v(u.id)}`,
        )
      await w.commit(tx)
      return out
    })
  }

  /**
   * The end of an attempt on the locked update (nothing written when it already ended);
   * `verifying` when the update now waits for the verifier. `claimed`: a step report in the
   * same call also stamps the claim (`claimedAt`), as a report does.
   */
  private writeFinish(
    w: Writes,
    u: LockedUpdate,
    body: FinishFields,
    now: string,
    claimed = false,
  ): { verifying: boolean; wrote: boolean } {
    if (u.state !== 'RUNNING' && u.state !== 'QUEUED')
      return { verifying: u.state === 'VERIFYING', wrote: false }
    const stamp = claimed ? `"claimedAt" = ${now}::timestamp(3), ` : ''
    const host = (state: string) =>
      this.writeHost(
        w,
        u,
        `state = '${state}', kernel = ${w.v(body.kernel)}, "bootId" = ${w.v(body.bootId)}, "lastHeartbeat" = ${now}::timestamp(3)`,
        now,
      )
    if (body.outcome === 'completed') {
      w.add(
        `UPDATE "HostUpdate" SET ${stamp}state = 'VERIFYING', "finishedAt" = ${now}::timestamp(3),
           "blackoutMs" = ${w.v(body.blackoutMs ?? null)}::float8, "toBootId" = ${w.v(body.bootId)}, "updatedAt" = ${now}::timestamp(3)
         WHERE id = ${w.v(u.id)}`,
      )
      host('READY')
      return { verifying: true, wrote: true }
    }
    const held = body.outcome === 'failed-held'
    w.add(
      `UPDATE "HostUpdate" SET ${stamp}state = '${held ? 'FAILED_HELD' : 'FAILED'}', "finishedAt" = ${now}::timestamp(3),
         "failureReason" = ${w.v(body.reason ?? body.outcome)}, "updatedAt" = ${now}::timestamp(3)
       WHERE id = ${w.v(u.id)}`,
    )
    host(held ? 'FAILED_HELD' : 'READY')
    return { verifying: false, wrote: true }
  }

  /** Ends an attempt; returns true when the update now waits for the verifier. */
  async finish(principal: Principal, updateId: string, body: FinishBody): Promise<boolean> {
    return sqlTransaction(this.db, async (tx) => {
      const { u } = await this.lockUpdate(tx, principal, updateId, body)
      const w = new Writes()
      const f = this.writeFinish(w, u, body, w.v(sqlTime(new Date())))
      await w.commit(tx)
      return f.verifying
    })
  }

  /**
   * Stores a snapshot streamed by the agent: gzip on the fly into memory (bounded by `maxBytes`
   * of input), SHA-256 of the raw bytes as its digest. Re-uploading a phase replaces it.
   */
  async storeSnapshot(
    principal: Principal,
    updateId: string,
    phase: SnapshotPhase,
    format: string,
    body: Readable,
    maxBytes: number,
  ): Promise<{ id: string; sizeBytes: number; storedBytes: number; digest: string }> {
    const u = await this.db.hostUpdate.findUnique({ where: { id: updateId } })
    if (!u) throw new HitlessError('HITLESS_E_NOT_FOUND', `no update ${updateId}`)
    if (principal.role !== 'agent' || principal.hostId !== u.hostId) {
      throw new HitlessError(
        'HITLESS_E_FORBIDDEN',
        `this token does not act for the host of update ${updateId}`,
      )
    }
    const hash = createHash('sha256')
    const gzip = createGzip({ level: 6 })
    const chunks: Buffer[] = []
    gzip.on('data', (c: Buffer) => chunks.push(c))
    const done = new Promise<void>((res, rej) => {
      gzip.on('end', res)
      gzip.on('error', rej)
    })
    let size = 0
    for await (const chunk of body) {
      size += (chunk as Buffer).length
      if (size > maxBytes) {
        gzip.destroy()
        throw new HitlessError('HITLESS_E_VALIDATION', `snapshot larger than ${maxBytes} bytes`)
      }
      hash.update(chunk as Buffer)
      if (!gzip.write(chunk)) await new Promise((r) => gzip.once('drain', r))
    }
    gzip.end()
    await done
    const data = Buffer.concat(chunks)
    const digest = `sha256:${hash.digest('hex')}`
    const id = `snap-${randomUUID()}`
    const row = await this.db.snapshot.upsert({
      where: { updateId_phase: { updateId, phase } },
      create: {
        id,
        updateId,
        phase,
        format,
        encoding: 'gzip',
        sizeBytes: size,
        storedBytes: data.length,
        digest,
        data,
      },
      update: { format, encoding: 'gzip', sizeBytes: size, storedBytes: data.length, digest, data },
    })
    return { id: row.id, sizeBytes: size, storedBytes: data.length, digest }
  }
}
