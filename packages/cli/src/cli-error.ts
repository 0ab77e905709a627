import { EXIT_CODES, HitlessError, isHitlessError } from '@hitless/protocol'

/** A usage mistake: one line, exit code `usage`. */
export const usage = (message: string): HitlessError => new HitlessError('HITLESS_E_VALIDATION', message)

/** Every failure ends as one line on stderr and an exit code from the one table. */
export function exitWith(e: unknown): never {
  if (isHitlessError(e)) {
    process.stderr.write(`hitless: ${e.message} [${e.code}]\n`)
    process.exit(e.exitCode)
  }
  process.stderr.write(`hitless: ${(e as Error)?.message ?? String(e)}\n`)
  process.exit(EXIT_CODES.internal)
}
