import { readdir, readFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The repository's prisma/ folder (schema and migrations). */
export const PRISMA_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../../../prisma')
export const SCHEMA_PATH = join(PRISMA_DIR, 'schema.prisma')
export const MIGRATIONS_DIR = join(PRISMA_DIR, 'migrations')

/** The migrations folder in the shape the schema engine's applyMigrations takes. */
export async function listMigrations(baseDir = MIGRATIONS_DIR) {
  const entries = await readdir(baseDir, { withFileTypes: true }).catch(() => [])
  const dirs = entries
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort()
  return {
    baseDir,
    lockfile: {
      path: 'migration_lock.toml',
      content: await readFile(join(baseDir, 'migration_lock.toml'), 'utf8').catch(() => null),
    },
    shadowDbInitScript: '',
    migrationDirectories: await Promise.all(
      dirs.map(async (d) => ({
        path: d,
        migrationFile: {
          path: 'migration.sql',
          content: await readFile(join(baseDir, d, 'migration.sql'), 'utf8').then(
            (c) => ({ tag: 'ok', value: c }),
            (e: unknown) => ({ tag: 'error', value: String(e) }),
          ),
        },
      })),
    ),
  }
}
