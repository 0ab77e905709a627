import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import type { ControllerContext } from '../context.js'

const Readiness = Type.Object({ postgres: Type.Boolean(), redis: Type.Boolean(), leader: Type.Boolean() })

export const healthRoutes =
  (ctx: ControllerContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get('/healthz', { config: { access: 'public' }, schema: { hide: true } }, async () => ({
      status: 'ok',
    }))

    app.get(
      '/readyz',
      {
        config: { access: 'public' },
        schema: {
          tags: ['health'],
          summary: 'Ready when PostgreSQL and Redis answer',
          response: { 200: Readiness, 503: Readiness },
        },
      },
      async (_req, reply) => {
        const postgres = await ctx.db.$queryRaw`SELECT 1`.then(
          () => true,
          () => false,
        )
        const redis = await ctx.queues.ping()
        const body = { postgres, redis, leader: ctx.lease.currentEpoch !== undefined }
        return reply.status(postgres && redis ? 200 : 503).send(body)
      },
    )

    app.get('/metrics', { config: { access: 'public' }, schema: { hide: true } }, async (_req, reply) => {
      const text = await ctx.metrics.collect(ctx.db, ctx.queues, ctx.lease.currentEpoch !== undefined)
      return reply.type('text/plain; version=0.0.4').send(text)
    })
  }
