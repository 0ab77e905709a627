import { randomUUID } from 'node:crypto'
import { type Db, sqlLiteral, sqlQuery, sqlTime, sqlTransaction } from '@hitless/db'
import { HitlessError, type HostUpdateJob, type RolloutPhase, type Strategy } from '@hitless/protocol'
import { planNext } from '../planner/plan-next.js'
import type { PlannerAction, PlannerRollout } from '../planner/types.js'
import type { QueueRepository } from '../queues/queue.repository.js'
import type { KernelService } from '../services/kernel.service.js'
import { LeaseService } from '../services/lease.service.js'
import { lockRollout, type RolloutService } from '../services/rollout.service.js'
import { PlannerRollouts } from './rollout-state.repository.js'

type Tx = Parameters<Parameters<Db['$transaction']>[0]>[0]

/** Actions `applyFast` carries out; any other goes through Prisma (`fenced`). */
const FAST_ACTIONS: ReadonlySet<PlannerAction['kind']> = new Set([
  'dispatch',
  'startWave',
  'finishWave',
  'wait',
])

interface Applied {
  applied: boolean
  /** Updates dispatched: their ids, or (applyFast) their jobs' rows. */
  toEnqueue: string[] | JobRow[]
  wavesDone: { wave: number; seconds: number }[]
}

/** What a host-update job carries, for the row of "HostUpdate" at hand (JOB_FIELDS). */
interface JobRow {
  id: string
  rolloutId: string
  hostId: string
  attempt: number
  epoch: number
  handoverFormat: number
  agentId: string
  rollout: { strategy: string; rollbackOf: string | null; kernel: JobKernel }
  target: JobKernel | null
}

interface JobKernel {
  version: string
  image: string
  cmdline: string
  sha256: string
  handoverFormat: number
  initrd: string | null
}

const KERNEL_JSON = (k: string) =>
  `json_build_object('version', ${k}.version, 'image', ${k}.image, 'cmdline', ${k}.cmdline, 'sha256', ${k}.sha256,
     'handoverFormat', ${k}."handoverFormat", 'initrd', ${k}.initrd)`

/** JobRow's columns of the "HostUpdate" row at hand (a SELECT from it, or an UPDATE's RETURNING). */
const JOB_FIELDS = `
  "HostUpdate".id, "HostUpdate"."rolloutId", "HostUpdate"."hostId", "HostUpdate".attempt,
  "HostUpdate"."dispatchEpoch" AS epoch, "HostUpdate"."handoverFormat",
  (SELECT h."agentId" FROM "Host" h WHERE h.id = "HostUpdate"."hostId") AS "agentId",
  (SELECT json_build_object('strategy', r.strategy, 'rollbackOf', r."rollbackOf", 'kernel', ${KERNEL_JSON('k')})
     FROM "Rollout" r JOIN "Kernel" k ON k.id = r."kernelId" WHERE r.id = "HostUpdate"."rolloutId") AS rollout,
  (SELECT ${KERNEL_JSON('tk')} FROM "Kernel" tk WHERE tk.id = "HostUpdate"."targetKernelId") AS target`

/**
 * How often the timer's passes do each piece of upkeep, at most (every tick at the default
 * 1 s period for silent hosts; every 10th and 30th tick at that period for the others). A
 * shorter period plans more often without multiplying the upkeep.
 */
const UPKEEP_MS = { silent: 1000, verifications: 10000, reenqueue: 30000 }

const staleEpoch = (epoch: number) =>
  new HitlessError(
    'HITLESS_E_STALE_CLAIM',
    `epoch ${epoch} is no longer the controller lease's: write refused`,
    {
      epoch,
    },
  )

export interface LoopObserver {
  /** A wave ended after `seconds` (for the wave-duration histogram). */
  waveFinished?(rolloutId: string, wave: number, seconds: number): void
  /** The loop applied actions to a rollout (for logs). */
  applied?(rolloutId: string, actions: PlannerAction[]): void
  /** A pass ended (for the benchmark's breakdown): when it started and its phases, in ms. */
  passed?(p: PassTiming): void
}

export interface PassTiming {
  /** Date.now() when the pass started. */
  start: number
  upkeep: boolean
  /** False: a timer tick that only renewed the lease and did the upkeep due. */
  planned: boolean
  /** Taking or renewing the lease (0 when a recent epoch was reused). */
  leaseMs: number
  /** Re-enqueues and silent-host expiry (upkeep). */
  upkeepMs: number
  /** Reading the rollouts the planner plans. */
  loadMs: number
  /** Planning and the fenced transactions (enqueues run behind the pass). */
  applyMs: number
  ms: number
}

