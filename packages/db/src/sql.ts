import pg from 'pg'

const { escapeLiteral } = pg

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

/**
 * A transaction of `sqlTransaction`. Two round trips are saved with the simple query protocol,
 * which takes several statements but no parameters (values are inlined with `sqlLiteral`):
 * `first` runs its statement in the round trip of BEGIN, `commit` its statement in the round
 * trip of COMMIT.
 */
export interface SqlTx extends Sql {
  /** The transaction's first statement (no parameters), sent with BEGIN; its rows. */
  first<R>(text: string): Promise<R[]>
  /**
   * The transaction's first statements (no parameters), sent with BEGIN in one round trip; the
   * rows of each. Each statement reads what was committed when it starts (READ COMMITTED), so one
   * may read what an earlier one locked.
   */
  firstAll(texts: string[]): Promise<unknown[][]>
  /** Runs `text` (no parameters; none: nothing) and commits, in one round trip; its rows. */
  commit<R>(text?: string): Promise<R[]>
}

/** A value inlined in a statement of the simple query protocol (`SqlTx.first`, `SqlTx.commit`). */
export function sqlLiteral(v: string | number | boolean | null | undefined): string {
  if (v === null || v === undefined) return 'NULL'
  if (typeof v === 'boolean') return v ? 'TRUE' : 'FALSE'
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error(`not a finite number: ${v}`)
    return String(v)
  }
  if (typeof v !== 'string') throw new Error(`no literal for a ${typeof v}`)
  return escapeLiteral(v)
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
 * Several statements without parameters (values inlined with `sqlLiteral`) in one round trip
 * (simple query protocol, one implicit transaction; each statement reads what was committed when
 * it starts); the rows of each.
 */
export async function sqlBatch(db: object, texts: string[]): Promise<unknown[][]> {
  const r = (await poolOf(db).query(texts.join('; '))) as unknown as pg.QueryResult | pg.QueryResult[]
  return (Array.isArray(r) ? r : [r]).map((x) => x.rows)
}

/**
 * Runs `fn` in a transaction (READ COMMITTED, as Prisma's): committed when it returns (unless it
 * committed itself with `tx.commit`), rolled back when it throws (the error is rethrown).
 */
export async function sqlTransaction<T>(db: object, fn: (tx: SqlTx) => Promise<T>): Promise<T> {
  const client = await poolOf(db).connect()
  // 'open' from the moment a BEGIN is sent (a failed statement after it still needs a ROLLBACK).
  const t = { state: 'new' as 'new' | 'open' | 'done' }
  const run = async (text: string, values?: unknown[]) => {
    const withBegin = t.state === 'new'
    t.state = 'open'
    return client.query(withBegin ? `BEGIN; ${text}` : text, values)
  }
  const tx: SqlTx = {
    query: async (text, values) => {
      if (t.state === 'new') {
        t.state = 'open'
        await client.query('BEGIN') // a statement with parameters cannot ride with it
      }
      return (await client.query(text, values)).rows
    },
    first: async <R>(text: string) => (await tx.firstAll([text]))[0] as R[],
    firstAll: async (texts: string[]) => {
      const withBegin = t.state === 'new'
      const r = (await run(texts.join('; '))) as unknown as pg.QueryResult | pg.QueryResult[]
      const rs = Array.isArray(r) ? r : [r]
      return rs.slice(withBegin ? 1 : 0).map((x) => x.rows)
    },
    commit: async <R>(text?: string) => {
      if (t.state === 'done') throw new Error('transaction already committed')
      if (t.state === 'new' && !text) {
        t.state = 'done'
        return []
      }
      const withBegin = t.state === 'new'
      const rs = (await run(text ? `${text}; COMMIT` : 'COMMIT')) as unknown as
        | pg.QueryResult
        | pg.QueryResult[]
      t.state = 'done'
      if (!text) return []
      return ((rs as pg.QueryResult[])[withBegin ? 1 : 0]?.rows ?? []) as R[]
    },
  }
  let broken: Error | undefined
  try {
    const out = await fn(tx)
    if (t.state === 'open') await client.query('COMMIT')
    t.state = 'done'
    return out
  } catch (e) {
    if (t.state === 'open') {
      try {
        await client.query('ROLLBACK')
      } catch (r) {
        broken = r as Error // the connection is unusable: the pool drops it
      }
    }
    throw e
  } finally {
    client.release(broken)
  }
}
