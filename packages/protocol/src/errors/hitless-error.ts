import { ERROR_CODES, type ErrorCode } from './error-codes.js'

/**
 * The one error type of Hitless. `code` is stable; `details` carries machine-readable context
 * (which field, which check) so that a client can act without parsing the message.
 */
export class HitlessError extends Error {
  override readonly name = 'HitlessError'
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }

  get httpStatus(): number {
    return ERROR_CODES[this.code].http
  }

  get exitCode(): number {
    return ERROR_CODES[this.code].exit
  }

  toJSON(): { code: ErrorCode; message: string; details?: Record<string, unknown> } {
    return { code: this.code, message: this.message, ...(this.details ? { details: this.details } : {}) }
  }
}

/** Duck-typed check: survives duplicate package copies and worker-thread boundaries. */
export function isHitlessError(e: unknown): e is HitlessError {
  return (
    typeof e === 'object' &&
    e !== null &&
    (e as { name?: unknown }).name === 'HitlessError' &&
    typeof (e as { code?: unknown }).code === 'string' &&
    (e as { code: string }).code in ERROR_CODES
  )
}

/** Turns anything thrown into a HitlessError, keeping the original as `cause`. */
export function toHitlessError(e: unknown): HitlessError {
  if (isHitlessError(e)) return e
  const message = e instanceof Error ? e.message : String(e)
  return new HitlessError('HITLESS_E_INTERNAL', message, undefined, { cause: e })
}
