import { Worker } from 'bullmq'
import { Redis } from 'ioredis'
import { HostUpdateJobSchema, parseWith } from '@hitless/protocol'
import { ControllerClient } from './api/controller-client.js'
import type { AgentConfig } from './config.js'
import type { HostRuntime } from './runtime/host-runtime.js'
import { type RunOutcome, runUpdateJob } from './update-runner.js'

/** Hosts enrolled per call. */
const ENROL_CHUNK = 100

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
    // In chunks: a large emulated fleet's enrolment is one call per chunk, each well inside the
    // client's timeout even on a loaded machine (enrolling a host takes a few transactions).
    const byName = new Map(this.hosts.map((h) => [h.name, h]))
    let queue = ''
    for (let i = 0; i < this.hosts.length; i += ENROL_CHUNK) {
      const enrolled = await this.client.enrol(this.cfg.enrolToken, {
        agentId: this.cfg.agentId,
        hosts: this.hosts.slice(i, i + ENROL_CHUNK).map((h) => ({
          name: h.name,
          hardware: h.hardware,
          kernel: h.kernel(),
          bootId: h.bootId(),
          labels: h.labels,
        })),
      })
      queue = enrolled.queue
      for (const e of enrolled.hosts) this.byId.set(e.id, { host: byName.get(e.name)!, token: e.token })
    }
    this.connection = new Redis(this.cfg.redisUrl, { maxRetriesPerRequest: null })
    this.connection.on('error', () => {})
    this.worker = new Worker(
      queue,
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
    this.log(`agent ${this.cfg.agentId}: ${this.hosts.length} host(s) enrolled, consuming ${queue}`)
  }

  async stop(): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat)
    await this.worker?.close()
    this.connection?.disconnect()
    this.client.close()
  }

  tokenFor(hostId: string): string | undefined {
    return this.byId.get(hostId)?.token
  }
}
