import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import {
  ErrorBodySchema,
  HostDetailSchema,
  HostListQuerySchema,
  HostSchema,
  IdParamsSchema,
} from '@hitless/protocol'
import type { ControllerContext } from '../context.js'
import { parseSelector } from '../services/label-selector.js'
import { READ_ERRORS, WRITE_ERRORS } from './errors.js'

export const hostRoutes =
  (ctx: ControllerContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/hosts',
      {
        config: { access: 'viewer' },
        schema: {
          tags: ['hosts'],
          summary: 'List hosts, filtered by state and label selector (`?selector=rack=r1,zone=z2`)',
          querystring: HostListQuerySchema,
          response: { 200: Type.Array(HostSchema), ...READ_ERRORS },
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
          summary: 'One host, by id or name, with its update history (newest first)',
          params: IdParamsSchema,
          response: { 200: HostDetailSchema, 404: ErrorBodySchema, ...READ_ERRORS },
        },
      },
      async (req) => ctx.hosts.detail(req.params.id),
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
            summary: cordoned
              ? 'Keep a host out of new rollouts and waves'
              : 'Let a cordoned host into rollouts again',
            description: cordoned
              ? 'Only a READY host with no update queued, running or verifying can be cordoned (an already cordoned one answers 200 unchanged); otherwise 409, saying when to retry (once the update ends, or after aborting its rollout).'
              : 'Only a CORDONED host can be uncordoned (a READY one answers 200 unchanged); any other state is a 409.',
            params: IdParamsSchema,
            response: { 200: HostSchema, ...WRITE_ERRORS },
          },
        },
        async (req) => {
          return ctx.hosts.setCordoned(req.params.id, cordoned, req.principal!.name)
        },
      )
    }
  }
