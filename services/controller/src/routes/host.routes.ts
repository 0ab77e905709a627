import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { ErrorBodySchema, HostListQuerySchema, HostSchema, IdParamsSchema } from '@hitless/protocol'
import type { ControllerContext } from '../context.js'
import { parseSelector } from '../services/label-selector.js'

export const hostRoutes =
  (ctx: ControllerContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/hosts',
      {
        config: { access: 'viewer' },
        schema: {
          tags: ['hosts'],
          summary: 'List hosts, filtered by state and label selector',
          querystring: HostListQuerySchema,
          response: { 200: Type.Array(HostSchema), 400: ErrorBodySchema },
        },
      },
      async (req) => ctx.hosts.list({ state: req.query.state, labels: parseSelector(req.query.selector) }),
    )

    app.get(
      '/hosts/:id',
      {
        config: { access: 'viewer' },
        schema: {
          tags: ['hosts'],
          summary: 'One host, by id or name',
          params: IdParamsSchema,
          response: { 200: HostSchema, 404: ErrorBodySchema },
        },
      },
      async (req) => ctx.hosts.get(req.params.id),
    )

    for (const [verb, cordoned] of [
      ['cordon', true],
      ['uncordon', false],
    ] as const) {
      app.post(
        `/hosts/:id/${verb}`,
        {
          config: { access: 'operator' },
          schema: {
            tags: ['hosts'],
            summary: cordoned ? 'Keep a host out of new rollouts' : 'Let a cordoned host into rollouts again',
            params: IdParamsSchema,
            response: { 200: HostSchema, 404: ErrorBodySchema },
          },
        },
        async (req) => {
          const h = await ctx.hosts.setCordoned(req.params.id, cordoned)
          await ctx.audit.record(req.principal!.name, `host.${verb}`, h.id)
          return h
        },
      )
    }
  }
