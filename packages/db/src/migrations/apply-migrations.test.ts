import assert from 'node:assert/strict'
import { test } from 'node:test'
import pg from 'pg'
import { createTestDatabase } from '../test-database.js'
import { applyMigrations } from './apply-migrations.js'

const SERVER = process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres'

test('migrations apply once, concurrently safe, and re-running applies nothing', async () => {
  const db = await createTestDatabase(SERVER)
  try {
    // createTestDatabase already applied them; two concurrent re-runs must both be no-ops.
    const again = await Promise.all([applyMigrations(db.url), applyMigrations(db.url)])
    assert.deepEqual(again, [[], []])
    const c = new pg.Client({ connectionString: db.url })
    await c.connect()
    const r = await c.query('SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL')
    await c.end()
    assert.ok(r.rowCount! >= 1)
    assert.match(r.rows[0].migration_name, /_init$/)
  } finally {
    await db.drop()
  }
})
