import type { Db } from '@hitless/db'
import { HitlessError, type KernelSpec, type Strategy } from '@hitless/protocol'
import type { QueueRepository } from '../queues/queue.repository.js'
import { LeaseService } from '../services/lease.service.js'

/**
 * The leader's reconcile loop. PostgreSQL is the truth; every tick re-derives what is owed from it
 * and makes Redis match (job ids make that idempotent), so a crash of a controller or a loss of
 * Redis loses no decision. Only the lease holder acts, and each write is fenced by its epoch.
 */
export class ControllerLoop {
  private timer: NodeJS.Timeout | undefined
  private running = false
  private lastEpoch: number | undefined
  private ticks = 0

  constructor(
    private readonly db: Db,
    private readonly queues: QueueRepository,
    private readonly lease: LeaseService,
    private readonly opts: { intervalMs: number; heartbeatTimeoutMs: number },
    private readonly log: (msg: string) => void = () => {},
  ) {}

  start(): void {
    const run = async () => {
      await this.tick().catch((e: unknown) => this.log(`controller loop: ${(e as Error).message}`))
      if (this.timer !== undefined) this.timer = setTimeout(run, this.opts.intervalMs)
    }
    this.timer = setTimeout(run, 0)
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    while (this.running) await new Promise((r) => setTimeout(r, 20))
  }

  /** Runs one reconcile pass now (also called right after a rollout is created). */
  async tick(now = new Date()): Promise<void> {
    if (this.running) return
    this.running = true
    try {
      const epoch = await this.lease.tryAcquire(now)
      if (epoch === undefined) return
      const takeover = epoch !== this.lastEpoch
      if (takeover) this.log(`controller ${this.lease.holder} leads with epoch ${epoch}`)
      this.lastEpoch = epoch
      this.ticks++
      await this.dispatchPending(epoch)
      // Re-enqueue what PostgreSQL says is queued: after a takeover, and now and then, in case a
      // leader died between its commit and its enqueue, or Redis lost the job.
      if (takeover || this.ticks % 30 === 0) await this.reenqueueQueued()
      await this.enqueueOwedVerifications()
      await this.expireSilentHosts(now)
      await this.completeRollouts()
    } finally {
      this.running = false
    }
  }

  private async fenced<T>(
    epoch: number,
    fn: (tx: Parameters<Parameters<Db['$transaction']>[0]>[0]) => Promise<T>,
  ): Promise<T> {
    return this.db.$transaction(async (tx) => {
      if (!(await LeaseService.isCurrent(tx, epoch))) {
        throw new HitlessError(
          'HITLESS_E_STALE_CLAIM',
          `epoch ${epoch} is no longer the controller lease's: write refused`,
        )
      }
      return fn(tx)
    })
  }

  private async dispatchPending(epoch: number): Promise<void> {
    const pending = await this.db.hostUpdate.findMany({
      where: { state: 'PENDING', rollout: { phase: 'RUNNING' } },
      include: { host: true, rollout: { include: { kernel: true } } },
      take: 500,
    })
    if (pending.length === 0) return
    const ids = pending.map((u) => u.id)
    const claimed = await this.fenced(epoch, (tx) =>
      tx.hostUpdate.updateMany({
        where: { id: { in: ids }, state: 'PENDING' },
        data: { state: 'QUEUED', dispatchEpoch: epoch },
      }),
    )
    if (claimed.count === 0) return
    for (const u of pending) await this.enqueue({ ...u, dispatchEpoch: epoch })
  }

  private async enqueue(u: {
    id: string
    rolloutId: string
    hostId: string
    attempt: number
    dispatchEpoch: number
    host: { agentId: string }
    rollout: {
      strategy: string
      kernel: { version: string; image: string; initrd: string | null; cmdline: string; sha256: string }
    }
  }): Promise<void> {
    const k = u.rollout.kernel
    const kernel: KernelSpec = {
      version: k.version,
      image: k.image,
      cmdline: k.cmdline,
      sha256: k.sha256,
      ...(k.initrd ? { initrd: k.initrd } : {}),
    }
    await this.queues.enqueueHostUpdate(u.host.agentId, {
      updateId: u.id,
      rolloutId: u.rolloutId,
      hostId: u.hostId,
      attempt: u.attempt,
      epoch: u.dispatchEpoch,
      strategy: u.rollout.strategy as Strategy,
      kernel,
    })
  }

  private async reenqueueQueued(): Promise<void> {
    const queued = await this.db.hostUpdate.findMany({
      where: { state: 'QUEUED' },
      include: { host: true, rollout: { include: { kernel: true } } },
    })
    for (const u of queued) await this.enqueue(u)
  }

  private async enqueueOwedVerifications(): Promise<void> {
    const owed = await this.db.hostUpdate.findMany({
      where: { state: 'VERIFYING' },
      select: { id: true, attempt: true },
    })
    for (const u of owed) await this.queues.enqueueVerify({ updateId: u.id, attempt: u.attempt })
  }

  /** A host silent past the deadline is OFFLINE; an update running on it is failed and held. */
  private async expireSilentHosts(now: Date): Promise<void> {
    const cutoff = new Date(now.getTime() - this.opts.heartbeatTimeoutMs)
    const silent = await this.db.host.findMany({
      where: { lastHeartbeat: { lt: cutoff }, state: { notIn: ['OFFLINE', 'FAILED_HELD'] } },
    })
    for (const h of silent) {
      await this.db.$transaction(async (tx) => {
        const running = await tx.hostUpdate.updateMany({
          where: { hostId: h.id, state: 'RUNNING' },
          data: {
            state: 'FAILED_HELD',
            finishedAt: now,
            failureReason: `host silent for more than ${this.opts.heartbeatTimeoutMs} ms during the update`,
          },
        })
        await tx.host.update({
          where: { id: h.id },
          data: { state: running.count ? 'FAILED_HELD' : 'OFFLINE' },
        })
      })
    }
  }

  private async completeRollouts(): Promise<void> {
    const running = await this.db.rollout.findMany({
      where: { phase: 'RUNNING' },
      include: { updates: { select: { state: true } } },
    })
    for (const r of running) {
      const open = r.updates.some((u) => ['PENDING', 'QUEUED', 'RUNNING', 'VERIFYING'].includes(u.state))
      if (open) continue
      const failed = r.updates.filter((u) => u.state === 'FAILED' || u.state === 'FAILED_HELD').length
      const review = r.updates.filter((u) => u.state === 'NEEDS_REVIEW').length
      const reason = `${r.updates.length - failed - review} succeeded, ${failed} failed, ${review} need review`
      await this.db.rollout.update({ where: { id: r.id }, data: { phase: 'COMPLETED', phaseReason: reason } })
    }
  }
}