/**
 * The leader's reconcile loop. PostgreSQL is the truth: each tick reads every active rollout,
 * asks the pure planner (planner/plan-next.ts) what to do, and carries the actions out in one
 * transaction per rollout that first checks the lease epoch is still this replica's (a stale
 * leader's writes are refused) and locks the rollout row (operator actions serialise with it).
 * Jobs are enqueued after the commit, carrying the epoch; if the leader dies between commit and
 * enqueue, the next leader re-enqueues every QUEUED update on takeover (job ids make it idempotent).
 */
export class ControllerLoop {
  private timer: NodeJS.Timeout | undefined
  private running = false
  private again = false
  private upkeepOwed = false
  private readonly enqueues = new Set<Promise<void>>()
  private lastEpoch: number | undefined
  /** When each piece of upkeep last ran (Date.now()): paced by time, not by the tick rate. */
  private readonly lastRun = { reenqueue: 0, silent: 0, verifications: 0 }
  /** When the last pass that planned started (Date.now()). */
  private lastPlannedAt = 0
  private reenqueueOwed = false
  /** The rollouts as last read, patched each pass with what changed. */
  private readonly state: PlannerRollouts
  observer: LoopObserver = {}

  constructor(
    private readonly db: Db,
    private readonly queues: QueueRepository,
    private readonly lease: LeaseService,
    private readonly rollouts: RolloutService,
    private readonly kernels: KernelService,
    private readonly opts: { intervalMs: number; heartbeatTimeoutMs: number },
    private readonly log: (msg: string) => void = () => {},
  ) {
    this.state = new PlannerRollouts(db)
  }

  start(): void {
    this.queues.onVerified(() => this.kick())
    const run = async () => {
      // A pass that planned within the period (woken by a verdict, a failure, an operator's
      // action) did the timer's planning: this tick renews the lease and does the upkeep due.
      const plan = Date.now() - this.lastPlannedAt >= this.opts.intervalMs
      await this.tick(new Date(), true, plan).catch((e: unknown) =>
        this.log(`controller loop: ${(e as Error).message}`),
      )
      if (this.timer !== undefined) this.timer = setTimeout(run, this.opts.intervalMs)
    }
    this.timer = setTimeout(run, 0)
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    while (this.running) await new Promise((r) => setTimeout(r, 20))
    await Promise.all([...this.enqueues])
  }

  /** Asks for a tick soon (a host finished, a rollout was created); harmless on a follower. */
  kick(): void {
    if (this.timer === undefined) return
    if (this.running) {
      this.again = true
      return
    }
    void this.tick(new Date(), false).catch((e: unknown) =>
      this.log(`controller loop: ${(e as Error).message}`),
    )
  }

  /**
   * Runs one reconcile pass now (`upkeep` false: planning only, for kicks; `plan` false: the
   * lease and the upkeep only).
   */
  async tick(now = new Date(), upkeep = true, plan = true): Promise<void> {
    if (this.running) {
      // Coalesced: one more pass starts as soon as the running one ends (with the upkeep owed).
      // A tick with nothing to plan leaves it to the next one.
      if (!plan) return
      this.again = true
      if (upkeep) this.upkeepOwed = true
      return
    }
    this.running = true
    try {
      let first = true
      do {
        this.again = false
        const doUpkeep = first ? upkeep : this.upkeepOwed
        if (doUpkeep) this.upkeepOwed = false
        await this.pass(first ? now : new Date(), doUpkeep, first ? plan : true)
        first = false
      } while (this.again && this.timer !== undefined)
    } finally {
      this.running = false
    }
    // The passes' enqueues ran behind them; the tick ends when they are done (the next tick,
    // if woken meanwhile, need not wait for them).
    await Promise.all([...this.enqueues])
  }

