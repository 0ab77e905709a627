import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import {
  AuditEntrySchema,
  AuditQuerySchema,
  CreatedTokenSchema,
  CreateTokenBodySchema,
  HitlessError,
  IdParamsSchema,
  StatsQuerySchema,
  StatsSchema,
  TokenInfoSchema,
} from '@hitless/protocol'
import type { ControllerContext } from '../context.js'
import { READ_ERRORS, WRITE_ERRORS } from './errors.js'

/** Tokens (admin), the audit log (operator) and dashboard statistics (viewer). */
export const adminRoutes =
  (ctx: ControllerContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.post(
      '/tokens',
      {
        config: { access: 'admin' },
        schema: {
          tags: ['tokens'],
          summary: 'Create an API token for a person or automation (shown once, stored hashed)',
          body: CreateTokenBodySchema,
          response: { 201: CreatedTokenSchema, ...WRITE_ERRORS },
        },
      },
      async (req, reply) => {
        const { id, token } = await ctx.tokens.issueFor(req.principal!.name, req.body.name, req.body.role)
        return reply.status(201).send({ id, name: req.body.name, role: req.body.role, token })
      },
    )
    app.get(
      '/tokens',
      {
        config: { access: 'admin' },
        schema: {
          tags: ['tokens'],
          summary: 'API tokens (never their secrets)',
          response: { 200: Type.Array(TokenInfoSchema), ...READ_ERRORS },
        },
      },
      async () =>
        (await ctx.tokens.list()).map((t) => ({
          ...t,
          role: t.role as 'viewer',
          createdAt: t.createdAt.toISOString(),
          revokedAt: t.revokedAt?.toISOString() ?? null,
        })),
    )
    app.delete(
      '/tokens/:id',
      {
        config: { access: 'admin' },
        schema: {
          tags: ['tokens'],
          summary: 'Revoke a token',
          params: IdParamsSchema,
          response: { 204: Type.Null(), ...WRITE_ERRORS },
        },
      },
      async (req, reply) => {
        if (!(await ctx.tokens.revoke(req.params.id, req.principal!.name)))
          throw new HitlessError('HITLESS_E_NOT_FOUND', `no live token ${req.params.id}`)
        return reply.status(204).send(null)
      },
    )
    app.get(
      '/audit',
      {
        config: { access: 'operator' },
        schema: {
          tags: ['audit'],
          summary:
            'The audit log, newest first: every operator action and every decision of the controller loop',
          querystring: AuditQuerySchema,
          response: { 200: Type.Array(AuditEntrySchema), ...READ_ERRORS },
        },
      },
      async (req) => ctx.audit.list(req.query),
    )
    app.get(
      '/stats',
      {
        config: { access: 'viewer' },
        schema: {
          tags: ['stats'],
          summary: 'Hitless rate over time, by hardware and by strategy (for dashboards)',
          querystring: StatsQuerySchema,
          response: { 200: StatsSchema, ...READ_ERRORS },
        },
      },
      async (req) => {
        const since = req.query.since ? new Date(req.query.since) : new Date(Date.now() - 30 * 86400000)
        return ctx.stats.stats(since, req.query.bucket ?? 'day')
      },
    )
  }
