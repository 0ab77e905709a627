import { createHash, randomUUID } from 'node:crypto'
import type { Db } from '@hitless/db'
import {
  ACTIVE_ROLLOUT_PHASES,
  type CreateRolloutBody,
  HitlessError,
  type Rollout,
  type RolloutDryRun,
  type RolloutPhase,
} from '@hitless/protocol'
import { earliestOpening } from '../planner/cron-window.js'
import { policyLimits, resolvePolicy, validatePolicy } from '../planner/policy.js'
import { planWaves } from '../planner/wave-plan.js'
import { auditIn } from './audit.service.js'
import type { KernelService } from './kernel.service.js'
import { matchesLabels } from './label-selector.js'
import { toRollout, UPDATE_INCLUDE } from './presenters.js'

type Tx = Parameters<Parameters<Db['$transaction']>[0]>[0]

export const ROLLOUT_INCLUDE = {
  kernel: true,
  waves: true,
  updates: { include: UPDATE_INCLUDE },
} as const

const RETRYABLE = ['FAILED', 'FAILED_HELD', 'NEEDS_REVIEW', 'CANCELLED'] as const

/** Locks a rollout's row for the transaction; operator actions and the loop's writes serialise on it. */
export async function lockRollout(tx: Tx, id: string): Promise<{ phase: RolloutPhase }> {
  const rows = await tx.$queryRaw<
    { phase: RolloutPhase }[]
  >`SELECT phase FROM "Rollout" WHERE id = ${id} FOR UPDATE`
  if (rows.length === 0) throw new HitlessError('HITLESS_E_NOT_FOUND', `no rollout ${id}`)
  return rows[0]
}

export class RolloutService {
  constructor(
    private readonly db: Db,
    private readonly kernels: KernelService,
  ) {}

  /**
   * Creates a rollout: its resolved policy, its waves and one PENDING update per selected host,
   * in one transaction holding the selected hosts' rows, so that a host already in an active
   * rollout fails the whole create (409) and nothing is half-created. The leader's loop then
   * carries the rollout out (loop/controller-loop.ts). `dryRun` returns the plan and writes nothing.
   */
  async create(
    body: CreateRolloutBody,
    actor: string,
    idempotencyKey?: string,
  ): Promise<{ rollout: Rollout; created: boolean } | RolloutDryRun> {
    const requestHash = createHash('sha256').update(JSON.stringify(body)).digest('hex')
    if (idempotencyKey && !body.dryRun) {
      const prior = await this.replay(idempotencyKey, requestHash)
      if (prior) return { rollout: prior, created: false }
    }
    const now = new Date()
    const hosts = await this.selectHosts(body)
    const policy = resolvePolicy(body.policy)
    const planHosts = hosts.map((h) => ({
      id: h.id,
      name: h.name,
      labels: (h.labels ?? {}) as Record<string, string>,
    }))
    validatePolicy(policy, planHosts, now)
    const waves = planWaves(planHosts, policy)
    const kernelRef = body.kernel
    if ('id' in kernelRef) await this.kernels.resolve(kernelRef)
    if (policy.onHalt === 'rollback') await this.checkRollbackable(hosts)
    if (body.dryRun) {
      return {
        dryRun: true,
        hosts: waves.flatMap((w) => w.hosts),
        waves: waves.map(({ hostIds: _ids, ...w }) => w),
        policy,
        limits: policyLimits(policy, hosts.length),
        firstWindowOpensAt: policy.windows.length
          ? (earliestOpening(policy.windows, now, 366)?.toISOString() ?? null)
          : null,
      }
    }
    const rolloutId = `ro-${randomUUID()}`
    try {
      await this.db.$transaction(async (tx) => {
        await tx.$queryRaw`SELECT id FROM "Host" WHERE id = ANY(${hosts.map((h) => h.id)}::text[]) ORDER BY id FOR UPDATE`
        await this.refuseBusy(
          tx,
          hosts.map((h) => h.id),
        )
        const kernel = await this.kernels.resolve(kernelRef, tx)
        await tx.rollout.create({
          data: {
            id: rolloutId,
            name: body.name ?? `${kernel.version} (${hosts.length} hosts)`,
            kernelId: kernel.id,
            strategy: body.strategy,
            policy: { ...policy, selector: body.selector },
            phase: 'RUNNING',
            idempotencyKey: idempotencyKey ?? null,
            createdBy: actor,
          },
        })
        await this.writePlan(tx, rolloutId, waves, hosts, kernel.version, kernel.handoverFormat)
        await auditIn(tx, actor, 'rollout.create', rolloutId, {
          kernel: kernel.version,
          hosts: hosts.length,
          waves: waves.length,
          policy,
        })
        if (idempotencyKey)
          await tx.idempotencyRecord.create({
            data: { key: `rollouts:${idempotencyKey}`, scope: requestHash, response: { rolloutId } },
          })
      })
    } catch (e) {
      // Two creates with one Idempotency-Key racing: the loser returns the winner's rollout.
      if (idempotencyKey && (e as { code?: string }).code === 'P2002') {
        const prior = await this.replay(idempotencyKey, requestHash)
        if (prior) return { rollout: prior, created: false }
      }
      throw e
    }
    return { rollout: await this.get(rolloutId), created: true }
  }