  /**
   * A pass woken by `kick` plans only; the timer's passes also do the periodic upkeep. A
   * planning-only pass reuses the epoch when the lease was renewed moments ago (it cannot have
   * expired): its writes are fenced by that epoch in their transaction all the same.
   */
  private async pass(now: Date, upkeep = true, plan = true): Promise<void> {
    const t0 = performance.now()
    if (plan) this.lastPlannedAt = Date.now()
    const recent = upkeep ? undefined : this.lease.recentEpoch()
    const epoch =
      recent !== undefined && recent === this.lastEpoch ? recent : await this.lease.tryAcquire(now)
    const t1 = performance.now()
    if (epoch === undefined) {
      this.lastEpoch = undefined
      return
    }
    const takeover = epoch !== this.lastEpoch
    if (takeover) {
      this.log(`controller ${this.lease.holder} leads with epoch ${epoch}`)
      this.state.reset()
    }
    this.lastEpoch = epoch
    const due = (what: keyof typeof this.lastRun, everyMs: number) => {
      if (!upkeep || Date.now() - this.lastRun[what] < everyMs) return false
      this.lastRun[what] = Date.now()
      return true
    }
    // Re-enqueue what PostgreSQL says is queued: after a takeover, after a failed enqueue, and
    // every 30 s, in case a leader died between its commit and its enqueue or Redis lost a job.
    if (due('reenqueue', UPKEEP_MS.reenqueue) || takeover || this.reenqueueOwed) await this.reenqueueQueued()
    if (due('silent', Math.min(UPKEEP_MS.silent, this.opts.heartbeatTimeoutMs / 4)))
      await this.expireSilentHosts(epoch, now)
    const t2 = performance.now()
    if (!plan) {
      this.observer.passed?.({
        start: Date.now() - (t2 - t0),
        upkeep,
        planned: false,
        leaseMs: t1 - t0,
        upkeepMs: t2 - t1,
        loadMs: 0,
        applyMs: 0,
        ms: t2 - t0,
      })
      return
    }
    const rs = await this.state.load()
    const t3 = performance.now()
    for (const r of rs) {
      const actions = planNext(r, now)
      // The jobs are enqueued after the commit without holding up the next pass (a verdict
      // arriving meanwhile is planned at once); `stop` waits for them.
      if (actions.length) await this.apply(epoch, r, actions, now, true)
    }
    const t4 = performance.now()
    // The agent API enqueues each verification when an update finishes; this catches the ones
    // lost to a crash between that commit and that enqueue (every 10 s, and after a takeover).
    if (due('verifications', UPKEEP_MS.verifications) || takeover) await this.enqueueOwedVerifications()
    this.observer.passed?.({
      start: Date.now() - (performance.now() - t0),
      upkeep,
      planned: true,
      leaseMs: t1 - t0,
      upkeepMs: t2 - t1,
      loadMs: t3 - t2,
      applyMs: t4 - t3,
      ms: performance.now() - t0,
    })
  }

  /** Runs `fn` in a transaction that first checks `epoch` still holds the lease. */
  async fenced<T>(epoch: number, fn: (tx: Tx) => Promise<T>): Promise<T> {
    return this.db.$transaction(
      async (tx) => {
        if (!(await LeaseService.isCurrent(tx, epoch))) throw staleEpoch(epoch)
        return fn(tx)
      },
      { timeout: 30000 },
    )
  }

  /**
   * Carries out the planner's actions for one rollout, fenced by `epoch`. Skipped when the
   * rollout's phase changed since it was read (an operator paused or aborted it): the next
   * tick plans again from the new state.
   */
  async apply(
    epoch: number,
    r: Pick<PlannerRollout, 'id' | 'phase'>,
    actions: PlannerAction[],
    now = new Date(),
    background = false,
  ) {
    const fast = actions.every((a) => FAST_ACTIONS.has(a.kind))
    const { applied, toEnqueue, wavesDone } = fast
      ? await this.applyFast(epoch, r, actions, now)
      : await this.applyInPrisma(epoch, r, actions, now)
    if (!applied) return
    for (const w of wavesDone) this.observer.waveFinished?.(r.id, w.wave, w.seconds)
    this.observer.applied?.(r.id, actions)
    const enqueue = () =>
      toEnqueue.length && typeof toEnqueue[0] !== 'string'
        ? this.enqueueJobs(toEnqueue as JobRow[])
        : this.enqueueUpdates(toEnqueue as string[])
    if (!background) return enqueue()
    const p = enqueue().catch((e: unknown) => {
      this.reenqueueOwed = true
      this.log(`enqueue failed (retried next tick): ${(e as Error).message}`)
    })
    this.enqueues.add(p)
    void p.finally(() => this.enqueues.delete(p))
  }

