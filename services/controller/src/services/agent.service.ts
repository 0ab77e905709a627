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
} from '@hitless/protocol'
import type { Principal } from './token.service.js'

type Tx = Parameters<Parameters<Db['$transaction']>[0]>[0]

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

  private async lockUpdate(
    tx: Tx,
    principal: Principal,
    updateId: string,
    ctx: { attempt: number; epoch: number },
  ) {
    const rows = await tx.$queryRaw<
      { id: string }[]
    >`SELECT id FROM "HostUpdate" WHERE id = ${updateId} FOR UPDATE`
    if (rows.length === 0) throw new HitlessError('HITLESS_E_NOT_FOUND', `no update ${updateId}`)
    const u = await tx.hostUpdate.findUniqueOrThrow({ where: { id: updateId } })
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

  async claimStep(principal: Principal, updateId: string, body: StepClaimBody): Promise<StepClaimResponse> {
    return this.db.$transaction(async (tx) => {
      const u = await this.lockUpdate(tx, principal, updateId, body)
      if (!['QUEUED', 'RUNNING'].includes(u.state)) {
        throw new HitlessError('HITLESS_E_CONFLICT', `update ${updateId} is ${u.state}: nothing to run`, {
          state: u.state,
        })
      }
      const key = { updateId_attempt_step: { updateId, attempt: u.attempt, step: body.step } }
      const step = await tx.updateStep.findUnique({ where: key })
      if (step?.status === 'done') return { action: 'skip', detail: step.detail ?? undefined }
      if (step?.status === 'failed') {
        throw new HitlessError('HITLESS_E_CONFLICT', `step ${body.step} of update ${updateId} already failed`)
      }
      const now = new Date()
      if (
        u.claimedBy &&
        u.claimedBy !== body.worker &&
        u.claimedAt &&
        now.getTime() - u.claimedAt.getTime() < this.takeoverMs
      ) {
        throw new HitlessError('HITLESS_E_CONFLICT', `update ${updateId} is being run by another worker`, {
          worker: u.claimedBy,
        })
      }
      await tx.updateStep.upsert({
        where: key,
        create: { updateId, attempt: u.attempt, step: body.step, status: 'running', startedAt: now },
        update: { status: 'running', startedAt: now },
      })
      await tx.hostUpdate.update({
        where: { id: updateId },
        data: { state: 'RUNNING', claimedBy: body.worker, claimedAt: now, startedAt: u.startedAt ?? now },
      })
      await tx.host.update({ where: { id: u.hostId }, data: { state: 'UPDATING' } })
      return { action: 'run' }
    })
  }

  async reportStep(principal: Principal, updateId: string, body: StepReportBody): Promise<void> {
    await this.db.$transaction(async (tx) => {
      const u = await this.lockUpdate(tx, principal, updateId, body)
      if (u.claimedBy !== body.worker) {
        throw new HitlessError('HITLESS_E_CONFLICT', `update ${updateId} is claimed by another worker`)
      }
      const key = { updateId_attempt_step: { updateId, attempt: u.attempt, step: body.step } }
      const step = await tx.updateStep.findUnique({ where: key })
      if (!step) throw new HitlessError('HITLESS_E_CONFLICT', `step ${body.step} was never claimed`)
      if (step.status === 'done') return
      const now = new Date()
      await tx.updateStep.update({
        where: key,
        data: {
          status: body.status,
          finishedAt: now,
          durationMs: body.durationMs,
          detail: (body.detail ?? undefined) as object | undefined,
        },
      })
      await tx.hostUpdate.update({ where: { id: updateId }, data: { claimedAt: now } })
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
