import { readFile } from 'node:fs/promises'
import pg from 'pg'
import { listMigrations, SCHEMA_PATH } from './migrations-folder.js'
import { openSchemaEngine } from './schema-engine.js'

/** Arbitrary but fixed: every Hitless process that migrates takes this advisory lock. */
const MIGRATION_LOCK_KEY = 0x4b1e55

/**
 * Applies pending migrations from prisma/migrations, exactly as `prisma migrate deploy` would
 * (same `_prisma_migrations` bookkeeping), under a PostgreSQL advisory lock so that controller
 * replicas starting together do not race. Returns the names applied by this call.
 */
export async function applyMigrations(databaseUrl: string): Promise<string[]> {
  const lockClient = new pg.Client({ connectionString: databaseUrl })
  await lockClient.connect()
  try {
    await lockClient.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY])
    const schema = await readFile(SCHEMA_PATH, 'utf8')
    const engine = await openSchemaEngine(SCHEMA_PATH, schema, databaseUrl)
    try {
      const r = await engine.applyMigrations({
        migrationsList: await listMigrations(),
        filters: { externalTables: [], externalEnums: [] },
      })
      return r.appliedMigrationNames
    } finally {
      await engine.free()
    }
  } finally {
    await lockClient.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => {})
    await lockClient.end()
  }
}