  /**
   * The actions of almost every pass (dispatches, waves starting and ending, a wait's reason) on
   * the pg pool in two round trips: fence and lock with BEGIN, every write in one statement
   * with COMMIT (returning what the dispatched updates' jobs carry: no query before the
   * enqueue). The same checks as `fenced` and `lockRollout`, in the same order.
   */
  private async applyFast(
    epoch: number,
    r: Pick<PlannerRollout, 'id' | 'phase'>,
    actions: PlannerAction[],
    now: Date,
  ): Promise<Applied> {
    const dispatch: string[] = []
    const start: number[] = []
    const finish: number[] = []
    let reason: string | null = null
    for (const a of actions) {
      if (a.kind === 'dispatch') dispatch.push(a.updateId)
      else if (a.kind === 'startWave') start.push(a.wave)
      else if (a.kind === 'finishWave') finish.push(a.wave)
      else if (a.kind === 'wait') reason = a.reason
    }
    const id = sqlLiteral(r.id)
    const t = `${sqlLiteral(sqlTime(now))}::timestamp(3)`
    const list = (xs: (string | number)[], type: string) =>
      `ARRAY[${xs.map(sqlLiteral).join(', ')}]::${type}[]`
    return sqlTransaction(this.db, async (tx) => {
      // With BEGIN: the fence (the lease row, shared) and the rollout's lock.
      const [held] = await tx.first<{ epoch: number | null; phase: string | null }>(
        `SELECT (SELECT epoch FROM "ControllerLease" WHERE id = 1 FOR SHARE) AS epoch,
                (SELECT phase::text FROM "Rollout" WHERE id = ${id} FOR UPDATE) AS phase`,
      )
      if (held.epoch !== epoch) throw staleEpoch(epoch)
      if (held.phase === null) throw new HitlessError('HITLESS_E_NOT_FOUND', `no rollout ${r.id}`)
      if (held.phase !== r.phase) return { applied: false, toEnqueue: [], wavesDone: [] }
      // Every write in one statement, with COMMIT.
      const rows = await tx.commit<{ job: JobRow | null; wave: number | null; startedAt: number | null }>(
        `WITH d AS (
           UPDATE "HostUpdate" SET state = 'QUEUED', "dispatchEpoch" = ${sqlLiteral(epoch)}, "updatedAt" = ${t}
           WHERE id = ANY(${list(dispatch, 'text')}) AND state = 'PENDING'
             -- The host still READY, its row shared-locked: a cordon (which locks it first) either
             -- committed before, and the host is not dispatched, or waits and then sees the update.
             AND "hostId" IN (SELECT h.id FROM "Host" h WHERE h.state = 'READY' FOR SHARE)
           RETURNING ${JOB_FIELDS}),
         s AS (
           UPDATE "Wave" SET "startedAt" = ${t}
           WHERE "rolloutId" = ${id} AND index = ANY(${list(start, 'int')}) AND "startedAt" IS NULL),
         f AS (
           UPDATE "Wave" SET "finishedAt" = ${t}
           WHERE "rolloutId" = ${id} AND index = ANY(${list(finish, 'int')}) AND "finishedAt" IS NULL
           RETURNING index, (extract(epoch FROM "startedAt") * 1000)::float8 AS "startedAt"),
         w AS (
           UPDATE "Rollout" SET "phaseReason" = ${sqlLiteral(reason)}, "updatedAt" = ${t}
           WHERE id = ${id} AND ${sqlLiteral(reason)}::text IS NOT NULL
             AND "phaseReason" IS DISTINCT FROM ${sqlLiteral(reason)}::text)
         SELECT to_json(d) AS job, NULL::int AS wave, NULL::float8 AS "startedAt" FROM d
         UNION ALL SELECT NULL, index, "startedAt" FROM f`,
      )
      const toEnqueue: JobRow[] = []
      const wavesDone: Applied['wavesDone'] = []
      for (const x of rows) {
        if (x.job !== null) toEnqueue.push(x.job)
        else if (x.wave !== null && x.startedAt !== null)
          wavesDone.push({ wave: x.wave, seconds: (now.getTime() - x.startedAt) / 1000 })
      }
      return { applied: true, toEnqueue, wavesDone }
    })
  }

