import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify, { type FastifyInstance } from 'fastify'
import type { Db } from '@hitless/db'
import { ErrorBodySchema } from '@hitless/protocol'
import type { ControllerConfig } from './config.js'
import type { ControllerContext } from './context.js'
import { ControllerLoop } from './loop/controller-loop.js'
import { ControllerMetrics } from './metrics.js'
import { makeAuthHook } from './plugins/auth.js'
import { installErrorHandler } from './plugins/error-handler.js'
import { QueueRepository } from './queues/queue.repository.js'
import { agentRoutes } from './routes/agent.routes.js'
import { healthRoutes } from './routes/health.routes.js'
import { hostRoutes } from './routes/host.routes.js'
import { rolloutRoutes } from './routes/rollout.routes.js'
import { updateRoutes } from './routes/update.routes.js'
import { AgentService } from './services/agent.service.js'
import { AuditService } from './services/audit.service.js'
import { HostService } from './services/host.service.js'
import { LeaseService } from './services/lease.service.js'
import { RolloutService } from './services/rollout.service.js'
import { TokenService } from './services/token.service.js'
import { UpdateService } from './services/update.service.js'

export interface BuiltController {
  app: FastifyInstance
  ctx: ControllerContext
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
  const app = Fastify({
    logger: opts.logger ?? false,
    ajv: { customOptions: { allErrors: false, coerceTypes: 'array', removeAdditional: false } },
  }).withTypeProvider<TypeBoxTypeProvider>()
  const ctx: ControllerContext = {
    db,
    queues,
    lease,
    tokens,
    loop: new ControllerLoop(
      db,
      queues,
      lease,
      { intervalMs: cfg.loopIntervalMs, heartbeatTimeoutMs: cfg.heartbeatTimeoutMs },
      (m) => app.log.info(m),
    ),
    hosts: new HostService(db, tokens),
    rollouts: new RolloutService(db),
    updates: new UpdateService(db),
    agent: new AgentService(db, Number(process.env.HITLESS_CLAIM_TAKEOVER_MS ?? 30000)),
    audit: new AuditService(db),
    metrics: new ControllerMetrics(),
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
          'Roll kernels across a fleet by kexec without a DMA fault. Errors are `{code, message, details?}`; codes are stable.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  })
  await app.register(swaggerUi, { routePrefix: '/docs' })
  app.addHook('onRequest', makeAuthHook(tokens))
  await app.register(healthRoutes(ctx))
  await app.register(
    async (api) => {
      await api.register(hostRoutes(ctx))
      await api.register(rolloutRoutes(ctx))
      await api.register(updateRoutes(ctx))
      await api.register(agentRoutes(ctx))
    },
    { prefix: '/api/v1' },
  )
  app.addHook('onClose', async () => {
    await ctx.loop.stop()
    await queues.close()
  })
  return { app, ctx }
}