  private async replay(key: string, requestHash: string): Promise<Rollout | undefined> {
    const rec = await this.db.idempotencyRecord.findUnique({ where: { key: `rollouts:${key}` } })
    if (!rec) return undefined
    if (rec.scope !== requestHash)
      throw new HitlessError(
        'HITLESS_E_CONFLICT',
        'Idempotency-Key was used with a different body: use a new key for a different rollout',
        { idempotencyKey: key },
      )
    return this.get((rec.response as { rolloutId: string }).rolloutId)
  }

  /** Writes waves and one PENDING update per host, in plan order. */
  async writePlan(
    tx: Tx,
    rolloutId: string,
    waves: { index: number; kind: string; hostIds: string[] }[],
    hosts: { id: string; kernel: string; bootId: string }[],
    toKernel: string,
    handoverFormat: number,
    targets?: Map<string, { kernelId: string; version: string; handoverFormat: number }>,
  ): Promise<void> {
    const byId = new Map(hosts.map((h) => [h.id, h]))
    const formats = await this.previousFormats(
      tx,
      hosts.map((h) => h.kernel),
    )
    let order = 0
    for (const w of waves) {
      const waveId = `wave-${randomUUID()}`
      await tx.wave.create({
        data: { id: waveId, rolloutId, index: w.index, kind: w.kind, hostCount: w.hostIds.length },
      })
      await tx.hostUpdate.createMany({
        data: w.hostIds.map((hostId) => {
          const h = byId.get(hostId)!
          const target = targets?.get(hostId)
          return {
            id: `upd-${randomUUID()}`,
            rolloutId,
            waveId,
            hostId,
            order: order++,
            fromKernel: h.kernel,
            fromBootId: h.bootId,
            toKernel: target?.version ?? toKernel,
            targetKernelId: target?.kernelId ?? null,
            // The older of the two kernels' formats: the incoming kernel must read the handover.
            handoverFormat: Math.min(target?.handoverFormat ?? handoverFormat, formats.get(h.kernel) ?? 1),
          }
        }),
      })
    }
  }

  private async previousFormats(tx: Tx, versions: string[]): Promise<Map<string, number>> {
    const rows = await tx.kernel.findMany({
      where: { version: { in: [...new Set(versions)] } },
      orderBy: { createdAt: 'asc' },
    })
    return new Map(rows.map((k) => [k.version, k.handoverFormat]))
  }

  private async refuseBusy(tx: Tx, hostIds: string[]): Promise<void> {
    const busy = await tx.hostUpdate.findMany({
      where: { hostId: { in: hostIds }, rollout: { phase: { in: [...ACTIVE_ROLLOUT_PHASES] } } },
      include: { host: { select: { name: true } } },
      take: 20,
    })
    if (busy.length) {
      throw new HitlessError(
        'HITLESS_E_CONFLICT',
        `host ${busy[0].host.name} is already in active rollout ${busy[0].rolloutId}: wait for it, abort it, or leave the host out`,
        { hosts: busy.map((b) => b.host.name), rolloutId: busy[0].rolloutId },
      )
    }
  }