  /** Every other action (halts, pauses, completions, held hosts, rollbacks: audited) through Prisma. */
  private async applyInPrisma(
    epoch: number,
    r: Pick<PlannerRollout, 'id' | 'phase'>,
    actions: PlannerAction[],
    now: Date,
  ): Promise<Applied> {
    const toEnqueue: string[] = []
    const wavesDone: { wave: number; seconds: number }[] = []
    const applied = await this.fenced(epoch, async (tx) => {
      const { phase } = await lockRollout(tx, r.id)
      if (phase !== r.phase) return false
      let current: RolloutPhase = phase
      for (const a of actions) {
        switch (a.kind) {
          case 'failHeld': {
            const n = await tx.hostUpdate.updateMany({
              where: { id: a.updateId, state: 'RUNNING' },
              data: { state: 'FAILED_HELD', failureReason: a.reason, finishedAt: now },
            })
            if (n.count) {
              const u = await tx.hostUpdate.findUniqueOrThrow({
                where: { id: a.updateId },
                select: { hostId: true },
              })
              await tx.host.update({ where: { id: u.hostId }, data: { state: 'FAILED_HELD' } })
              await this.audit(tx, 'update.fail-held', a.updateId, { rolloutId: r.id, reason: a.reason })
            }
            break
          }
          case 'halt':
          case 'pause':
          case 'complete':
            current = a.kind === 'halt' ? 'HALTED' : a.kind === 'pause' ? 'PAUSED' : 'COMPLETED'
            await tx.rollout.update({ where: { id: r.id }, data: { phase: current, phaseReason: a.reason } })
            await this.audit(tx, `rollout.${a.kind}`, r.id, { reason: a.reason, epoch })
            break
          case 'startWave':
            await tx.wave.updateMany({
              where: { rolloutId: r.id, index: a.wave, startedAt: null },
              data: { startedAt: now },
            })
            break
          case 'finishWave': {
            const w = await tx.wave.findFirst({ where: { rolloutId: r.id, index: a.wave } })
            if (w && !w.finishedAt) {
              await tx.wave.update({ where: { id: w.id }, data: { finishedAt: now } })
              if (w.startedAt)
                wavesDone.push({ wave: a.wave, seconds: (now.getTime() - w.startedAt.getTime()) / 1000 })
            }
            break
          }
          case 'dispatch': {
            const n = await tx.hostUpdate.updateMany({
              where: { id: a.updateId, state: 'PENDING', host: { state: 'READY' } },
              data: { state: 'QUEUED', dispatchEpoch: epoch },
            })
            if (n.count) toEnqueue.push(a.updateId)
            break
          }
          case 'wait':
            await tx.rollout.updateMany({
              // (phaseReason <> x is NULL, not true, when phaseReason is NULL)
              where: { id: r.id, OR: [{ phaseReason: null }, { NOT: { phaseReason: a.reason } }] },
              data: { phaseReason: a.reason },
            })
            break
          case 'startRollback':
            await this.audit(tx, 'rollout.rollback', r.id, {
              ...(await this.createRollback(tx, r.id, a.updateIds)),
              epoch,
            })
            break
        }
      }
      return true
    })
    return { applied, toEnqueue, wavesDone }
  }

  /** The loop's decisions go to the audit log with the operators' actions (actor `controller`). */
  private async audit(
    tx: Tx,
    action: string,
    target: string,
    detail: Record<string, unknown>,
  ): Promise<void> {
    await tx.auditEvent.create({
      data: { actor: `controller ${this.lease.holder}`, action, target, detail: detail as object },
    })
  }

  /** The rollback of a halted rollout: a new rollout returning its updated hosts to their old kernels. */
  private async createRollback(
    tx: Tx,
    parentId: string,
    updateIds: string[],
  ): Promise<{ rollback: string; hosts: number; cannot: string[] }> {
    const parent = await tx.rollout.findUniqueOrThrow({ where: { id: parentId } })
    const updates = await tx.hostUpdate.findMany({
      where: { id: { in: updateIds } },
      include: { host: true },
    })
    const targets = new Map<string, { kernelId: string; version: string; handoverFormat: number }>()
    for (const u of updates) {
      const k = u.fromKernel ? await this.kernels.latestOfVersion(u.fromKernel, tx) : undefined
      if (k) targets.set(u.hostId, { kernelId: k.id, version: k.version, handoverFormat: k.handoverFormat })
    }
    const hosts = updates.filter((u) => targets.has(u.hostId)).map((u) => u.host)
    // A previous kernel no longer registered (checked at creation; deleted since, or the host's
    // kernel changed before its dispatch) cannot be staged: its hosts are named, not skipped quietly.
    const unknown = updates.filter((u) => !targets.has(u.hostId))
    const cannot = unknown.length
      ? `; cannot roll back ${unknown.map((u) => `${u.host.name} (previous kernel ${u.fromKernel ?? 'unknown'} is not registered)`).join(', ')}`
      : ''
    const id = `ro-${randomUUID()}`
    // With no host to take, still a rollback rollout, done at once: the record of the attempt, and
    // what tells the planner this halt's rollback was started (it is not retried every pass).
    const none = hosts.length === 0
    await tx.rollout.create({
      data: {
        id,
        name: `rollback of ${parent.name}`,
        kernelId: none ? parent.kernelId : targets.get(hosts[0].id)!.kernelId,
        strategy: parent.strategy,
        policy: {
          ...(parent.policy as Record<string, unknown>),
          canary: 0,
          waves: ['100%'],
          onHalt: 'keep',
          selector: { names: hosts.map((h) => h.name) },
        },
        phase: none ? 'COMPLETED' : 'RUNNING',
        ...(none ? { phaseReason: `nothing to roll back${cannot}` } : {}),
        rollbackOf: parentId,
        createdBy: 'controller (onHalt rollback)',
      },
    })
    if (!none)
      await this.rollouts.writePlan(
        tx,
        id,
        [{ index: 0, kind: 'wave', hostIds: hosts.map((h) => h.id) }],
        hosts,
        '',
        1,
        targets,
      )
    await tx.rollout.update({
      where: { id: parentId },
      data: {
        phaseReason: `${parent.phaseReason ?? 'halted'}${none ? '' : `; rolling back ${hosts.length} host(s) in ${id}`}${cannot}`,
      },
    })
    return { rollback: id, hosts: hosts.length, cannot: unknown.map((u) => u.host.name) }
  }

