import { createHash, randomUUID } from 'node:crypto'
import type { Readable } from 'node:stream'
import { createGzip } from 'node:zlib'
import type { Db } from '@hitless/db'
import {
  type FinishBody,
  HitlessError,
  type SnapshotPhase,
  type StepClaimBody,
  type StepClaimResponse,
  type StepReportBody,
  type StepReportResponse,
} from '@hitless/protocol'
import type { Principal } from './token.service.js'

type Tx = Parameters<Parameters<Db['$transaction']>[0]>[0]

type StepRow = NonNullable<Awaited<ReturnType<Tx['updateStep']['findUnique']>>>

/** The columns of a locked update the agent API's checks read. */
interface LockedUpdate {
  id: string
  hostId: string
  state: string
  attempt: number
  dispatchEpoch: number
  claimedBy: string | null
  claimedAt: Date | null
  startedAt: Date | null
  hostState: string
}

/**
 * The agent API's rules: the only way a step or a result becomes true. Every call is checked,
 * in one transaction holding the update's row lock, against the caller's host, the update's
 * attempt and the epoch that dispatched it (a stale claim gets 409), and steps are journaled so
 * that a redelivered job skips what is done.
 */
export class AgentService {
  constructor(
    private readonly db: Db,
    /** A step held by another worker longer than this is taken over (its lock expired). */
    private readonly takeoverMs: number,
  ) {}

  /**
   * Locks the update's row (one query: the row, its host's state) and checks the caller: the
   * token's host is the update's, the job's attempt and epoch are the update's.
   */
  private async lockUpdate(
    tx: Tx,
    principal: Principal,
    updateId: string,
    ctx: { attempt: number; epoch: number },
  ): Promise<LockedUpdate> {
    const rows = await tx.$queryRaw<LockedUpdate[]>`
      SELECT u.id, u."hostId", u.state::text AS state, u.attempt, u."dispatchEpoch",
             u."claimedBy", u."claimedAt", u."startedAt", h.state::text AS "hostState"
      FROM "HostUpdate" u JOIN "Host" h ON h.id = u."hostId"
      WHERE u.id = ${updateId}
      FOR UPDATE OF u`
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
    return u
  }

  /**
   * The claim of one step, inside the caller's transaction holding the update's lock (checked
   * by `lockUpdate`). Every refusal is thrown before anything is written. Returns whether the
   * update's claim (`claimedBy`, `claimedAt`) was written.
   */
  private async claimIn(
    tx: Tx,
    u: LockedUpdate,
    body: StepClaimBody,
    now: Date,
    /** The step's journal row when the caller has read it already (null: none). */
    known?: StepRow | null,
  ): Promise<{ res: StepClaimResponse; wrote: boolean }> {
    if (!['QUEUED', 'RUNNING'].includes(u.state)) {
      throw new HitlessError('HITLESS_E_CONFLICT', `update ${u.id} is ${u.state}: nothing to run`, {
        state: u.state,
      })
    }
    const key = { updateId_attempt_step: { updateId: u.id, attempt: u.attempt, step: body.step } }
    const step = known !== undefined ? known : await tx.updateStep.findUnique({ where: key })
    if (step?.status === 'done')
      return { res: { action: 'skip', detail: step.detail ?? undefined }, wrote: false }
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
    if (step) await tx.updateStep.update({ where: key, data: { status: 'running', startedAt: now } })
    else
      await tx.updateStep.create({
        data: { updateId: u.id, attempt: u.attempt, step: body.step, status: 'running', startedAt: now },
      })
    await tx.hostUpdate.update({
      where: { id: u.id },
      data: { state: 'RUNNING', claimedBy: body.worker, claimedAt: now, startedAt: u.startedAt ?? now },
    })
    if (u.hostState !== 'UPDATING')
      await tx.host.update({ where: { id: u.hostId }, data: { state: 'UPDATING' } })
    return { res: { action: 'run' }, wrote: true }
  }

