import Type from 'typebox'

/**
 * A host count, or a percentage of the hosts a rollout selected (`"25%"`). Percentages over 100
 * pass the schema and are refused as semantic errors (422) that say what to change.
 */
export const CountOrPercentSchema = Type.Union(
  [Type.Integer({ minimum: 0, maximum: 1000000 }), Type.String({ pattern: '^[0-9]{1,6}(\\.[0-9]{1,3})?%$' })],
  { examples: [5, '10%'] },
)
export type CountOrPercent = Type.Static<typeof CountOrPercentSchema>

/** What a verdict that is not `hitless` does to the rollout. */
export const VERDICT_ACTIONS = ['pause', 'continue', 'fail'] as const
export type VerdictAction = (typeof VERDICT_ACTIONS)[number]

/** What a halt does to hosts the rollout already updated. */
export const HALT_ACTIONS = ['keep', 'rollback'] as const
export type HaltAction = (typeof HALT_ACTIONS)[number]

/**
 * A maintenance window: it opens at each time the 5-field cron expression matches (minute hour
 * day-of-month month day-of-week, in `timeZone`) and stays open `durationMinutes`. No new host
 * starts in the last `cutoffMinutes` of a window; hosts already started finish.
 */
export const MaintenanceWindowSchema = Type.Object({
  cron: Type.String({ minLength: 9, maxLength: 200, examples: ['0 22 * * 1-5'] }),
  timeZone: Type.Optional(Type.String({ minLength: 1, maxLength: 64, examples: ['Europe/Paris'] })),
  durationMinutes: Type.Integer({ minimum: 1, maximum: 7 * 24 * 60 }),
  cutoffMinutes: Type.Optional(Type.Integer({ minimum: 0, maximum: 7 * 24 * 60 })),
})
export type MaintenanceWindow = Type.Static<typeof MaintenanceWindowSchema>

/**
 * How a rollout proceeds. Every field is optional; docs/rollout-engine.md lists the defaults
 * (`DEFAULT_POLICY` in services/controller/src/planner/policy.ts) and the planner's rules.
 */
export const RolloutPolicySchema = Type.Object(
  {
    /** Hosts updated first, alone, before any wave (0: no canary). Default 1. */
    canary: Type.Optional(Type.Integer({ minimum: 0, maximum: 100000 })),
    /**
     * Sizes of the waves after the canary, each a count or a percentage of the selection; they
     * must cover the selection (end with `"100%"` for "the rest"). Default `["100%"]`.
     */
    waves: Type.Optional(Type.Array(CountOrPercentSchema, { minItems: 1, maxItems: 100 })),
    /** Hosts updating at once across the rollout (count or %, at least 1). Default `"10%"`. */
    maxConcurrent: Type.Optional(CountOrPercentSchema),
    /** Failure-domain label: at most `maxPerDomain` hosts with one value of it update at once. */
    spreadBy: Type.Optional(Type.String({ minLength: 1, maxLength: 63 })),
    /** Hosts per failure domain at once when `spreadBy` is set. Default 1. */
    maxPerDomain: Type.Optional(Type.Integer({ minimum: 1, maximum: 100000 })),
    /** Failed hosts tolerated (count or %); one more halts the rollout. Default 0. */
    errorBudget: Type.Optional(CountOrPercentSchema),
    /** Seconds to wait after a wave ends before the next starts. Default 0. */
    bakeSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 7 * 24 * 3600 })),
    /** New hosts start only inside one of these windows. Default: always open. */
    windows: Type.Optional(Type.Array(MaintenanceWindowSchema, { maxItems: 20 })),
    /** Guest-visible blackout a host may take; past it the update counts as failed. Default 1000. */
    blackoutSloMs: Type.Optional(Type.Number({ minimum: 0, maximum: 3600000 })),
    /** An `unverified` verdict (data missing): pause for a human, continue, or fail. Default pause. */
    onUnverified: Type.Optional(Type.Enum(VERDICT_ACTIONS)),
    /** A `consistent` verdict (continuity not observable): pause, continue or fail. Default pause. */
    onConsistent: Type.Optional(Type.Enum(VERDICT_ACTIONS)),
    /** Seconds a host has to come back after KEXEC; past it the update is failed and held. Default 600. */
    returnDeadlineSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 24 * 3600 })),
    /** After a halt: keep updated hosts on the new kernel, or roll them back live. Default keep. */
    onHalt: Type.Optional(Type.Enum(HALT_ACTIONS)),
  },
  { additionalProperties: false },
)
export type RolloutPolicy = Type.Static<typeof RolloutPolicySchema>

/** The policy with every default filled in, as stored in Rollout.policy and returned by the API. */
export const ResolvedPolicySchema = Type.Object({
  canary: Type.Integer(),
  waves: Type.Array(CountOrPercentSchema),
  maxConcurrent: CountOrPercentSchema,
  spreadBy: Type.Union([Type.String(), Type.Null()]),
  maxPerDomain: Type.Integer(),
  errorBudget: CountOrPercentSchema,
  bakeSeconds: Type.Integer(),
  windows: Type.Array(MaintenanceWindowSchema),
  blackoutSloMs: Type.Number(),
  onUnverified: Type.Enum(VERDICT_ACTIONS),
  onConsistent: Type.Enum(VERDICT_ACTIONS),
  returnDeadlineSeconds: Type.Integer(),
  onHalt: Type.Enum(HALT_ACTIONS),
})
export type ResolvedPolicy = Type.Static<typeof ResolvedPolicySchema>
