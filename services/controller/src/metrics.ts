import { collectDefaultMetrics, Gauge, Registry } from 'prom-client'
import type { Db } from '@hitless/db'
import type { QueueRepository } from './queues/queue.repository.js'

/** Prometheus metrics, named in the style of Argo Rollouts (`hitless_rollout_info`, ...). */
export class ControllerMetrics {
  readonly registry = new Registry()
  private readonly rolloutPhase = new Gauge({
    name: 'hitless_rollout_phase',
    help: 'Rollouts by phase',
    labelNames: ['phase'],
    registers: [this.registry],
  })
  private readonly hostUpdates = new Gauge({
    name: 'hitless_host_updates',
    help: 'Host updates by state',
    labelNames: ['state'],
    registers: [this.registry],
  })
  private readonly hostsByState = new Gauge({
    name: 'hitless_hosts',
    help: 'Hosts by state',
    labelNames: ['state'],
    registers: [this.registry],
  })
  private readonly verdicts = new Gauge({
    name: 'hitless_verdicts',
    help: 'Verdicts by kind',
    labelNames: ['verdict'],
    registers: [this.registry],
  })
  private readonly queueDepth = new Gauge({
    name: 'hitless_queue_depth',
    help: 'Jobs waiting or active per queue',
    labelNames: ['queue'],
    registers: [this.registry],
  })
  private readonly leader = new Gauge({
    name: 'hitless_controller_leader',
    help: '1 when this replica holds the lease',
    registers: [this.registry],
  })

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'hitless_controller_' })
  }

  /** Refreshes the gauges from PostgreSQL and Redis at scrape time (the truth, not counters). */
  async collect(db: Db, queues: QueueRepository, isLeader: boolean): Promise<string> {
    const [phases, states, hosts, verdicts] = await Promise.all([
      db.rollout.groupBy({ by: ['phase'], _count: true }),
      db.hostUpdate.groupBy({ by: ['state'], _count: true }),
      db.host.groupBy({ by: ['state'], _count: true }),
      db.verdictRecord.groupBy({ by: ['verdict'], _count: true }),
    ])
    this.rolloutPhase.reset()
    for (const p of phases) this.rolloutPhase.set({ phase: p.phase }, p._count)
    this.hostUpdates.reset()
    for (const s of states) this.hostUpdates.set({ state: s.state }, s._count)
    this.hostsByState.reset()
    for (const h of hosts) this.hostsByState.set({ state: h.state }, h._count)
    this.verdicts.reset()
    for (const v of verdicts) this.verdicts.set({ verdict: v.verdict }, v._count)
    this.queueDepth.reset()
    for (const [q, n] of Object.entries(await queues.depths())) this.queueDepth.set({ queue: q }, n)
    this.leader.set(isLeader ? 1 : 0)
    return this.registry.metrics()
  }
}
