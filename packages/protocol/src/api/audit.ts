import Type from 'typebox'
import { AUDIT_EXAMPLE } from './examples.js'

export const AuditEntrySchema = Type.Object(
  {
    id: Type.String(),
    at: Type.String({ format: 'date-time' }),
    actor: Type.String({ examples: ['ops-alice'] }),
    action: Type.String({ examples: ['rollout.pause'] }),
    target: Type.Union([Type.String(), Type.Null()]),
    detail: Type.Unknown(),
  },
  { $id: 'AuditEntry', examples: [AUDIT_EXAMPLE] },
)
export type AuditEntry = Type.Static<typeof AuditEntrySchema>

export const AuditQuerySchema = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
  /** Page backwards: entries with an id below this one. */
  before: Type.Optional(Type.String({ pattern: '^[0-9]{1,19}$' })),
  actor: Type.Optional(Type.String({ maxLength: 200 })),
  /** Prefix of the action, e.g. `rollout.` */
  action: Type.Optional(Type.String({ maxLength: 100 })),
  target: Type.Optional(Type.String({ maxLength: 200 })),
})
