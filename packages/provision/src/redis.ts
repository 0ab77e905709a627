import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { createServer } from 'node:net'
import { join, resolve } from 'node:path'
import { Redis } from 'ioredis'
import { HitlessError } from '@hitless/protocol'

export interface RedisHandle {
  url: string
  source: 'env' | 'local' | 'spawned' | 'container'
  /** Non-fatal findings, e.g. an eviction policy that could drop queued jobs. */
  warnings: string[]
  stop: () => Promise<void>
}

const DEFAULT_LOCAL = 'redis://127.0.0.1:6379'

async function ping(url: string, timeoutMs = 1500): Promise<Redis | undefined> {
  const r = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  })
  r.on('error', () => {})
  try {
    await r.connect()
    await r.ping()
    return r
  } catch {
    r.disconnect()
    return undefined
  }
}

/** Checks a Redis URL answers; throws HITLESS_E_CONFIG saying which URL and why. */
export async function checkRedis(url: string, what = 'REDIS_URL'): Promise<void> {
  if (!/^rediss?:\/\//.test(url))
    throw new HitlessError(
      'HITLESS_E_CONFIG',
      `${what} must start with redis:// (got ${JSON.stringify(url)})`,
    )
  const r = await ping(url, 5000)
  if (!r) throw new HitlessError('HITLESS_E_CONFIG', `${what} (${url}) is unreachable`)
  r.disconnect()
}

/**
 * BullMQ needs `maxmemory-policy noeviction`: under any other policy Redis may silently evict
 * job keys when full, losing work. Returns a warning (or throws when `strict`).
 */
export async function checkEvictionPolicy(r: Redis, url: string, strict: boolean): Promise<string[]> {
  let policy: string | undefined
  try {
    const res = (await r.config('GET', 'maxmemory-policy')) as string[]
    policy = res[1]
  } catch {
    return [`could not read maxmemory-policy of ${url} (CONFIG disabled?); BullMQ needs noeviction`]
  }
  if (policy && policy !== 'noeviction') {
    const msg = `Redis at ${url} has maxmemory-policy=${policy}; BullMQ needs noeviction (jobs could be evicted). Set it with: redis-cli CONFIG SET maxmemory-policy noeviction`
    if (strict) throw new HitlessError('HITLESS_E_CONFIG', msg)
    return [msg]
  }
  return []
}

async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer()
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => res(port))
    })
    s.on('error', rej)
  })
}

function findOnPath(bin: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const p = join(dir, bin)
    if (dir && existsSync(p)) return p
  }
  for (const p of [`/usr/bin/${bin}`, `/usr/local/bin/${bin}`, `/usr/sbin/${bin}`])
    if (existsSync(p)) return p
  return undefined
}

/**
 * Redis for `npm start` and tests, in this order: REDIS_URL; 127.0.0.1:6379 when it answers; a
 * `redis-server` on PATH started on a free port (AOF on, noeviction); a container through
 * testcontainers when a Docker engine answers; else a clear message saying how to get Redis.
 */
export async function provisionRedis(opts: {
  env?: NodeJS.ProcessEnv
  dataDir?: string
  strictEviction?: boolean
  log?: (line: string) => void
}): Promise<RedisHandle> {
  const env = opts.env ?? process.env
  const log = opts.log ?? (() => {})
  const strict = opts.strictEviction ?? false
  if (env.REDIS_URL) {
    const r = await ping(env.REDIS_URL, 5000)
    if (!r) throw new HitlessError('HITLESS_E_CONFIG', `REDIS_URL (${env.REDIS_URL}) is unreachable`)
    const warnings = await checkEvictionPolicy(r, env.REDIS_URL, strict).finally(() => r.disconnect())
    return { url: env.REDIS_URL, source: 'env', warnings, stop: async () => {} }
  }
  const local = await ping(DEFAULT_LOCAL)
  if (local) {
    const warnings = await checkEvictionPolicy(local, DEFAULT_LOCAL, strict).finally(() => local.disconnect())
    return { url: DEFAULT_LOCAL, source: 'local', warnings, stop: async () => {} }
  }
  const bin = findOnPath('redis-server')
  if (bin) {
    const port = await freePort()
    const dir = resolve(opts.dataDir ?? join(process.cwd(), '.hitless', 'redis'))
    await mkdir(dir, { recursive: true })
    const child = spawn(
      bin,
      [
        '--bind',
        '127.0.0.1',
        '--port',
        String(port),
        '--dir',
        dir,
        '--appendonly',
        'yes',
        '--save',
        '',
        '--maxmemory-policy',
        'noeviction',
      ],
      { stdio: 'ignore' },
    )
    const url = `redis://127.0.0.1:${port}`
    for (let i = 0; i < 50; i++) {
      const r = await ping(url, 200)
      if (r) {
        r.disconnect()
        log(`started ${bin} on ${url} (data in ${dir})`)
        return {
          url,
          source: 'spawned',
          warnings: [],
          stop: async () => {
            child.kill('SIGTERM')
          },
        }
      }
      await new Promise((res) => setTimeout(res, 100))
    }
    child.kill('SIGKILL')
    throw new HitlessError('HITLESS_E_CONFIG', `${bin} did not answer on ${url} within 5 s`)
  }
  try {
    const tc = await import('testcontainers')
    await tc.getContainerRuntimeClient()
    const c = await new tc.GenericContainer('redis:7-alpine')
      .withCommand(['redis-server', '--appendonly', 'yes', '--maxmemory-policy', 'noeviction'])
      .withExposedPorts(6379)
      .start()
    const url = `redis://${c.getHost()}:${c.getMappedPort(6379)}`
    log(`started a Redis container on ${url}`)
    return { url, source: 'container', warnings: [], stop: async () => void (await c.stop()) }
  } catch {
    // no container runtime: fall through to the message
  }
  throw new HitlessError(
    'HITLESS_E_CONFIG',
    'no Redis found: set REDIS_URL, run one on 127.0.0.1:6379, install redis-server (apt-get install redis-server), or start a Docker engine',
  )
}
