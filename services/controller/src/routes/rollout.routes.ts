import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import {
  CreateRolloutBodySchema,
  ErrorBodySchema,
  IdParamsSchema,
  RolloutActionBodySchema,
  RolloutDryRunSchema,
  RolloutListQuerySchema,
  RolloutSchema,
} from '@hitless/protocol'
import type { ControllerContext } from '../context.js'
import { READ_ERRORS, WRITE_ERRORS } from './errors.js'

export const rolloutRoutes =
  (ctx: ControllerContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.post(
      '/rollouts',
      {
        config: { access: 'operator' },
        schema: {
          tags: ['rollouts'],
          summary: 'Start a rolling kernel update (or preview its wave plan with dryRun)',
          description:
            'Selects hosts by labels and/or names; each selected host must be READY and in no other active rollout (409). ' +
            'The policy (canary, waves, maxConcurrent, spreadBy, errorBudget, bakeSeconds, windows, blackoutSloMs, ' +
            'onUnverified, onConsistent, returnDeadlineSeconds, onHalt) is optional; docs/rollout-engine.md gives the defaults. ' +
            'Semantic errors (a selector matching no host, waves not covering the selection, a percentage over 100, a window ' +
            'that never opens, an unknown kernel id) are 422 naming the field. Send an Idempotency-Key header to make retries ' +
            'of the same create safe: the same key and body return the first rollout (200); another body is 409.',
          headers: Type.Object({
            'idempotency-key': Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
          }),
          body: CreateRolloutBodySchema,
          response: {
            201: RolloutSchema,
            200: Type.Union([RolloutDryRunSchema, RolloutSchema]),
            ...WRITE_ERRORS,
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
        if (!result.created) return reply.status(200).send(result.rollout)
        // Plan now rather than at the next tick; harmless if this replica does not lead.
        ctx.loop.kick()
        return reply.status(201).send(result.rollout)
      },
    )

    app.get(
      '/rollouts',
      {
        config: { access: 'viewer' },
        schema: {
          tags: ['rollouts'],
          summary: 'Recent rollouts, newest first',
          querystring: RolloutListQuerySchema,
          response: { 200: Type.Array(RolloutSchema), ...READ_ERRORS },
        },
      },
      async (req) => ctx.rollouts.list(req.query),
    )

    app.get(
      '/rollouts/:id',
      {
        config: { access: 'viewer' },
        schema: {
          tags: ['rollouts'],
          summary: "A rollout: phase and why, policy, waves, every host's steps and verdict",
          params: IdParamsSchema,
          response: { 200: RolloutSchema, 404: ErrorBodySchema, ...READ_ERRORS },
        },
      },
      // Already serialised (and validated against RolloutSchema when it was built).
      async (req, reply) =>
        reply
          .type('application/json; charset=utf-8')
          .send((await ctx.rolloutReads.get(req.params.id)) as never),
    )

    const actions = [
      [
        'pause',
        'Stop starting hosts (hosts in flight finish)',
        (id: string, a: string, r?: string) => ctx.rollouts.pause(id, a, r),
      ],
      [
        'resume',
        'Go on after a pause or a halt; acknowledges the verdict gates of hosts ended so far',
        (id: string, a: string, r?: string) => ctx.rollouts.resume(id, a, r),
      ],
      [
        'abort',
        'End the rollout: hosts not started are cancelled, hosts in flight finish',
        (id: string, a: string, r?: string) => ctx.rollouts.abort(id, a, r),
      ],
    ] as const
    for (const [verb, summary, fn] of actions) {
      app.post(
        `/rollouts/:id/${verb}`,
        {
          config: { access: 'operator' },
          // The body is optional: no body is an empty one.
          preValidation: async (req) => {
            if (req.body === undefined || req.body === null) req.body = {}
          },
          schema: {
            tags: ['rollouts'],
            summary,
            params: IdParamsSchema,
            body: RolloutActionBodySchema,
            response: { 200: RolloutSchema, ...WRITE_ERRORS },
          },
        },
        async (req) => {
          const r = await fn(req.params.id, req.principal!.name, req.body.reason)
          ctx.rolloutReads.invalidate(r.id)
          ctx.loop.kick()
          return r
        },
      )
    }

    app.post(
      '/rollouts/:id/hosts/:host/retry',
      {
        config: { access: 'operator' },
        schema: {
          tags: ['rollouts'],
          summary: 'Give one host a new attempt (failed, held, needing review or cancelled)',
          description:
            'The update becomes PENDING with attempt + 1: jobs and claims of the old attempt are refused from then on. A held host is released (you inspected it).',
          params: Type.Object({
            id: Type.String({ minLength: 1, maxLength: 200 }),
            host: Type.String({ minLength: 1, maxLength: 200 }),
          }),
          response: { 200: RolloutSchema, ...WRITE_ERRORS },
        },
      },
      async (req) => {
        const { rollout } = await ctx.rollouts.retry(req.params.id, req.params.host, req.principal!.name)
        ctx.rolloutReads.invalidate(rollout.id)
        ctx.loop.kick()
        return rollout
      },
    )
  }
