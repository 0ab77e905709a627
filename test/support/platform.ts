import { randomBytes } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { createDb, createTestDatabase, type Db } from '@hitless/db'
import { provisionRedis } from '@hitless/provision'
import { buildController, type BuiltController } from '../../services/controller/src/app.js'
import { loadControllerConfig } from '../../services/controller/src/config.js'
import { newTokenSecret } from '../../services/controller/src/services/token.service.js'
import { VerifierService } from '../../services/verifier/src/verifier.js'

/** The PostgreSQL server tests create their own databases on. */
export const TEST_PG_SERVER = process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres'

export interface TestPlatform {
  url: string
  adminToken: string
  databaseUrl: string
  redisUrl: string
  redisPrefix: string
  db: Db
  controller: BuiltController
  verifier: VerifierService
  /** Environment for a child agent process talking to this platform. */
  agentEnv: Record<string, string>
  close: () => Promise<void>
}

/**
 * A whole platform for one test file on the real parts: its own PostgreSQL database, its own
 * Redis key prefix, a controller on a random loopback port and a verifier, all in-process.
 */
export async function startPlatform(
  opts: {
    loopMs?: number
    heartbeatTimeoutMs?: number
    leaseMs?: number
    /** false: the in-process controller serves the API; its loop starts when the test says. */
    startLoop?: boolean
    env?: Record<string, string>
    /** PostgreSQL connections of the in-process controller and verifier (default 10). */
    dbPool?: number
  } = {},
): Promise<TestPlatform> {
  const database = await createTestDatabase(TEST_PG_SERVER)
  const redis = await provisionRedis({})
  const redisPrefix = `hitless-test-${randomBytes(4).toString('hex')}`
  const adminToken = newTokenSecret('hlt')
  const cfg = loadControllerConfig({
    DATABASE_URL: database.url,
    REDIS_URL: redis.url,
    HITLESS_REDIS_PREFIX: redisPrefix,
    HITLESS_LOOP_MS: String(opts.loopMs ?? 200),
    HITLESS_LEASE_MS: String(opts.leaseMs ?? 5000),
    HITLESS_HEARTBEAT_TIMEOUT_MS: String(opts.heartbeatTimeoutMs ?? 60000),
    ...opts.env,
  })
  const db = createDb(database.url, opts.dbPool)
  const controller = await buildController(cfg, db)
  await controller.ctx.tokens.ensure('test admin', 'admin', adminToken)
  await controller.app.listen({ port: 0, host: '127.0.0.1' })
  if (opts.startLoop !== false) controller.ctx.loop.start()
  const port = (controller.app.server.address() as AddressInfo).port
  const url = `http://127.0.0.1:${port}`
  const verifier = new VerifierService(db, { redisUrl: redis.url, prefix: redisPrefix })
  verifier.start()
  return {
    url,
    adminToken,
    databaseUrl: database.url,
    redisUrl: redis.url,
    redisPrefix,
    db,
    controller,
    verifier,
    agentEnv: {
      HITLESS_URL: url,
      HITLESS_ENROL_TOKEN: adminToken,
      REDIS_URL: redis.url,
      HITLESS_REDIS_PREFIX: redisPrefix,
    },
    close: async () => {
      await verifier.stop()
      await controller.app.close()
      await db.$disconnect()
      await database.drop()
      await redis.stop()
    },
  }
}

/** Calls the API as `token`; returns status and parsed JSON. */
export async function api<T = unknown>(
  p: Pick<TestPlatform, 'url'>,
  token: string | undefined,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: T }> {
  const res = await fetch(`${p.url}${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...headers,
    },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  })
  const text = await res.text()
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T }
}

export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | false>,
  timeoutMs = 30000,
  everyMs = 100,
): Promise<T> {
  const end = Date.now() + timeoutMs
  let last: unknown
  while (Date.now() < end) {
    try {
      const v = await fn()
      if (v) return v
    } catch (e) {
      last = e
    }
    await new Promise((r) => setTimeout(r, everyMs))
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`)
}

export const KERNEL = {
  version: '7.2.13-hitless1',
  image: '/boot/vmlinuz-7.2.13-hitless1',
  sha256: 'ab'.repeat(32),
}