  /** A halt may roll hosts back only to kernels the controller knows as artifacts. */
  private async checkRollbackable(hosts: { name: string; kernel: string }[]): Promise<void> {
    for (const version of new Set(hosts.map((h) => h.kernel))) {
      if (!(await this.kernels.latestOfVersion(version))) {
        const h = hosts.find((x) => x.kernel === version)!
        throw new HitlessError(
          'HITLESS_E_UNPROCESSABLE',
          `policy.onHalt: host ${h.name} runs kernel ${version}, which is not registered: register it (POST /api/v1/kernels) so that a halt can roll back to it, or use onHalt "keep"`,
          { field: 'policy.onHalt', kernel: version },
        )
      }
    }
  }

  private async selectHosts(body: CreateRolloutBody) {
    const all = await this.db.host.findMany({ orderBy: { name: 'asc' } })
    const wanted = body.selector.labels ?? {}
    const names = body.selector.names ? new Set(body.selector.names) : undefined
    const unknown = body.selector.names?.filter((n) => !all.some((h) => h.name === n)) ?? []
    if (unknown.length) {
      throw new HitlessError('HITLESS_E_UNPROCESSABLE', `selector.names: unknown host ${unknown[0]}`, {
        unknown,
        field: 'selector.names',
      })
    }
    const selected = all.filter(
      (h) =>
        matchesLabels((h.labels ?? {}) as Record<string, string>, wanted) && (!names || names.has(h.name)),
    )
    if (selected.length === 0) {
      throw new HitlessError(
        'HITLESS_E_UNPROCESSABLE',
        'selector matches no host: widen the labels or names',
        {
          selector: body.selector,
          field: 'selector',
        },
      )
    }
    const unusable = selected.filter((h) => h.state !== 'READY')
    if (unusable.length) {
      throw new HitlessError(
        'HITLESS_E_CONFLICT',
        `host ${unusable[0].name} is ${unusable[0].state}, not READY: uncordon or resolve it, or leave it out of the selector`,
        { hosts: unusable.map((h) => ({ name: h.name, state: h.state })) },
      )
    }
    return selected
  }

  async get(id: string): Promise<Rollout> {
    const r = await this.db.rollout.findUnique({ where: { id }, include: ROLLOUT_INCLUDE })
    if (!r) throw new HitlessError('HITLESS_E_NOT_FOUND', `no rollout ${id}`)
    return toRollout(r)
  }

  async list(opts: { limit?: number; phase?: RolloutPhase } = {}): Promise<Rollout[]> {
    const rows = await this.db.rollout.findMany({
      where: opts.phase ? { phase: opts.phase } : {},
      orderBy: { createdAt: 'desc' },
      take: opts.limit ?? 50,
      include: ROLLOUT_INCLUDE,
    })
    return rows.map(toRollout)
  }

  /**
   * An operator's action on a rollout: under the rollout's lock, from the phases it allows, its
   * own writes (`fn`), then the phase `to` with the reason "<verb> by <actor>: <reason>", audited
   * in the same transaction.
   */
  private async transition(
    id: string,
    from: readonly RolloutPhase[],
    to: RolloutPhase,
    op: { verb: string; action: string; actor: string; reason?: string },
    fn?: (tx: Tx) => Promise<void>,
  ): Promise<Rollout> {
    await this.db.$transaction(async (tx) => {
      const { phase } = await lockRollout(tx, id)
      if (!from.includes(phase))
        throw new HitlessError(
          'HITLESS_E_CONFLICT',
          `rollout ${id} is ${phase}: only a ${from.join(' or ')} rollout can be ${op.verb}`,
          { phase },
        )
      await fn?.(tx)
      await tx.rollout.update({
        where: { id },
        data: { phase: to, phaseReason: `${op.verb} by ${op.actor}${op.reason ? `: ${op.reason}` : ''}` },
      })
      await auditIn(tx, op.actor, op.action, id, { phase: to, ...(op.reason ? { reason: op.reason } : {}) })
    })
    return this.get(id)
  }

  /** Stops starting new hosts; hosts in flight finish. */
  pause(id: string, actor: string, reason?: string): Promise<Rollout> {
    return this.transition(id, ['RUNNING'], 'PAUSED', {
      verb: 'paused',
      action: 'rollout.pause',
      actor,
      reason,
    })
  }