  /** Enqueues the jobs of `ids` (one query for what they carry). */
  private async enqueueUpdates(ids: string[]): Promise<void> {
    if (ids.length === 0) return
    await this.enqueueJobs(
      await sqlQuery<JobRow>(this.db, `SELECT ${JOB_FIELDS} FROM "HostUpdate" WHERE id = ANY($1::text[])`, [
        ids,
      ]),
    )
  }

  /** Enqueues the jobs of these rows (JOB_FIELDS), concurrently. */
  private async enqueueJobs(rows: JobRow[]): Promise<void> {
    // Concurrently: the adds share one Redis connection and do not wait on each other.
    await Promise.all(
      rows.map(async (u) => {
        const k = u.target ?? u.rollout.kernel
        const job: HostUpdateJob = {
          updateId: u.id,
          rolloutId: u.rolloutId,
          hostId: u.hostId,
          attempt: u.attempt,
          epoch: u.epoch,
          strategy: u.rollout.strategy as Strategy,
          kernel: {
            version: k.version,
            image: k.image,
            cmdline: k.cmdline,
            sha256: k.sha256,
            handoverFormat: k.handoverFormat,
            ...(k.initrd ? { initrd: k.initrd } : {}),
          },
          direction: u.rollout.rollbackOf ? 'rollback' : 'forward',
          handoverFormat: u.handoverFormat,
        }
        try {
          await this.queues.enqueueHostUpdate(u.agentId, job)
        } catch (e) {
          this.reenqueueOwed = true
          this.log(`enqueue of update ${u.id} failed (retried next tick): ${(e as Error).message}`)
        }
      }),
    )
  }

  private async reenqueueQueued(): Promise<void> {
    this.reenqueueOwed = false
    const queued = await this.db.hostUpdate.findMany({ where: { state: 'QUEUED' }, select: { id: true } })
    await this.enqueueUpdates(queued.map((u) => u.id))
  }

  private async enqueueOwedVerifications(): Promise<void> {
    const owed = await this.db.hostUpdate.findMany({
      where: { state: 'VERIFYING' },
      select: { id: true, attempt: true },
    })
    for (const u of owed) await this.queues.enqueueVerify({ updateId: u.id, attempt: u.attempt })
  }

  /** A host silent past the deadline is OFFLINE; an update running on it is failed and held. */
  private async expireSilentHosts(epoch: number, now: Date): Promise<void> {
    const cutoff = new Date(now.getTime() - this.opts.heartbeatTimeoutMs)
    // Every timer tick: on the pg pool (@hitless/db sql.ts).
    const silent = await sqlQuery<{ id: string }>(
      this.db,
      `SELECT id FROM "Host" WHERE "lastHeartbeat" < $1::timestamp(3) AND state NOT IN ('OFFLINE', 'FAILED_HELD')`,
      [sqlTime(cutoff)],
    )
    for (const h of silent) {
      await this.fenced(epoch, async (tx) => {
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
        // Holding a host mid-update is a decision a human must follow up: on record, as halts are.
        if (running.count)
          await this.audit(tx, 'host.fail-held', h.id, {
            reason: `silent for more than ${this.opts.heartbeatTimeoutMs} ms during an update`,
            epoch,
          })
      })
    }
  }
}
