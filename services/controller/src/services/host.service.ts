import { randomUUID } from 'node:crypto'
import type { Db } from '@hitless/db'
import {
  type EnrolBody,
  type EnrolResponse,
  HitlessError,
  type Host,
  type HostDetail,
  type HostState,
  hostUpdateQueueName,
  type Labels,
} from '@hitless/protocol'
import { auditIn } from './audit.service.js'
import { matchesLabels } from './label-selector.js'
import { toHost, toUpdate, UPDATE_INCLUDE } from './presenters.js'
import type { TokenService } from './token.service.js'

export class HostService {
  constructor(
    private readonly db: Db,
    private readonly tokens: TokenService,
  ) {}

  /**
   * Registers (or re-registers) the hosts an agent runs and returns a fresh per-host token for
   * each. A host whose boot ID changed while an update was in flight outside KEXEC lost power
   * (or crashed): that update ends FAILED_HELD, never silently re-run.
   */
  async enrol(body: EnrolBody): Promise<EnrolResponse> {
    const out: EnrolResponse['hosts'] = []
    for (const h of body.hosts) {
      const existing = await this.db.host.findUnique({ where: { name: h.name } })
      if (existing && existing.agentId !== body.agentId) {
        throw new HitlessError(
          'HITLESS_E_CONFLICT',
          `host ${h.name} is enrolled by agent ${existing.agentId}`,
          {
            host: h.name,
          },
        )
      }
      const id = existing?.id ?? `host-${randomUUID()}`
      await this.db.host.upsert({
        where: { name: h.name },
        create: {
          id,
          name: h.name,
          agentId: body.agentId,
          labels: h.labels ?? {},
          hardware: h.hardware,
          kernel: h.kernel,
          bootId: h.bootId,
          state: 'READY',
          lastHeartbeat: new Date(),
        },
        update: { labels: h.labels ?? {}, hardware: h.hardware, lastHeartbeat: new Date() },
      })
      await this.observeBoot(id, h.bootId, h.kernel)
      out.push({ id, name: h.name, token: await this.tokens.rotateHostToken(id, h.name) })
    }
    return { queue: hostUpdateQueueName(body.agentId), hosts: out }
  }

  async heartbeat(hostId: string, bootId: string, kernel: string): Promise<void> {
    await this.observeBoot(hostId, bootId, kernel)
  }

  /** Records what a host reports of its boot; detects a reboot that was not our kexec. */
  private async observeBoot(hostId: string, bootId: string, kernel: string): Promise<void> {
    await this.db.$transaction(async (tx) => {
      // Locked: two reports of one host (a heartbeat and a re-enrolment) decide one after the
      // other, and the state written last below is the one read here.
      await tx.$queryRaw`SELECT id FROM "Host" WHERE id = ${hostId} FOR UPDATE`
      const host = await tx.host.findUniqueOrThrow({ where: { id: hostId } })
      let state = host.state
      if (host.bootId !== bootId) {
        const inFlight = await tx.hostUpdate.findFirst({
          where: { hostId, state: 'RUNNING' },
          include: { steps: true },
        })
        const kexecRunning = inFlight?.steps.some(
          (s) => s.attempt === inFlight.attempt && s.step === 'KEXEC' && s.status !== 'failed',
        )
        if (inFlight && !kexecRunning) {
          // Conditional: a finish (or another heartbeat with this boot ID) that committed since the
          // read above wins, and nothing is held or audited twice.
          const held = await tx.hostUpdate.updateMany({
            where: { id: inFlight.id, state: 'RUNNING', attempt: inFlight.attempt },
            data: {
              state: 'FAILED_HELD',
              finishedAt: new Date(),
              failureReason: `host rebooted outside KEXEC (boot ID ${host.bootId} → ${bootId}): held for inspection`,
            },
          })
          if (held.count === 1) {
            state = 'FAILED_HELD'
            await auditIn(tx, 'controller', 'host.fail-held', hostId, {
              reason: 'rebooted outside KEXEC',
              update: inFlight.id,
              bootId: { before: host.bootId, after: bootId },
            })
          }
        }
      }
      if (state === 'OFFLINE')
        state = (await tx.hostUpdate.count({ where: { hostId, state: 'RUNNING' } })) ? 'UPDATING' : 'READY'
      await tx.host.update({
        where: { id: hostId },
        data: { bootId, kernel, lastHeartbeat: new Date(), state },
      })
    })
  }

  async list(filter: { state?: HostState; labels?: Labels }): Promise<Host[]> {
    const rows = await this.db.host.findMany({
      where: filter.state ? { state: filter.state } : {},
      orderBy: { name: 'asc' },
    })
    return rows.map(toHost).filter((h) => matchesLabels(h.labels, filter.labels ?? {}))
  }

  async get(id: string): Promise<Host> {
    const h = await this.db.host.findFirst({ where: { OR: [{ id }, { name: id }] } })
    if (!h) throw new HitlessError('HITLESS_E_NOT_FOUND', `no host ${id}`)
    return toHost(h)
  }

  async detail(id: string): Promise<HostDetail> {
    const h = await this.get(id)
    const updates = await this.db.hostUpdate.findMany({
      where: { hostId: h.id },
      include: UPDATE_INCLUDE,
      orderBy: { createdAt: 'desc' },
      take: 100,
    })
    return { ...h, updates: updates.map(toUpdate) }
  }

  /**
   * Cordons a READY host (or uncordons a CORDONED one), audited in the same transaction. The host
   * row is locked first: a dispatch (which shares that lock, loop/controller-loop.ts) either
   * committed before — the host has a queued update, a 409 — or waits and then finds the host
   * CORDONED and leaves it. The state is changed by one conditional statement, so a claim that
   * made the host UPDATING is never overwritten. Asking for the state it is already in is a no-op
   * (200, not audited); a host in any other state (updating, held, offline) is a 409 saying when
   * to retry.
   */
  async setCordoned(id: string, cordoned: boolean, actor: string): Promise<Host> {
    const h = await this.get(id)
    const [from, to] = cordoned ? (['READY', 'CORDONED'] as const) : (['CORDONED', 'READY'] as const)
    await this.db.$transaction(async (tx) => {
      await tx.$queryRaw`SELECT id FROM "Host" WHERE id = ${h.id} FOR UPDATE`
      if (cordoned) {
        // A statement after the lock: it sees what a dispatch that held the lock committed.
        const queued = await tx.hostUpdate.findFirst({
          where: { hostId: h.id, state: { in: ['QUEUED', 'RUNNING', 'VERIFYING'] } },
          select: { rolloutId: true, state: true },
        })
        if (queued)
          throw new HitlessError(
            'HITLESS_E_CONFLICT',
            `host ${h.name} has an update ${queued.state} in rollout ${queued.rolloutId}: cordon it once that update ends, or abort the rollout`,
            { state: queued.state, rolloutId: queued.rolloutId },
          )
      }
      const n = await tx.host.updateMany({ where: { id: h.id, state: from }, data: { state: to } })
      if (n.count === 1) {
        await auditIn(tx, actor, `host.${cordoned ? 'cordon' : 'uncordon'}`, h.id, { name: h.name })
        return
      }
      const now = await tx.host.findUniqueOrThrow({ where: { id: h.id } })
      if (now.state === to) return
      throw new HitlessError(
        'HITLESS_E_CONFLICT',
        cordoned
          ? `host ${h.name} is ${now.state}: only a READY host can be cordoned; cordon it once it is READY again`
          : `host ${h.name} is ${now.state}, not CORDONED: there is nothing to uncordon`,
        { state: now.state },
      )
    })
    return this.get(h.id)
  }
}
