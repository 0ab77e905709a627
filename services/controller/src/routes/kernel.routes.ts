import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { ErrorBodySchema, IdParamsSchema, KernelSchema, KernelSpecSchema } from '@hitless/protocol'
import type { ControllerContext } from '../context.js'
import { READ_ERRORS, WRITE_ERRORS } from './errors.js'

export const kernelRoutes =
  (ctx: ControllerContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.post(
      '/kernels',
      {
        config: { access: 'operator' },
        schema: {
          tags: ['kernels'],
          summary: 'Register a target kernel artifact (image, initrd, command line, sha256)',
          description:
            'Agents stage the image and check its sha256 in PREFLIGHT. The id derives from version and sha256: registering the same artifact again returns it (200).',
          body: KernelSpecSchema,
          response: { 201: KernelSchema, 200: KernelSchema, ...WRITE_ERRORS },
        },
      },
      async (req, reply) => {
        const { kernel, created } = await ctx.kernels.registerBy(req.principal!.name, req.body)
        return reply.status(created ? 201 : 200).send(kernel)
      },
    )
    app.get(
      '/kernels',
      {
        config: { access: 'viewer' },
        schema: {
          tags: ['kernels'],
          summary: 'Registered kernels, newest first',
          querystring: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })) }),
          response: { 200: Type.Array(KernelSchema), ...READ_ERRORS },
        },
      },
      async (req) => ctx.kernels.list(req.query.limit),
    )
    app.get(
      '/kernels/:id',
      {
        config: { access: 'viewer' },
        schema: {
          tags: ['kernels'],
          summary: 'One kernel artifact',
          params: IdParamsSchema,
          response: { 200: KernelSchema, 404: ErrorBodySchema, ...READ_ERRORS },
        },
      },
      async (req) => ctx.kernels.get(req.params.id),
    )
  }
