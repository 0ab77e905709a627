import Type from 'typebox'

const Counts = {
  updates: Type.Integer(),
  hitless: Type.Integer(),
  consistent: Type.Integer(),
  faulted: Type.Integer(),
  diverged: Type.Integer(),
  unverified: Type.Integer(),
  /** hitless / judged updates; null when none was judged. Unverified is never a success. */
  hitlessRate: Type.Union([Type.Number(), Type.Null()]),
}

export const StatsQuerySchema = Type.Object({
  since: Type.Optional(Type.String({ format: 'date-time' })),
  bucket: Type.Optional(Type.Enum(['hour', 'day'])),
})

export const StatsSchema = Type.Object(
  {
    since: Type.String({ format: 'date-time' }),
    bucket: Type.Enum(['hour', 'day']),
    overTime: Type.Array(Type.Object({ at: Type.String(), ...Counts })),
    byHardware: Type.Array(Type.Object({ hardware: Type.String(), ...Counts })),
    byStrategy: Type.Array(Type.Object({ strategy: Type.String(), ...Counts })),
  },
  {
    $id: 'Stats',
    examples: [
      {
        since: '2026-11-01T00:00:00.000Z',
        bucket: 'day',
        overTime: [
          {
            at: '2026-11-24T00:00:00Z',
            updates: 40,
            hitless: 38,
            consistent: 1,
            faulted: 1,
            diverged: 0,
            unverified: 0,
            hitlessRate: 0.95,
          },
        ],
        byHardware: [
          {
            hardware: 'smmuv3-bbml2',
            updates: 20,
            hitless: 20,
            consistent: 0,
            faulted: 0,
            diverged: 0,
            unverified: 0,
            hitlessRate: 1,
          },
        ],
        byStrategy: [
          {
            strategy: 'serialise',
            updates: 40,
            hitless: 38,
            consistent: 1,
            faulted: 1,
            diverged: 0,
            unverified: 0,
            hitlessRate: 0.95,
          },
        ],
      },
    ],
  },
)
export type Stats = Type.Static<typeof StatsSchema>
