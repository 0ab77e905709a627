// The verifier process: `node --import tsx services/verifier/src/main.ts`.
import { createDb } from '@hitless/db'
import { HitlessError, exitWithError } from '@hitless/protocol'
import { checkPostgres, checkRedis } from '@hitless/provision'
import { VerifierService } from './verifier.js'

async function main(): Promise<void> {
  const { DATABASE_URL, REDIS_URL } = process.env
  if (!DATABASE_URL) throw new HitlessError('HITLESS_E_CONFIG', 'DATABASE_URL is not set')
  if (!REDIS_URL) throw new HitlessError('HITLESS_E_CONFIG', 'REDIS_URL is not set')
  await checkPostgres(DATABASE_URL)
  await checkRedis(REDIS_URL)
  const concurrency = Number(process.env.HITLESS_VERIFY_CONCURRENCY ?? 8)
  if (!Number.isInteger(concurrency) || concurrency < 1)
    throw new HitlessError('HITLESS_E_CONFIG', 'HITLESS_VERIFY_CONCURRENCY must be an integer >= 1')
  const db = createDb(DATABASE_URL, Math.min(concurrency, 8))
  const v = new VerifierService(
    db,
    { redisUrl: REDIS_URL, prefix: process.env.HITLESS_REDIS_PREFIX ?? 'hitless', concurrency },
    (m) => console.log(m),
  )
  v.start()
  console.log('verifier: consuming verification jobs')
  const stop = async () => {
    await v.stop()
    await db.$disconnect()
    process.exit(0)
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}

main().catch(exitWithError('hitless-verifier'))
