/**
 * The one table of error codes. Each code maps once to an HTTP status and a CLI exit code;
 * codes are stable: clients and scripts match on them, so never rename one.
 */
export const ERROR_CODES = {
  HITLESS_E_VALIDATION: { http: 400, exit: 2 },
  HITLESS_E_UNAUTHENTICATED: { http: 401, exit: 4 },
  HITLESS_E_FORBIDDEN: { http: 403, exit: 4 },
  HITLESS_E_NOT_FOUND: { http: 404, exit: 5 },
  HITLESS_E_CONFLICT: { http: 409, exit: 6 },
  HITLESS_E_STALE_CLAIM: { http: 409, exit: 6 },
  HITLESS_E_UNPROCESSABLE: { http: 422, exit: 2 },
  HITLESS_E_RATE_LIMITED: { http: 429, exit: 7 },
  HITLESS_E_UNAVAILABLE: { http: 503, exit: 3 },
  HITLESS_E_CONFIG: { http: 500, exit: 3 },
  HITLESS_E_INTERNAL: { http: 500, exit: 1 },
  HITLESS_E_HANDOVER: { http: 422, exit: 8 },
  HITLESS_E_NOT_HITLESS: { http: 422, exit: 9 },
} as const satisfies Record<string, { http: number; exit: number }>

export type ErrorCode = keyof typeof ERROR_CODES

/** CLI exit codes, documented once (README "Exit codes"). */
export const EXIT_CODES = {
  ok: 0,
  internal: 1,
  usage: 2,
  unreachable: 3,
  auth: 4,
  notFound: 5,
  conflict: 6,
  rateLimited: 7,
  handover: 8,
  notHitless: 9,
} as const
