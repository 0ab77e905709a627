import { HitlessError } from '@hitless/protocol'
import type { HandoverCheck } from './handover-format.js'

/**
 * A handover blob the new kernel will not trust: HITLESS_E_HANDOVER (CLI exit 8) with the check
 * that failed in `details.check`. The preserved tables stay live; nothing was adopted.
 */
export function handoverRefused(check: HandoverCheck, message: string): HitlessError {
  return new HitlessError('HITLESS_E_HANDOVER', `handover refused (${check}): ${message}`, { check })
}

/** A restore the new kernel refused after reading the blob (tables disagree with the rebuilt IOAS...). */
export function restoreRefused(check: string, message: string, details: Record<string, unknown> = {}) {
  return new HitlessError('HITLESS_E_HANDOVER', `restore refused (${check}): ${message}`, {
    check,
    ...details,
  })
}
