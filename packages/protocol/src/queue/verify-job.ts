import Type from 'typebox'

/** Payload of a verification job: the update's id; snapshots are read from PostgreSQL by id. */
export const VerifyJobSchema = Type.Object({
  updateId: Type.String(),
  attempt: Type.Integer({ minimum: 1 }),
})
export type VerifyJob = Type.Static<typeof VerifyJobSchema>
