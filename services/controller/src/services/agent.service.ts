import { createHash, randomUUID } from 'node:crypto'
import type { Readable } from 'node:stream'
import { createGzip } from 'node:zlib'
import { type Db, type SqlTx, sqlBatch, sqlLiteral, sqlTime, sqlTransaction } from '@hitless/db'
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

/**
 * What ending an attempt sets on the update's row and on its host's (`now`: a time literal);
 * `claimed`: a step report in the same call also stamps the claim (`claimedAt`).
 */
function finishSets(body: FinishFields, now: string, claimed: boolean): { update: string; host: string } {
  const t = `${now}::timestamp(3)`
  const stamp = claimed ? `"claimedAt" = ${t}, ` : ''
  const completed = body.outcome === 'completed'
  const held = body.outcome === 'failed-held'
  return {
    update: completed
      ? `${stamp}state = 'VERIFYING', "finishedAt" = ${t}, "blackoutMs" = ${sqlLiteral(body.blackoutMs ?? null)}::float8,
         "toBootId" = ${sqlLiteral(body.bootId)}, "updatedAt" = ${t}`
      : `${stamp}state = '${held ? 'FAILED_HELD' : 'FAILED'}', "finishedAt" = ${t},
         "failureReason" = ${sqlLiteral(body.reason ?? body.outcome)}, "updatedAt" = ${t}`,
    host: `state = '${held ? 'FAILED_HELD' : 'READY'}', kernel = ${sqlLiteral(body.kernel)},
           "bootId" = ${sqlLiteral(body.bootId)}, "lastHeartbeat" = ${t}`,
  }
}

/** What a claim sets on the update's row (`now`: a time literal); both paths write it. */
function claimSets(worker: string, now: string): string {
  const t = `${now}::timestamp(3)`
  return `state = 'RUNNING', "claimedBy" = ${sqlLiteral(worker)}, "claimedAt" = ${t},
    "startedAt" = COALESCE("startedAt", ${t}), "updatedAt" = ${t}`
}

/** What a step report sets on the step's journal row (`now`: a time literal); both paths write it. */
function reportSets(body: StepReportBody, now: string): string {
  const detail =
    body.detail !== undefined ? `, detail = ${sqlLiteral(JSON.stringify(body.detail))}::jsonb` : ''
  return `status = ${sqlLiteral(body.status)}, "finishedAt" = ${now}::timestamp(3),
    "durationMs" = ${sqlLiteral(body.durationMs)}${detail}`
}

/**
 * The call of the common case, which `AgentService.commonCase` makes in one round trip: a claim
 * of a step not journaled yet, or the report of the step running, carrying the claim of a next
 * step not journaled yet or the end of the attempt.
 */
