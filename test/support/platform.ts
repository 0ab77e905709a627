import { createHash, randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createDb, createTestDatabase, type Db } from '@hitless/db'
import { provisionRedis } from '@hitless/provision'
import { buildController, type BuiltController } from '../../services/controller/src/app.js'
import { loadControllerConfig } from '../../services/controller/src/config.js'
import { newTokenSecret } from '../../services/controller/src/services/token.service.js'
import { BASE_KERNEL } from '../../services/host-agent/src/fleet.js'
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
  /**
   * Environment for an agent talking to this platform (a child process, or `loadAgentConfig`
   * in-process): HITLESS_BOOT_ROOT is `bootRoot`.
   */
  agentEnv: Record<string, string>
  /** This platform's emulated hosts' boot root: the test kernel images are in `<bootRoot>/boot`. */
  bootRoot: string
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
  const bootRoot = makeBootRoot()
  // In-process fleets (emulatedFleet, emulatedIommuFleet) read this process's HITLESS_BOOT_ROOT.
  const ownsEnv = !process.env.HITLESS_BOOT_ROOT
  if (ownsEnv) process.env.HITLESS_BOOT_ROOT = bootRoot
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
      HITLESS_BOOT_ROOT: bootRoot,
    },
    bootRoot,
    close: async () => {
      await verifier.stop()
      await controller.app.close()
      await db.$disconnect()
      await database.drop()
      await redis.stop()
      if (ownsEnv && process.env.HITLESS_BOOT_ROOT === bootRoot) delete process.env.HITLESS_BOOT_ROOT
      rmSync(bootRoot, { recursive: true, force: true })
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

/** The bytes of the test kernel images (every test kernel's image is these bytes). */
export const TEST_KERNEL_BYTES = Buffer.from(
  Array.from({ length: 4096 }, (_, i) => `hitless test kernel image, line ${i}\n`).join(''),
)

const TEST_KERNEL_SHA256 = createHash('sha256').update(TEST_KERNEL_BYTES).digest('hex')

/** A test kernel's artifact: its image in every platform's boot root, with the image's real SHA-256. */
export function testKernel(version: string): { version: string; image: string; sha256: string } {
  return { version, image: `/boot/vmlinuz-${version}`, sha256: TEST_KERNEL_SHA256 }
}

export const KERNEL = testKernel('7.2.13-hitless1')

/** Versions whose image each platform writes (the fleet's base kernel, for rollbacks, among them). */
export const TEST_KERNEL_VERSIONS = [
  BASE_KERNEL,
  '7.2.12-hitless3',
  KERNEL.version,
  '7.2.14-hitless1',
  '7.3.0-hitless2',
]

/** A fresh boot root with the test kernel images at `/boot/vmlinuz-<version>`. */
function makeBootRoot(): string {
  const root = mkdtempSync(join(tmpdir(), 'hitless-boot-'))
  mkdirSync(join(root, 'boot'))
  for (const v of TEST_KERNEL_VERSIONS) writeFileSync(join(root, testKernel(v).image), TEST_KERNEL_BYTES)
  return root
}

/** Writes `bytes` at the artifact path `path` under the platform's boot root. */
export function writeBootFile(p: Pick<TestPlatform, 'bootRoot'>, path: string, bytes: Uint8Array): void {
  const file = join(p.bootRoot, path)
  mkdirSync(join(file, '..'), { recursive: true })
  writeFileSync(file, bytes)
}
