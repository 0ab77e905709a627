import { createHash, randomUUID } from 'node:crypto'
import type { Db } from '@hitless/db'
import { type CreateRolloutBody, HitlessError, type Rollout } from '@hitless/protocol'
import { matchesLabels } from './label-selector.js'
import { toRollout, UPDATE_INCLUDE } from './presenters.js'

const ACTIVE_PHASES = ['PENDING', 'RUNNING', 'PAUSED'] as const
const ROLLOUT_INCLUDE = { kernel: true, updates: { include: UPDATE_INCLUDE } } as const

export interface RolloutPlanPreview {
  dryRun: true
  hosts: string[]
  waves: { index: number; hosts: string[] }[]
}

export class RolloutService {
  constructor(private readonly db: Db) {}

  /**
   * Creates a rollout and one PENDING update per selected host, atomically: a host already in
   * an active rollout makes the whole create fail (409) and nothing is written. The leader's
   * loop dispatches PENDING updates (services/dispatcher.ts).
   */
  async create(
    body: CreateRolloutBody,
    actor: string,
    idempotencyKey?: string,
  ): Promise<Rollout | RolloutPlanPreview> {
    if (idempotencyKey && !body.dryRun) {
      const prior = await this.db.rollout.findUnique({ where: { idempotencyKey } })
      if (prior) return this.get(prior.id)
    }
    const hosts = await this.selectHosts(body)
    if (body.dryRun) {
      return {
        dryRun: true,
        hosts: hosts.map((h) => h.name),
        waves: [{ index: 0, hosts: hosts.map((h) => h.name) }],
      }
    }
    const kernelId = `kernel-${createHash('sha256').update(`${body.kernel.version}\0${body.kernel.sha256}`).digest('hex').slice(0, 16)}`
    const rolloutId = `ro-${randomUUID()}`
    try {
      await this.db.$transaction(async (tx) => {
        const busy = await tx.hostUpdate.findMany({
          where: {
            hostId: { in: hosts.map((h) => h.id) },
            rollout: { phase: { in: [...ACTIVE_PHASES] } },
            state: { notIn: ['SUCCEEDED', 'FAILED', 'CANCELLED', 'NEEDS_REVIEW'] },
          },
          include: { host: { select: { name: true } } },
        })
        if (busy.length) {
          throw new HitlessError(
            'HITLESS_E_CONFLICT',
            `host ${busy[0].host.name} is already in active rollout ${busy[0].rolloutId}`,
            { hosts: busy.map((b) => b.host.name), rolloutId: busy[0].rolloutId },
          )
        }
        await tx.kernel.upsert({
          where: { id: kernelId },
          create: {
            id: kernelId,
            version: body.kernel.version,
            image: body.kernel.image,
            initrd: body.kernel.initrd,
            cmdline: body.kernel.cmdline ?? '',
            sha256: body.kernel.sha256,
          },
          update: {},
        })
        const waveId = `wave-${randomUUID()}`
        await tx.rollout.create({
          data: {
            id: rolloutId,
            name: body.name ?? `${body.kernel.version} (${hosts.length} hosts)`,
            kernelId,
            strategy: body.strategy,
            policy: { selector: body.selector },
            phase: 'RUNNING',
            idempotencyKey: idempotencyKey ?? null,
            createdBy: actor,
            waves: { create: { id: waveId, index: 0, hostCount: hosts.length, startedAt: new Date() } },
          },
        })
        await tx.hostUpdate.createMany({
          data: hosts.map((h) => ({
            id: `upd-${randomUUID()}`,
            rolloutId,
            waveId,
            hostId: h.id,
            fromKernel: h.kernel,
            fromBootId: h.bootId,
            toKernel: body.kernel.version,
          })),
        })
      })
    } catch (e) {
      // Two creates with one Idempotency-Key racing: the loser returns the winner's rollout.
      if (idempotencyKey && (e as { code?: string }).code === 'P2002') {
        const prior = await this.db.rollout.findUnique({ where: { idempotencyKey } })
        if (prior) return this.get(prior.id)
      }
      throw e
    }
    return this.get(rolloutId)
  }

  private async selectHosts(body: CreateRolloutBody) {
    const all = await this.db.host.findMany({ orderBy: { name: 'asc' } })
    const wanted = body.selector.labels ?? {}
    const names = body.selector.names ? new Set(body.selector.names) : undefined
    const unknown = body.selector.names?.filter((n) => !all.some((h) => h.name === n)) ?? []
    if (unknown.length) {
      throw new HitlessError('HITLESS_E_UNPROCESSABLE', `selector.names: unknown host ${unknown[0]}`, {
        unknown,
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

  async list(limit = 50): Promise<Rollout[]> {
    const rows = await this.db.rollout.findMany({
      orderBy: { createdAt: 'desc' },
      take: limit,
      include: ROLLOUT_INCLUDE,
    })
    return rows.map(toRollout)
  }
}
