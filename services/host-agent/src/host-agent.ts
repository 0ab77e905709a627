import { Worker } from 'bullmq'
import { Redis } from 'ioredis'
import { HostUpdateJobSchema, parseWith } from '@hitless/protocol'
import { ControllerClient } from './api/controller-client.js'
import type { AgentConfig } from './config.js'
import type { HostRuntime } from './runtime/host-runtime.js'
import { type RunOutcome, runUpdateJob } from './update-runner.js'

/**
 * One agent process: enrols its hosts, heartbeats for them, and consumes its own host-update
 * queue (one queue per agent process, whether it runs one host or an emulated fleet).
 */
export class HostAgent {
  readonly client: ControllerClient
  private readonly byId = new Map<string, { host: HostRuntime; token: string }>()
  private worker: Worker | undefined
  private connection: Redis | undefined
  private heartbeat: NodeJS.Timeout | undefined
  readonly outcomes: RunOutcome[] = []

  constructor(
    readonly cfg: AgentConfig,
    readonly hosts: HostRuntime[],
    private readonly log: (m: string) => void = () => {},
  ) {
    this.client = new ControllerClient(cfg.controllerUrl)
  }

  hostById(id: string): HostRuntime | undefined {
    return this.byId.get(id)?.host
  }

  async start(): Promise<void> {
    const enrolled = await this.client.enrol(this.cfg.enrolToken, {
      agentId: this.cfg.agentId,
      hosts: this.hosts.map((h) => ({
        name: h.name,
        hardware: h.hardware,
        kernel: h.kernel(),
        bootId: h.bootId(),
        labels: h.labels,
      })),
    })
    for (const e of enrolled.hosts) {
      const host = this.hosts.find((h) => h.name === e.name)!
      this.byId.set(e.id, { host, token: e.token })
    }
    this.connection = new Redis(this.cfg.redisUrl, { maxRetriesPerRequest: null })
    this.connection.on('error', () => {})
    this.worker = new Worker(
      enrolled.queue,
      async (job, lockToken) => {
        const data = parseWith(HostUpdateJobSchema, job.data, 'job')
        const entry = this.byId.get(data.hostId)
        if (!entry)
          return {
            result: 'abandoned',
            reason: `host ${data.hostId} is not run by agent ${this.cfg.agentId}`,
          }
        const outcome = await runUpdateJob(
          data,
          entry.host,
          entry.token,
          this.client,
          `${this.cfg.agentId}:${lockToken ?? job.id}`,
        )
        this.outcomes.push(outcome)
        this.log(
          `${entry.host.name}: update ${data.updateId} ${outcome.result}${outcome.reason ? ` (${outcome.reason})` : ''}`,
        )
        return outcome
      },
      {
        connection: this.connection,
        prefix: this.cfg.redisPrefix,
        concurrency: this.cfg.concurrency,
        lockDuration: this.cfg.lockMs,
        stalledInterval: this.cfg.stalledIntervalMs,
        maxStalledCount: 1,
      },
    )
    this.worker.on('error', (e) => this.log(`worker: ${e.message}`))
    const beat = async () => {
      for (const [id, { host, token }] of this.byId) {
        await this.client
          .heartbeat(token, id, host.bootId(), host.kernel())
          .catch((e: unknown) => this.log(`heartbeat ${host.name}: ${(e as Error).message}`))
      }
    }
    this.heartbeat = setInterval(() => void beat(), this.cfg.heartbeatMs)
    this.log(`agent ${this.cfg.agentId}: ${this.hosts.length} host(s) enrolled, consuming ${enrolled.queue}`)
  }

  async stop(): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat)
    await this.worker?.close()
    this.connection?.disconnect()
  }

  tokenFor(hostId: string): string | undefined {
    return this.byId.get(hostId)?.token
  }
}
