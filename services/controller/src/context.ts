import type { Db } from '@hitless/db'
import type { ControllerLoop } from './loop/controller-loop.js'
import type { ControllerMetrics } from './metrics.js'
import type { QueueRepository } from './queues/queue.repository.js'
import type { AgentService } from './services/agent.service.js'
import type { AuditService } from './services/audit.service.js'
import type { EventHub } from './services/event-hub.service.js'
import type { HostService } from './services/host.service.js'
import type { KernelService } from './services/kernel.service.js'
import type { LeaseService } from './services/lease.service.js'
import type { RolloutReadCache } from './services/rollout-read-cache.js'
import type { RolloutService } from './services/rollout.service.js'
import type { SessionService } from './services/session.service.js'
import type { StatsService } from './services/stats.service.js'
import type { TokenService } from './services/token.service.js'
import type { UpdateService } from './services/update.service.js'

/** Everything a route may use; built once in app.ts. */
export interface ControllerContext {
  db: Db
  queues: QueueRepository
  lease: LeaseService
  loop: ControllerLoop
  tokens: TokenService
  sessions: SessionService
  hosts: HostService
  kernels: KernelService
  rollouts: RolloutService
  rolloutReads: RolloutReadCache
  updates: UpdateService
  agent: AgentService
  audit: AuditService
  stats: StatsService
  events: EventHub
  metrics: ControllerMetrics
  maxSnapshotBytes: number
}
