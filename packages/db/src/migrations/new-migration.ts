// `npm run db:migration:new -- <name>`: writes prisma/migrations/<timestamp>_<name>/migration.sql
// with the SQL that takes the schema as of the last migration to the current schema.prisma.
// Offline: the diff is computed between two datamodels by the WASM schema engine.
// The last migrated schema is kept in prisma/migrations/schema.snapshot.prisma.
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { MIGRATIONS_DIR, SCHEMA_PATH } from './migrations-folder.js'
import { openSchemaEngine } from './schema-engine.js'

const name = (process.argv[2] ?? '').replace(/[^a-z0-9_]/gi, '_')
if (!name) {
  console.error('usage: npm run db:migration:new -- <name>')
  process.exit(2)
}
const snapshotPath = join(MIGRATIONS_DIR, 'schema.snapshot.prisma')
const current = await readFile(SCHEMA_PATH, 'utf8')
const previous = await readFile(snapshotPath, 'utf8').catch(() => null)
// The engine connects at start-up even for a datamodel-to-datamodel diff; any reachable server will do.
const engine = await openSchemaEngine(
  SCHEMA_PATH,
  current,
  process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres',
)
const from = previous
  ? { tag: 'schemaDatamodel', files: [{ path: snapshotPath, content: previous }] }
  : { tag: 'empty' }
const r = await engine.diff({
  from,
  to: { tag: 'schemaDatamodel', files: [{ path: SCHEMA_PATH, content: current }] },
  script: true,
  exitCode: null,
  filters: { externalTables: [], externalEnums: [] },
})
await engine.free()
if (!r.stdout?.trim() || /empty migration/i.test(r.stdout)) {
  console.log('schema unchanged: no migration written')
  process.exit(0)
}
const stamp = new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14)
const dir = join(MIGRATIONS_DIR, `${stamp}_${name}`)
await mkdir(dir, { recursive: true })
await writeFile(join(dir, 'migration.sql'), r.stdout)
await writeFile(snapshotPath, current)
await writeFile(join(MIGRATIONS_DIR, 'migration_lock.toml'), 'provider = "postgresql"\n')
console.log(`wrote ${dir}/migration.sql`)
