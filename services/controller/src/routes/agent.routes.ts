import type { Readable } from 'node:stream'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import {
  EnrolBodySchema,
  EnrolResponseSchema,
  ErrorBodySchema,
  FinishBodySchema,
  HeartbeatBodySchema,
  HitlessError,
  IdParamsSchema,
  SnapshotParamsSchema,
  StepClaimBodySchema,
  StepClaimResponseSchema,
  StepReportBodySchema,
  StepReportResponseSchema,
} from '@hitless/protocol'
import type { ControllerContext } from '../context.js'

const Errors = {
  400: ErrorBodySchema,
  401: ErrorBodySchema,
  403: ErrorBodySchema,
  404: ErrorBodySchema,
  409: ErrorBodySchema,
}

/** The host agents' API: the only way a step or a result becomes true (agents never touch PostgreSQL). */
export const agentRoutes =
  (ctx: ControllerContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    /** After an attempt ended (finish, or a step report carrying it). */
    const finished = async (updateId: string, attempt: number, verifying: boolean) => {
      if (verifying) await ctx.queues.enqueueVerify({ updateId, attempt })
      // A verifying host still holds its slot: the verdict's job completion wakes the loop then.
      // An attempt that ended failed frees it (and counts against the budget): plan now.
      else ctx.loop.kick()
    }

    // Snapshots arrive as a raw stream and are compressed as they come, never buffered whole.
    app.addContentTypeParser('application/octet-stream', (_req, payload, done) => done(null, payload))

    app.post(
      '/agent/enrol',
      {
        config: { access: 'admin' },
        schema: {
          tags: ['agent'],
          summary: 'Enrol the hosts an agent runs; returns one token per host (shown once)',
          body: EnrolBodySchema,
          response: { 200: EnrolResponseSchema, ...Errors },
        },
      },
      async (req) => {
        const res = await ctx.hosts.enrol(req.body)
        await ctx.audit.record(req.principal!.name, 'agent.enrol', req.body.agentId, {
          hosts: req.body.hosts.length,
        })
        return res
      },
    )

    app.post(
      '/agent/hosts/:id/heartbeat',
      {
        config: { access: 'agent' },
        schema: {
          tags: ['agent'],
          summary: 'Heartbeat with boot ID and kernel',
          params: IdParamsSchema,
          body: HeartbeatBodySchema,
          response: { 204: Type.Null(), ...Errors },
        },
      },
      async (req, reply) => {
        if (req.principal!.hostId !== req.params.id)
          throw new HitlessError('HITLESS_E_FORBIDDEN', `this token does not act for host ${req.params.id}`)
        await ctx.hosts.heartbeat(req.params.id, req.body.bootId, req.body.kernel)
        return reply.status(204).send(null)
      },
    )

    app.post(
      '/agent/updates/:id/claim',
      {
        config: { access: 'agent' },
        schema: {
          tags: ['agent'],
          summary: 'Claim a step before running it; `skip` when the journal says it is done',
          params: IdParamsSchema,
          body: StepClaimBodySchema,
          response: { 200: StepClaimResponseSchema, ...Errors },
        },
      },
      async (req) => ctx.agent.claimStep(req.principal!, req.params.id, req.body),
    )

    app.post(
      '/agent/updates/:id/steps',
      {
        config: { access: 'agent' },
        schema: {
          tags: ['agent'],
          summary:
            'Journal the end of a step; with `next`, also claim the next step in the same transaction (200 with the claim, or `refused`); with `finish`, also end the attempt (200 with `verifying`)',
          params: IdParamsSchema,
          body: StepReportBodySchema,
          response: { 200: StepReportResponseSchema, 204: Type.Null(), ...Errors },
        },
      },
      async (req, reply) => {
        const res = await ctx.agent.reportStep(req.principal!, req.params.id, req.body)
        if (res?.verifying !== undefined) await finished(req.params.id, req.body.attempt, res.verifying)
        return res ? res : reply.status(204).send(null)
      },
    )

    app.post(
      '/agent/updates/:id/finish',
      {
        config: { access: 'agent' },
        schema: {
          tags: ['agent'],
          summary: 'End an attempt: completed (then verified), failed (old state kept live) or failed-held',
          params: IdParamsSchema,
          body: FinishBodySchema,
          response: { 200: Type.Object({ verifying: Type.Boolean() }), ...Errors },
        },
      },
      async (req) => {
        const verifying = await ctx.agent.finish(req.principal!, req.params.id, req.body)
        await finished(req.params.id, req.body.attempt, verifying)
        return { verifying }
      },
    )

    app.put(
      '/agent/updates/:id/snapshots/:phase',
      {
        config: { access: 'agent' },
        schema: {
          tags: ['agent'],
          summary: 'Upload a snapshot (application/octet-stream, streamed)',
          params: SnapshotParamsSchema,
          headers: Type.Object({ 'x-snapshot-format': Type.Optional(Type.String({ maxLength: 100 })) }),
          response: {
            201: Type.Object({
              id: Type.String(),
              sizeBytes: Type.Integer(),
              storedBytes: Type.Integer(),
              digest: Type.String(),
            }),
            ...Errors,
          },
        },
      },
      async (req, reply) => {
        if (!req.headers['content-type']?.startsWith('application/octet-stream')) {
          throw new HitlessError('HITLESS_E_VALIDATION', 'snapshots are uploaded as application/octet-stream')
        }
        const format = req.headers['x-snapshot-format'] ?? 'hitless-snapshot/v1'
        const stored = await ctx.agent.storeSnapshot(
          req.principal!,
          req.params.id,
          req.params.phase,
          format,
          req.body as Readable,
          ctx.maxSnapshotBytes,
        )
        return reply.status(201).send(stored)
      },
    )
  }