  /**
   * Goes on after a pause or a halt. Resuming acknowledges the verdict gates of every host
   * that ended so far: the operator has looked, so they pause the rollout no more. A halt
   * whose failures still exceed the budget halts again at the next tick (retry hosts first).
   */
  resume(id: string, actor: string, reason?: string): Promise<Rollout> {
    const op = { verb: 'resumed', action: 'rollout.resume', actor, reason }
    return this.transition(id, ['PAUSED', 'HALTED'], 'RUNNING', op, async (tx) => {
      await tx.hostUpdate.updateMany({
        where: { rolloutId: id, gateAckedAt: null, state: { in: ['SUCCEEDED', 'NEEDS_REVIEW'] } },
        data: { gateAckedAt: new Date() },
      })
    })
  }

  /** Ends the rollout: hosts not yet started are cancelled (a queued job's claim is refused); in-flight ones finish. */
  abort(id: string, actor: string, reason?: string): Promise<Rollout> {
    const op = { verb: 'aborted', action: 'rollout.abort', actor, reason }
    return this.transition(id, ACTIVE_ROLLOUT_PHASES, 'ABORTED', op, async (tx) => {
      await tx.hostUpdate.updateMany({
        where: { rolloutId: id, state: { in: ['PENDING', 'QUEUED'] } },
        data: { state: 'CANCELLED', failureReason: `rollout aborted by ${actor}`, finishedAt: new Date() },
      })
    })
  }

  /**
   * Gives one host a new attempt: the update is PENDING again with attempt + 1 (jobs and claims
   * of the old attempt are refused from now on), its verdict is cleared, and a held host is
   * released (the operator has inspected it). A completed rollout runs again for it.
   */
  async retry(
    id: string,
    host: string,
    actor: string,
  ): Promise<{ rollout: Rollout; previous: Record<string, unknown> }> {
    let previous: Record<string, unknown> = {}
    await this.db.$transaction(async (tx) => {
      const { phase } = await lockRollout(tx, id)
      if (phase === 'ABORTED')
        throw new HitlessError(
          'HITLESS_E_CONFLICT',
          `rollout ${id} is ABORTED: start a new rollout for this host`,
        )
      const u = await tx.hostUpdate.findFirst({
        where: { rolloutId: id, OR: [{ hostId: host }, { host: { name: host } }, { id: host }] },
        include: { verdict: true },
      })
      if (!u) throw new HitlessError('HITLESS_E_NOT_FOUND', `host ${host} is not in rollout ${id}`)
      if (!(RETRYABLE as readonly string[]).includes(u.state))
        throw new HitlessError(
          'HITLESS_E_CONFLICT',
          `the update of host ${host} is ${u.state}: only ${RETRYABLE.join(', ')} updates can be retried`,
          { state: u.state },
        )
      // What the retry clears, kept in its audit entry (the metrics' totals add it back).
      previous = {
        attempt: u.attempt,
        state: u.state,
        verdict: u.verdict?.verdict ?? null,
        reason: u.failureReason,
        hostId: u.hostId,
        blackoutMs: u.blackoutMs,
        faults: u.verdict?.faults ?? null,
      }
      await tx.verdictRecord.deleteMany({ where: { updateId: u.id } })
      await tx.hostUpdate.update({
        where: { id: u.id },
        data: {
          state: 'PENDING',
          attempt: u.attempt + 1,
          failureReason: null,
          blackoutMs: null,
          startedAt: null,
          finishedAt: null,
          claimedBy: null,
          claimedAt: null,
          gateAckedAt: null,
        },
      })
      await tx.host.updateMany({ where: { id: u.hostId, state: 'FAILED_HELD' }, data: { state: 'READY' } })
      await auditIn(tx, actor, 'rollout.retry-host', id, { host, previous })
      if (phase === 'COMPLETED')
        await tx.rollout.update({
          where: { id },
          data: { phase: 'RUNNING', phaseReason: `host ${host} retried by ${actor}` },
        })
    })
    return { rollout: await this.get(id), previous }
  }
}
