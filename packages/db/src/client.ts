import { PrismaPg } from '@prisma/adapter-pg'
import pg from 'pg'
import { PrismaClient } from './generated/prisma/client.js'
import { registerPool } from './sql.js'

export type Db = PrismaClient
export { Prisma } from './generated/prisma/client.js'
export * from './generated/prisma/enums.js'

/**
 * A Prisma client over the pg driver adapter (Prisma 7 has no built-in driver). Its pool is
 * also reachable through sql.ts for the hot paths; `$disconnect` ends it.
 */
export function createDb(databaseUrl: string, poolSize = 10): Db {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: poolSize })
  // An idle connection's error (a server restart) must not crash the process; the next query
  // gets a fresh connection. Prisma adds its own listener once connected.
  pool.on('error', () => {})
  const db = new PrismaClient({ adapter: new PrismaPg(pool, { disposeExternalPool: true }) })
  registerPool(db, pool)
  return db
}