type CommonCall =
  | { kind: 'claim'; step: string }
  | { kind: 'report'; body: StepReportBody; next?: string; finish?: FinishFields }

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
    /** False: always the full path (tests compare the two). */
    private readonly oneRoundTrip = true,
  ) {}

  /** Calls answered by the one-round-trip common case (`commonCase`), for tests and benchmarks. */
  commonCalls = 0

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

  /**
   * The common case in one round trip: the update's lock, then one statement that writes only
   * if the update is exactly in the state where the checks of `claimStep` / `reportStep` pass
   * and lead to these writes (the same writes), COMMIT. False when it is not (nothing written):
   * the caller then takes the full path, which reads under the lock, refuses or answers the
   * uncommon cases (redeliveries, skips, takeovers, stale jobs) and writes.
   *
   * The condition (`g`): the caller's host, the job's attempt and epoch, the update QUEUED or
   * RUNNING; for a claim, unclaimed or claimed by this worker and the step not journaled; for a
   * report, claimed by this worker, the reported step running, and a next step to claim not
   * journaled. Its statement starts after the lock is held, so it reads what the call before
   * committed.
   */
  private async commonCase(
    principal: Principal,
    updateId: string,
    ctx: { attempt: number; epoch: number; worker: string },
    call: CommonCall,
  ): Promise<boolean> {
    if (!this.oneRoundTrip || principal.role !== 'agent' || !principal.hostId) return false
    const L = sqlLiteral
    const id = L(updateId)
    const host = L(principal.hostId)
    const now = L(sqlTime(new Date()))
    const t = `${now}::timestamp(3)`
    const journaled = (step: string, status?: string) =>
      `SELECT 1 FROM "UpdateStep" s WHERE s."updateId" = u.id AND s.attempt = u.attempt AND s.step = ${L(step)}${
        status ? ` AND s.status = ${L(status)}` : ''
      }`
    const claimed = call.kind === 'claim' ? call.step : call.next
    const cond = [
      `u.id = ${id} AND u."hostId" = ${host} AND u.attempt = ${L(ctx.attempt)} AND u."dispatchEpoch" = ${L(ctx.epoch)}`,
      `u.state IN ('QUEUED', 'RUNNING')`,
      call.kind === 'claim'
        ? `(u."claimedBy" IS NULL OR u."claimedBy" = ${L(ctx.worker)})`
        : `u."claimedBy" = ${L(ctx.worker)} AND EXISTS (${journaled(call.body.step, 'running')})`,
      ...(claimed !== undefined ? [`NOT EXISTS (${journaled(claimed)})`] : []),
    ]
    const writes: string[] = []
    if (call.kind === 'report') {
      const b = call.body
      writes.push(
        `UPDATE "UpdateStep" s SET ${reportSets(b, now)}
         FROM g WHERE s."updateId" = g.id AND s.attempt = g.attempt AND s.step = ${L(b.step)}`,
      )
    }
    if (claimed !== undefined) {
      writes.push(
        `INSERT INTO "UpdateStep" (id, "updateId", attempt, step, status, "startedAt")
         SELECT ${L(randomUUID())}, g.id, g.attempt, ${L(claimed)}, 'running', ${t} FROM g`,
        `UPDATE "HostUpdate" x SET ${claimSets(ctx.worker, now)} FROM g WHERE x.id = g.id`,
        `UPDATE "Host" y SET state = 'UPDATING', "updatedAt" = ${t}
         FROM g WHERE y.id = ${host} AND y.state <> 'UPDATING'`,
      )
    } else if (call.kind === 'report' && call.finish) {
      const set = finishSets(call.finish, now, true)
      writes.push(
        `UPDATE "HostUpdate" x SET ${set.update} FROM g WHERE x.id = g.id`,
        `UPDATE "Host" y SET ${set.host}, "updatedAt" = ${t} FROM g WHERE y.id = ${host}`,
      )
    } else {
      // A report alone: the journal stamps the claim.
      writes.push(`UPDATE "HostUpdate" x SET "claimedAt" = ${t}, "updatedAt" = ${t} FROM g WHERE x.id = g.id`)
    }
    const ctes = writes.map((w, i) => `w${i} AS (${w})`).join(', ')
    // One implicit transaction: the lock is held from the first statement to the end, and the
    // second reads (READ COMMITTED, a snapshot of its own) what the call before committed.
    const [, rows] = (await sqlBatch(this.db, [
      `SELECT 1 FROM "HostUpdate" WHERE id = ${id} FOR UPDATE`,
      `WITH g AS (SELECT u.id, u.attempt FROM "HostUpdate" u WHERE ${cond.join(' AND ')}), ${ctes}
       SELECT count(*)::int AS held FROM g`,
    ])) as [unknown[], { held: number }[]]
    if (rows[0]?.held !== 1) return false
    this.commonCalls++
    return true
  }

  async claimStep(principal: Principal, updateId: string, body: StepClaimBody): Promise<StepClaimResponse> {
    if (await this.commonCase(principal, updateId, body, { kind: 'claim', step: body.step }))
      return { action: 'run' }
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
    w.add(`UPDATE "HostUpdate" SET ${claimSets(c.worker, now)} WHERE id = ${w.v(u.id)}`)
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
    if (await this.commonCase(principal, updateId, body, { kind: 'report', body, next, finish })) {
      if (next !== undefined) return { next: { action: 'run' } }
      if (finish !== undefined) return { verifying: finish.outcome === 'completed' }
      return undefined
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
          `UPDATE "UpdateStep" SET ${reportSets(body, t)}
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
    const set = finishSets(body, now, claimed)
    w.add(`UPDATE "HostUpdate" SET ${set.update} WHERE id = ${w.v(u.id)}`)
    this.writeHost(w, u, set.host, now)
    return { verifying: body.outcome === 'completed', wrote: true }
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
