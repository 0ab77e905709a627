import type { FastifyError, FastifyInstance } from 'fastify'
import { ERROR_CODES, isHitlessError } from '@hitless/protocol'

/** Every error leaves as `{code, message, details?}` with the status its code maps to. */
export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (isHitlessError(err)) {
      return reply.status(err.httpStatus).send(err.toJSON())
    }
    if (err.validation) {
      const v = err.validation[0]
      const where = `${err.validationContext ?? 'body'}${v?.instancePath || ''}`
      const params = v?.params as Record<string, unknown> | undefined
      const allowed = params?.allowedValues
        ? `: one of ${(params.allowedValues as unknown[]).join(', ')}`
        : ''
      const extra = params?.additionalProperty ? ` (${String(params.additionalProperty)})` : ''
      return reply.status(400).send({
        code: 'HITLESS_E_VALIDATION',
        message: `${where} ${v?.message ?? 'is invalid'}${allowed}${extra}`,
        details: { path: where, rule: v?.keyword },
      })
    }
    if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
      const code =
        err.statusCode === 429
          ? 'HITLESS_E_RATE_LIMITED'
          : err.statusCode === 404
            ? 'HITLESS_E_NOT_FOUND'
            : 'HITLESS_E_VALIDATION'
      return reply.status(err.statusCode).send({ code, message: err.message })
    }
    req.log.error({ err }, 'unhandled error')
    return reply
      .status(ERROR_CODES.HITLESS_E_INTERNAL.http)
      .send({ code: 'HITLESS_E_INTERNAL', message: 'internal error (logged)' })
  })
  app.setNotFoundHandler((req, reply) =>
    reply.status(404).send({ code: 'HITLESS_E_NOT_FOUND', message: `no route ${req.method} ${req.url}` }),
  )
}
