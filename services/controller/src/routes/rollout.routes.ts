import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { CreateRolloutBodySchema, ErrorBodySchema, IdParamsSchema, RolloutSchema } from '@hitless/protocol'
import type { ControllerContext } from '../context.js'

const DryRunSchema = Type.Object({
  dryRun: Type.Literal(true),
  hosts: Type.Array(Type.String()),
  waves: Type.Array(Type.Object({ index: Type.Integer(), hosts: Type.Array(Type.String()) })),
})

export const rolloutRoutes =
  (ctx: ControllerContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.post(
      '/rollouts',
      {
        config: { access: 'operator' },
        schema: {
          tags: ['rollouts'],
          summary: 'Start a rolling kernel update (or preview it with dryRun)',
          description:
            'Selects hosts by labels and/or names; each selected host must be READY and in no other active rollout. ' +
            'Send an Idempotency-Key header to make retries of the same create safe.',
          headers: Type.Object({
            'idempotency-key': Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
          }),
          body: CreateRolloutBodySchema,
          response: {
            201: RolloutSchema,
            200: DryRunSchema,
            400: ErrorBodySchema,
            401: ErrorBodySchema,
            403: ErrorBodySchema,
            409: ErrorBodySchema,
            422: ErrorBodySchema,
          },
        },
      },
      async (req, reply) => {
        const result = await ctx.rollouts.create(
          req.body,
          req.principal!.name,
          req.headers['idempotency-key'],
        )
        if ('dryRun' in result) return reply.status(200).send(result)
        await ctx.audit.record(req.principal!.name, 'rollout.create', result.id, {
          kernel: req.body.kernel.version,
          hosts: result.summary.hosts,
        })
        // Dispatch now rather than at the next tick; harmless if this replica does not lead.
        void ctx.loop.tick().catch(() => {})
        return reply.status(201).send(result)
      },
    )

    app.get(
      '/rollouts',
      {
        config: { access: 'viewer' },
        schema: {
          tags: ['rollouts'],
          summary: 'Recent rollouts, newest first',
          querystring: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })) }),
          response: { 200: Type.Array(RolloutSchema) },
        },
      },
      async (req) => ctx.rollouts.list(req.query.limit),
    )

    app.get(
      '/rollouts/:id',
      {
        config: { access: 'viewer' },
        schema: {
          tags: ['rollouts'],
          summary: "A rollout with every host's step history and verdict",
          params: IdParamsSchema,
          response: { 200: RolloutSchema, 404: ErrorBodySchema },
        },
      },
      async (req) => ctx.rollouts.get(req.params.id),
    )
  }
