import type pg from 'pg'

/**
 * Plain SQL on the pg pool under a `Db` (the one its Prisma client uses), for the few hot paths
 * where Prisma's own cost matters: each Prisma query costs ~0.4–0.6 ms of the process's single
 * thread (~0.15 ms through pg), and the agent API runs a transaction for every step of every
 * host. Everything else goes through Prisma.
 *
 * Columns Prisma maps: `DateTime` is `timestamp(3)` holding UTC. Pass times with `sqlTime` and
 * cast them (`$1::timestamp(3)`); read them as `col AT TIME ZONE 'UTC'` (a timestamptz, which pg
 * parses to the right Date whatever the process's time zone). `@updatedAt` is Prisma's doing:
 * set `"updatedAt"` in every UPDATE (the events stream follows it).
 */
export interface Sql {
  query<R>(text: string, values?: unknown[]): Promise<R[]>
}

/** A time as a `timestamp(3)` column holds it (UTC). */
export const sqlTime = (d: Date): string => d.toISOString()

const pools = new WeakMap<object, pg.Pool>()

/** Registers the pool a client was built on (createDb). */
export function registerPool(db: object, pool: pg.Pool): void {
  pools.set(db, pool)
}

function poolOf(db: object): pg.Pool {
  const pool = pools.get(db)
  if (!pool) throw new Error('this Db was not made by createDb: no pg pool under it')
  return pool
}

/** One statement on a pooled connection (its own transaction). */
export async function sqlQuery<R>(db: object, text: string, values?: unknown[]): Promise<R[]> {
  return (await poolOf(db).query(text, values)).rows as R[]
}

/**
 * Runs `fn` in a transaction (READ COMMITTED, as Prisma's): committed when it returns, rolled
 * back when it throws (the error is rethrown).
 */
export async function sqlTransaction<T>(db: object, fn: (tx: Sql) => Promise<T>): Promise<T> {
  const client = await poolOf(db).connect()
  const tx: Sql = { query: async (text, values) => (await client.query(text, values)).rows }
  let broken: Error | undefined
  try {
    await client.query('BEGIN')
    const out = await fn(tx)
    await client.query('COMMIT')
    return out
  } catch (e) {
    try {
      await client.query('ROLLBACK')
    } catch (r) {
      broken = r as Error // the connection is unusable: the pool drops it
    }
    throw e
  } finally {
    client.release(broken)
  }
}
