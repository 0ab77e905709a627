import { createHash } from 'node:crypto'
import rateLimit from '@fastify/rate-limit'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify, { type FastifyInstance } from 'fastify'
import type { Db } from '@hitless/db'
import { ErrorBodySchema, HitlessError } from '@hitless/protocol'
import type { ControllerConfig } from './config.js'
import type { ControllerContext } from './context.js'
import { dashboard } from './dashboard/dashboard.routes.js'
import { ControllerLoop } from './loop/controller-loop.js'
import { ControllerMetrics } from './metrics.js'
import { makeAuthHook } from './plugins/auth.js'
import { installErrorHandler } from './plugins/error-handler.js'
import { QueueRepository } from './queues/queue.repository.js'
import { adminRoutes } from './routes/admin.routes.js'
import { agentRoutes } from './routes/agent.routes.js'
import { eventRoutes } from './routes/events.routes.js'
import { healthRoutes } from './routes/health.routes.js'
import { hostRoutes } from './routes/host.routes.js'
import { kernelRoutes } from './routes/kernel.routes.js'
import { rolloutRoutes } from './routes/rollout.routes.js'
import { sessionRoutes } from './routes/session.routes.js'
import { updateRoutes } from './routes/update.routes.js'
import { AgentService } from './services/agent.service.js'
import { AuditService } from './services/audit.service.js'
import { EventHub } from './services/event-hub.service.js'
import { HostService } from './services/host.service.js'
import { KernelService } from './services/kernel.service.js'
import { LeaseService } from './services/lease.service.js'
import { RolloutReadCache } from './services/rollout-read-cache.js'
import { RolloutService } from './services/rollout.service.js'
import { parseCookies, SESSION_COOKIE, SessionService } from './services/session.service.js'
import { StatsService } from './services/stats.service.js'
import { TokenService } from './services/token.service.js'
import { UpdateService } from './services/update.service.js'

export interface BuiltController {
  app: FastifyInstance
  ctx: ControllerContext
}

/** Rate-limit key: the credential (hashed), else the address. */
function rateKey(req: { headers: Record<string, string | string[] | undefined>; ip: string }): string {
  const auth = req.headers.authorization
  const cookie = parseCookies(req.headers.cookie as string | undefined)[SESSION_COOKIE]
  const cred = typeof auth === 'string' ? auth : cookie
  return cred ? createHash('sha256').update(cred).digest('hex').slice(0, 32) : req.ip
}

/** Builds the controller (HTTP app, services, loop) without listening or starting the loop. */
export async function buildController(
  cfg: ControllerConfig,
  db: Db,
  opts: { logger?: boolean } = {},
): Promise<BuiltController> {
  const queues = new QueueRepository(cfg.redisUrl, cfg.redisPrefix)
  const lease = new LeaseService(db, cfg.leaseMs)
  const tokens = new TokenService(db)
  const kernels = new KernelService(db)
  const rollouts = new RolloutService(db, kernels)
  // CORS is off: no cross-origin header is ever sent, so browsers on other origins cannot read the API.
  const app = Fastify({
    logger: opts.logger ?? false,
    forceCloseConnections: true,
    ajv: { customOptions: { allErrors: false, coerceTypes: 'array', removeAdditional: false } },
  }).withTypeProvider<TypeBoxTypeProvider>()
  const metrics = new ControllerMetrics()
  const loop = new ControllerLoop(
    db,
    queues,
    lease,
    rollouts,
    kernels,
    { intervalMs: cfg.loopIntervalMs, heartbeatTimeoutMs: cfg.heartbeatTimeoutMs },
    (m) => app.log.info(m),
  )
  const ctx: ControllerContext = {
    db,
    queues,
    lease,
    tokens,
    sessions: new SessionService(db, tokens),
    loop,
    hosts: new HostService(db, tokens),
    kernels,
    rollouts,
    rolloutReads: new RolloutReadCache((id) => rollouts.get(id), cfg.readCacheMs),
    updates: new UpdateService(db),
    agent: new AgentService(db, Number(process.env.HITLESS_CLAIM_TAKEOVER_MS ?? 30000)),
    audit: new AuditService(db),
    stats: new StatsService(db),
    events: new EventHub(db),
    metrics,
    maxSnapshotBytes: Number(process.env.HITLESS_MAX_SNAPSHOT_BYTES ?? 2 ** 31),
  }
  installErrorHandler(app)
  app.addSchema(ErrorBodySchema)
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Hitless controller API',
        version: '1',
        description:
          'Roll kernels across a fleet by kexec without a DMA fault. Errors are `{code, message, details?}`; codes are stable. ' +
          'Schema errors are 400 naming the field, semantic errors 422 saying what to change, conflicts 409, a missing or ' +
          'wrong token 401, a role too low 403, too many requests 429. Roles: viewer (read), operator (act on rollouts, ' +
          'hosts, kernels), admin (tokens, agent enrolment). docs/rollout-engine.md has the policy, the planner rules and the RBAC matrix.',
      },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer' },
          session: { type: 'apiKey', in: 'cookie', name: SESSION_COOKIE },
        },
      },
      security: [{ bearer: [] }, { session: [] }],
    },
    // Components named by their schema's $id (Host, Rollout, …), not def-0, def-1: what client
    // generators and readers see.
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) =>
        typeof json.$id === 'string' ? json.$id : `def-${i}`,
    },
  })
  await app.register(swaggerUi, { routePrefix: '/docs' })
  // HITLESS_RATE_LIMIT=0 turns the global limit off; the login limit always holds.
  await app.register(rateLimit, {
    global: cfg.rateLimitPerMinute > 0,
    max: cfg.rateLimitPerMinute || 1,
    timeWindow: 60000,
    keyGenerator: rateKey,
    errorResponseBuilder: (_req, c) =>
      new HitlessError(
        'HITLESS_E_RATE_LIMITED',
        `rate limit of ${c.max} requests per minute reached: retry in ${Math.ceil(c.ttl / 1000)} s`,
      ),
  })
  app.addHook('onRequest', makeAuthHook(tokens, ctx.sessions))
  await app.register(healthRoutes(ctx))
  await app.register(
    async (api) => {
      await api.register(hostRoutes(ctx))
      await api.register(kernelRoutes(ctx))
      await api.register(rolloutRoutes(ctx))
      await api.register(updateRoutes(ctx))
      await api.register(adminRoutes(ctx))
      await api.register(eventRoutes(ctx))
      await api.register(
        sessionRoutes(ctx, { secureCookies: cfg.secureCookies, loginPerMinute: cfg.loginPerMinute }),
      )
      await api.register(agentRoutes(ctx))
    },
    { prefix: '/api/v1' },
  )
  await app.register(
    dashboard(ctx, {
      redisUrl: cfg.redisUrl,
      redisPrefix: cfg.redisPrefix,
      secureCookies: cfg.secureCookies,
      loginPerMinute: cfg.loginPerMinute,
    }),
  )
  app.addHook('onClose', async () => {
    await ctx.loop.stop()
    await queues.close()
  })
  return { app, ctx }
}
