import Type from 'typebox'
import { SESSION_EXAMPLE, TOKEN_INFO_EXAMPLE } from './examples.js'

export const ROLES = ['viewer', 'operator', 'admin'] as const
export type OperatorRole = (typeof ROLES)[number]

/** Dashboard login: an API token in, an HttpOnly session cookie and a CSRF token out. */
export const SessionLoginBodySchema = Type.Object({ token: Type.String({ minLength: 1, maxLength: 500 }) })

export const SessionSchema = Type.Object(
  {
    name: Type.String(),
    role: Type.Enum(ROLES),
    /** Send it in the X-CSRF-Token header of every state-changing request made with the cookie. */
    csrfToken: Type.String(),
    expiresAt: Type.String({ format: 'date-time' }),
  },
  { $id: 'Session', examples: [SESSION_EXAMPLE] },
)

export const CreateTokenBodySchema = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 200, examples: ['ops-alice'] }),
  role: Type.Enum(ROLES),
})
export type CreateTokenBody = Type.Static<typeof CreateTokenBodySchema>

export const TokenInfoSchema = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    role: Type.Enum(ROLES),
    createdAt: Type.String({ format: 'date-time' }),
    revokedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  },
  { $id: 'TokenInfo', examples: [TOKEN_INFO_EXAMPLE] },
)

/** A new token: the secret is shown once; only its SHA-256 is stored. */
export const CreatedTokenSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  role: Type.Enum(ROLES),
  token: Type.String(),
})
