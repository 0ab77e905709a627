import { collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'
import type { Db } from '@hitless/db'
import type { QueueRepository } from './queues/queue.repository.js'

/** Blackout buckets in seconds: GCE publishes 50 ms median / 300 ms p99 for live migration. */
const BLACKOUT_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5, 10, 30]

/**
 * Prometheus metrics, named in the style of Argo Rollouts (`rollout_phase`, `rollout_info`, ...)
 * under the `hitless_` prefix. Gauges are refreshed from PostgreSQL at scrape time, so every
 * replica reports the same truth whichever one leads; histograms of blackouts and wave
 * durations are rebuilt from the recent rows for the same reason.
 */
export class ControllerMetrics {
  readonly registry = new Registry()
  private readonly rolloutPhase = new Gauge({
    name: 'hitless_rollout_phase',
    help: 'Rollout phase: 1 for the phase each rollout is in (Argo Rollouts rollout_phase)',
    labelNames: ['rollout', 'name', 'phase'],
    registers: [this.registry],
  })
  private readonly rolloutsByPhase = new Gauge({
    name: 'hitless_rollouts',
    help: 'Rollouts by phase',
    labelNames: ['phase'],
    registers: [this.registry],
  })
  private readonly rolloutHosts = new Gauge({
    name: 'hitless_rollout_info_hosts',
    help: 'Hosts of each active rollout by update state (Argo Rollouts rollout_info_replicas_*)',
    labelNames: ['rollout', 'state'],
    registers: [this.registry],
  })
  private readonly hostUpdates = new Gauge({
    name: 'hitless_host_updates_total',
    help: 'Host updates by result (terminal states) or by state in flight',
    labelNames: ['result'],
    registers: [this.registry],
  })
  private readonly hostsByState = new Gauge({
    name: 'hitless_hosts',
    help: 'Hosts by state',
    labelNames: ['state'],
    registers: [this.registry],
  })
  private readonly verdicts = new Gauge({
    name: 'hitless_verdicts_total',
    help: 'Verdicts by kind',
    labelNames: ['verdict'],
    registers: [this.registry],
  })
  private readonly dmaFaults = new Gauge({
    name: 'hitless_dma_faults_total',
    help: 'DMA faults seen across updates, by hardware model and kind (groundTruth, recorded, lost)',
    labelNames: ['hardware', 'kind'],
    registers: [this.registry],
  })
  private readonly blackout = new Histogram({
    name: 'hitless_host_blackout_seconds',
    help: 'Guest-visible blackout of host updates (most recent 10,000)',
    buckets: BLACKOUT_BUCKETS,
    labelNames: ['strategy'],
    registers: [this.registry],
  })
  private readonly waveDuration = new Histogram({
    name: 'hitless_wave_duration_seconds',
    help: 'Time from a wave start to its last host ending (most recent 1,000 waves)',
    buckets: [10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400],
    registers: [this.registry],
  })
  private readonly queueDepth = new Gauge({
    name: 'hitless_queue_depth',
    help: 'Jobs waiting, active, delayed or prioritised per queue',
    labelNames: ['queue'],
    registers: [this.registry],
  })
  private readonly leader = new Gauge({
    name: 'hitless_controller_leader',
    help: '1 when this replica holds the lease',
    registers: [this.registry],
  })
  private readonly epoch = new Gauge({
    name: 'hitless_controller_lease_epoch',
    help: 'Current controller lease epoch (fencing token)',
    registers: [this.registry],
  })

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'hitless_controller_' })
  }

  /** Called by the loop when a wave ends (kept until the next scrape rebuilds from PostgreSQL). */
  observeWave(seconds: number): void {
    this.waveDuration.observe(seconds)
  }

  /** Refreshes every metric from PostgreSQL and Redis at scrape time (the truth, not counters). */
  async collect(db: Db, queues: QueueRepository, isLeader: boolean): Promise<string> {
    const [rollouts, phases, states, hosts, verdicts, faults, blackouts, waves, active, lease] =
      await Promise.all([
        db.rollout.findMany({
          where: { phase: { in: ['PENDING', 'RUNNING', 'PAUSED', 'HALTED'] } },
          select: { id: true, name: true, phase: true },
        }),
        db.rollout.groupBy({ by: ['phase'], _count: true }),
        db.hostUpdate.groupBy({ by: ['state'], _count: true }),
        db.host.groupBy({ by: ['state'], _count: true }),
        db.verdictRecord.groupBy({ by: ['verdict'], _count: true }),
        db.$queryRaw<{ hardware: string; gt: bigint; rec: bigint; lost: bigint }[]>`
        SELECT h.hardware,
               coalesce(sum((v.faults->>'groundTruth')::bigint), 0) AS gt,
               coalesce(sum((v.faults->>'recorded')::bigint), 0) AS rec,
               coalesce(sum((v.faults->>'lost')::bigint), 0) AS lost
        FROM "VerdictRecord" v JOIN "HostUpdate" u ON u.id = v."updateId" JOIN "Host" h ON h.id = u."hostId"
        WHERE v.faults IS NOT NULL GROUP BY h.hardware`,
        db.$queryRaw<{ strategy: string; ms: number }[]>`
        SELECT r.strategy, u."blackoutMs" AS ms FROM "HostUpdate" u JOIN "Rollout" r ON r.id = u."rolloutId"
        WHERE u."blackoutMs" IS NOT NULL ORDER BY u."finishedAt" DESC NULLS LAST LIMIT 10000`,
        db.wave.findMany({
          where: { finishedAt: { not: null }, startedAt: { not: null } },
          select: { startedAt: true, finishedAt: true },
          orderBy: { finishedAt: 'desc' },
          take: 1000,
        }),
        db.hostUpdate.groupBy({
          by: ['rolloutId', 'state'],
          where: { rollout: { phase: { in: ['PENDING', 'RUNNING', 'PAUSED', 'HALTED'] } } },
          _count: true,
        }),
        db.controllerLease.findUnique({ where: { id: 1 } }),
      ])
    this.rolloutPhase.reset()
    for (const r of rollouts) this.rolloutPhase.set({ rollout: r.id, name: r.name, phase: r.phase }, 1)
    this.rolloutsByPhase.reset()
    for (const p of phases) this.rolloutsByPhase.set({ phase: p.phase }, p._count)
    this.rolloutHosts.reset()
    for (const a of active) this.rolloutHosts.set({ rollout: a.rolloutId, state: a.state }, a._count)
    this.hostUpdates.reset()
    for (const s of states) this.hostUpdates.set({ result: s.state.toLowerCase() }, s._count)
    this.hostsByState.reset()
    for (const h of hosts) this.hostsByState.set({ state: h.state }, h._count)
    this.verdicts.reset()
    for (const v of verdicts) this.verdicts.set({ verdict: v.verdict }, v._count)
    this.dmaFaults.reset()
    for (const f of faults) {
      this.dmaFaults.set({ hardware: f.hardware, kind: 'groundTruth' }, Number(f.gt))
      this.dmaFaults.set({ hardware: f.hardware, kind: 'recorded' }, Number(f.rec))
      this.dmaFaults.set({ hardware: f.hardware, kind: 'lost' }, Number(f.lost))
    }
    this.blackout.reset()
    for (const b of blackouts) this.blackout.observe({ strategy: b.strategy }, b.ms / 1000)
    this.waveDuration.reset()
    for (const w of waves)
      this.waveDuration.observe((w.finishedAt!.getTime() - w.startedAt!.getTime()) / 1000)
    this.queueDepth.reset()
    for (const [q, n] of Object.entries(await queues.depths())) this.queueDepth.set({ queue: q }, n)
    this.leader.set(isLeader ? 1 : 0)
    this.epoch.set(lease?.epoch ?? 0)
    return this.registry.metrics()
  }
}
