import { HitlessError } from '../errors/hitless-error.js'

/** Which check of `decodeSnapshot` failed; carried in HitlessError.details.check. */
export type SnapshotCheck = 'magic' | 'version' | 'checksum' | 'truncated' | 'inconsistent'

/** A snapshot that cannot be decoded (HITLESS_E_UNPROCESSABLE), saying which check failed. */
export function snapshotError(check: SnapshotCheck, message: string): HitlessError {
  return new HitlessError('HITLESS_E_UNPROCESSABLE', `snapshot ${check}: ${message}`, { check })
}
