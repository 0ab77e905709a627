import { toHitlessError } from './hitless-error.js'

/**
 * The last word of a service process that failed to start or run: one line naming the code and
 * what is wrong (a broken DATABASE_URL, say), never a stack trace, and the code's exit status.
 */
export function exitWithError(processName: string): (e: unknown) => never {
  return (e: unknown) => {
    const err = toHitlessError(e)
    console.error(`${processName}: ${err.code}: ${err.message}`)
    process.exit(err.exitCode || 1)
  }
}
