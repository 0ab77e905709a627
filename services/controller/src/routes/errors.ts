import { ErrorBodySchema } from '@hitless/protocol'

/** Error responses every authenticated route may give (documented in the OpenAPI description). */
export const AUTH_ERRORS = { 401: ErrorBodySchema, 403: ErrorBodySchema, 429: ErrorBodySchema } as const
export const READ_ERRORS = { 400: ErrorBodySchema, ...AUTH_ERRORS } as const
export const WRITE_ERRORS = {
  400: ErrorBodySchema,
  ...AUTH_ERRORS,
  404: ErrorBodySchema,
  409: ErrorBodySchema,
  422: ErrorBodySchema,
} as const
