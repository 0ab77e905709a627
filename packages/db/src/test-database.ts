import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { applyMigrations } from './migrations/apply-migrations.js'

/**
 * A fresh, migrated database on the server at `serverUrl`, for one test file; `drop()` removes
 * it. Tests never share a database, so they pass on a server that other runs have used.
 */
export async function createTestDatabase(
  serverUrl: string,
): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `hitless_test_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`
  const admin = new pg.Client({ connectionString: serverUrl })
  await admin.connect()
  await admin.query(`CREATE DATABASE "${name}"`)
  await admin.end()
  const u = new URL(serverUrl)
  u.pathname = `/${name}`
  const url = u.toString()
  await applyMigrations(url)
  return {
    url,
    drop: async () => {
      const c = new pg.Client({ connectionString: serverUrl })
      await c.connect()
      await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)
      await c.end()
    },
  }
}