  async claimStep(principal: Principal, updateId: string, body: StepClaimBody): Promise<StepClaimResponse> {
    return this.db.$transaction(async (tx) => {
      const u = await this.lockUpdate(tx, principal, updateId, body)
      return (await this.claimIn(tx, u, body, new Date())).res
    })
  }

  /**
   * Journals the end of a step. With `next` (after a step done), also claims the next step in
   * the same transaction, under the same lock and checks as `claimStep`; a refused claim does
   * not undo the report: it is answered as `refused`.
   */
  async reportStep(
    principal: Principal,
    updateId: string,
    body: StepReportBody,
  ): Promise<StepReportResponse | undefined> {
    const { next } = body
    if (next !== undefined && body.status !== 'done') {
      throw new HitlessError('HITLESS_E_VALIDATION', 'body/next is only allowed with status done', {
        field: 'next',
      })
    }
    return this.db.$transaction(async (tx) => {
      const u = await this.lockUpdate(tx, principal, updateId, body)
      if (u.claimedBy !== body.worker) {
        throw new HitlessError('HITLESS_E_CONFLICT', `update ${updateId} is claimed by another worker`)
      }
      const key = { updateId_attempt_step: { updateId, attempt: u.attempt, step: body.step } }
      // The reported step's journal row and the next one's, in one query.
      const rows = await tx.updateStep.findMany({
        where: { updateId, attempt: u.attempt, step: { in: next ? [body.step, next] : [body.step] } },
      })
      const step = rows.find((r) => r.step === body.step)
      if (!step) throw new HitlessError('HITLESS_E_CONFLICT', `step ${body.step} was never claimed`)
      const now = new Date()
      const journal = step.status !== 'done'
      if (journal) {
        await tx.updateStep.update({
          where: key,
          data: {
            status: body.status,
            finishedAt: now,
            durationMs: body.durationMs,
            detail: (body.detail ?? undefined) as object | undefined,
          },
        })
      }
      let out: StepReportResponse | undefined
      let wrote = false
      if (next !== undefined) {
        try {
          const c = await this.claimIn(
            tx,
            u,
            { ...body, step: next },
            now,
            rows.find((r) => r.step === next) ?? null,
          )
          out = { next: c.res }
          wrote = c.wrote
        } catch (e) {
          if (!(e instanceof HitlessError)) throw e
          out = {
            refused: { code: e.code, message: e.message, ...(e.details ? { details: e.details } : {}) },
          }
        }
      }
      if (journal && !wrote) await tx.hostUpdate.update({ where: { id: updateId }, data: { claimedAt: now } })
      return out
    })
  }

  /** Ends an attempt; returns true when the update now waits for the verifier. */
  async finish(principal: Principal, updateId: string, body: FinishBody): Promise<boolean> {
    return this.db.$transaction(async (tx) => {
      const u = await this.lockUpdate(tx, principal, updateId, body)
      if (u.state !== 'RUNNING' && u.state !== 'QUEUED') return u.state === 'VERIFYING'
      const now = new Date()
      if (body.outcome === 'completed') {
        await tx.hostUpdate.update({
          where: { id: updateId },
          data: {
            state: 'VERIFYING',
            finishedAt: now,
            blackoutMs: body.blackoutMs ?? null,
            toBootId: body.bootId,
          },
        })
        await tx.host.update({
          where: { id: u.hostId },
          data: { state: 'READY', kernel: body.kernel, bootId: body.bootId, lastHeartbeat: now },
        })
        return true
      }
      const held = body.outcome === 'failed-held'
      await tx.hostUpdate.update({
        where: { id: updateId },
        data: {
          state: held ? 'FAILED_HELD' : 'FAILED',
          finishedAt: now,
          failureReason: body.reason ?? body.outcome,
        },
      })
      await tx.host.update({
        where: { id: u.hostId },
        data: {
          state: held ? 'FAILED_HELD' : 'READY',
          kernel: body.kernel,
          bootId: body.bootId,
          lastHeartbeat: now,
        },
      })
      return false
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
