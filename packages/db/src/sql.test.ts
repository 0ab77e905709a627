import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { createDb, type Db } from './client.js'
import { sqlBatch, sqlLiteral, sqlQuery, sqlTime, sqlTransaction } from './sql.js'
import { createTestDatabase } from './test-database.js'

const SERVER = process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres'

let database: Awaited<ReturnType<typeof createTestDatabase>>
let db: Db
before(async () => {
  database = await createTestDatabase(SERVER)
  db = createDb(database.url, 2)
  await sqlQuery(db, 'CREATE TABLE t (k int PRIMARY KEY, v text, at timestamp(3))')
})
after(async () => {
  await db?.$disconnect()
  await database?.drop()
})

const rows = async () => sqlQuery<{ k: number; v: string }>(db, 'SELECT k, v FROM t ORDER BY k')

test('literals survive any text, and refuse what has no literal', async () => {
  const nasty = ["it's", 'back\\slash', "both \\' and '", '$1 -- ; DROP TABLE t', 'ünïcødé 🎉', '']
  for (const [i, v] of nasty.entries())
    await sqlQuery(db, `INSERT INTO t (k, v) VALUES (${i}, ${sqlLiteral(v)})`)
  assert.deepEqual(
    (await rows()).map((r) => r.v),
    nasty,
  )
  assert.equal(sqlLiteral(null), 'NULL')
  assert.equal(sqlLiteral(undefined), 'NULL')
  assert.equal(sqlLiteral(true), 'TRUE')
  assert.equal(sqlLiteral(-1.5), '-1.5')
  assert.throws(() => sqlLiteral(Number.NaN))
  assert.throws(() => sqlLiteral(Number.POSITIVE_INFINITY))
  assert.throws(() => sqlLiteral({} as never))
  await sqlQuery(db, 'DELETE FROM t')
})

test('a transaction commits what it wrote: first statement with BEGIN, last with COMMIT', async () => {
  const out = await sqlTransaction(db, async (tx) => {
    const first = await tx.first<{ n: number }>('SELECT count(*)::int AS n FROM t')
    await tx.query('INSERT INTO t (k, v) VALUES ($1, $2)', [1, 'a'])
    await tx.commit(`INSERT INTO t (k, v) VALUES (2, ${sqlLiteral('b')})`)
    return first[0].n
  })
  assert.equal(out, 0)
  assert.deepEqual(await rows(), [
    { k: 1, v: 'a' },
    { k: 2, v: 'b' },
  ])
  // Without commit: committed when fn returns; a parameterised first statement works too.
  await sqlTransaction(db, async (tx) => {
    await tx.query('INSERT INTO t (k, v, at) VALUES ($1, $2, $3::timestamp(3))', [
      3,
      'c',
      sqlTime(new Date(0)),
    ])
  })
  // Only a commit statement (BEGIN, it and COMMIT in one round trip), with its rows.
  const back = await sqlTransaction(db, (tx) =>
    tx.commit<{ k: number }>(`INSERT INTO t (k, v) VALUES (4, 'd') RETURNING k`),
  )
  assert.deepEqual(back, [{ k: 4 }])
  const back2 = await sqlTransaction(db, async (tx) => {
    await tx.first('SELECT 1')
    return tx.commit<{ k: number }>(`UPDATE t SET v = 'dd' WHERE k = 4 RETURNING k`)
  })
  assert.deepEqual(back2, [{ k: 4 }])
  // Several first statements in the round trip of BEGIN, each with its own rows; the later
  // reads what the earlier did.
  const [a, b] = await sqlTransaction(db, (tx) =>
    tx.firstAll([
      `SELECT k FROM t WHERE k = 4 FOR UPDATE`,
      `SELECT v FROM t WHERE k = (SELECT max(k) FROM t)`,
    ]),
  )
  assert.deepEqual([a, b], [[{ k: 4 }], [{ v: 'dd' }]])
  assert.equal((await rows()).length, 4)
  const [{ at }] = await sqlQuery<{ at: Date }>(db, `SELECT at AT TIME ZONE 'UTC' AS at FROM t WHERE k = 3`)
  assert.equal(at.getTime(), 0)
})

test('a transaction that throws, or whose last statement fails, leaves nothing written', async () => {
  await sqlQuery(db, 'DELETE FROM t')
  await assert.rejects(
    sqlTransaction(db, async (tx) => {
      await tx.first(`INSERT INTO t (k, v) VALUES (1, 'x')`)
      throw new Error('refused')
    }),
    /refused/,
  )
  await assert.rejects(
    sqlTransaction(db, async (tx) => {
      await tx.query('INSERT INTO t (k, v) VALUES ($1, $2)', [1, 'x'])
      await tx.commit(`INSERT INTO t (k, v) VALUES (1, 'duplicate')`)
    }),
    /duplicate key/,
  )
  await assert.rejects(
    sqlTransaction(db, (tx) => tx.commit(`INSERT INTO t (k, v) VALUES (9, 'x'); SELECT 1/0`)),
    /division by zero/,
  )
  assert.deepEqual(await rows(), [])
  // The pool's connections are clean afterwards (no transaction left open on them).
  for (let i = 0; i < 4; i++)
    await sqlTransaction(db, (tx) => tx.commit(`INSERT INTO t (k, v) VALUES (${i}, 'ok')`))
  assert.equal((await rows()).length, 4)
})

test('a batch of statements in one round trip gives the rows of each', async () => {
  assert.deepEqual(await sqlBatch(db, ['SELECT 1 AS a', `SELECT ${sqlLiteral("x'y")} AS b`]), [
    [{ a: 1 }],
    [{ b: "x'y" }],
  ])
  assert.deepEqual(await sqlBatch(db, ['SELECT 2 AS a']), [[{ a: 2 }]])
})
