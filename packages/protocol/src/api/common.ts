import Type from 'typebox'
import { ERROR_EXAMPLE } from './examples.js'

/** Every error response body: `code` is stable (errors/error-codes.ts), `message` is for people. */
export const ErrorBodySchema = Type.Object(
  {
    code: Type.String({ examples: ['HITLESS_E_VALIDATION'] }),
    message: Type.String({
      examples: ['body/strategy must be one of serialise, replay-verify, fresh-switch, naive'],
    }),
    details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  { $id: 'ErrorBody', examples: [ERROR_EXAMPLE] },
)
export type ErrorBody = Type.Static<typeof ErrorBodySchema>

export const IdParamsSchema = Type.Object({ id: Type.String({ minLength: 1, maxLength: 200 }) })

/** Label maps: keys and values as Kubernetes allows them, so selectors read the same. */
export const LabelsSchema = Type.Record(
  Type.String({ pattern: '^[A-Za-z0-9]([-A-Za-z0-9_./]{0,61}[A-Za-z0-9])?$' }),
  Type.String({ maxLength: 63 }),
  { additionalProperties: false },
)
export type Labels = Type.Static<typeof LabelsSchema>
