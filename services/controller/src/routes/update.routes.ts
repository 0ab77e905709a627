import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import {
  ErrorBodySchema,
  HostUpdateSchema,
  IdParamsSchema,
  UpdateListQuerySchema,
  VerdictBodySchema,
} from '@hitless/protocol'
import type { ControllerContext } from '../context.js'
import { READ_ERRORS } from './errors.js'

export const updateRoutes =
  (ctx: ControllerContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/updates',
      {
        config: { access: 'viewer' },
        schema: {
          tags: ['updates'],
          summary: 'Host updates, newest first, filtered by rollout, host and state',
          querystring: UpdateListQuerySchema,
          response: { 200: Type.Array(HostUpdateSchema), ...READ_ERRORS },
        },
      },
      async (req) => ctx.updates.list(req.query),
    )
    app.get(
      '/updates/:id',
      {
        config: { access: 'viewer' },
        schema: {
          tags: ['updates'],
          summary: 'One host update: steps with timings, blackout, verdict',
          params: IdParamsSchema,
          response: { 200: HostUpdateSchema, 404: ErrorBodySchema, ...READ_ERRORS },
        },
      },
      async (req) => ctx.updates.get(req.params.id),
    )
    app.get(
      '/updates/:id/verdict',
      {
        config: { access: 'viewer' },
        schema: {
          tags: ['updates'],
          summary: "The verifier's verdict, reasons and bounded diff",
          params: IdParamsSchema,
          response: { 200: VerdictBodySchema, 404: ErrorBodySchema, ...READ_ERRORS },
        },
      },
      async (req) => ctx.updates.verdict(req.params.id),
    )
  }
