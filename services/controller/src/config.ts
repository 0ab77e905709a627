import { HitlessError } from '@hitless/protocol'

/** Controller configuration, from the environment only (README "Configuration"). */
export interface ControllerConfig {
  port: number
  host: string
  databaseUrl: string
  redisUrl: string
  /** BullMQ key prefix; tests use their own so that runs never share keys. */
  redisPrefix: string
  adminToken: string | undefined
  /** Lease length; a replica that cannot renew within it loses leadership. */
  leaseMs: number
  loopIntervalMs: number
  /** A host silent for this long is OFFLINE; an update in flight on it becomes FAILED_HELD. */
  heartbeatTimeoutMs: number
  shutdownDeadlineMs: number
  /** Requests per minute per token (or per address when unauthenticated); 0 turns limits off. */
  rateLimitPerMinute: number
  /** Dashboard logins per minute per address. */
  loginPerMinute: number
  /** Mark session cookies Secure (set it behind TLS). */
  secureCookies: boolean
  /** PostgreSQL connections of this replica (agents' claims are short transactions; 50 hosts in flight need more than 10). */
  dbPoolSize: number
  /** How old a GET /rollouts/:id snapshot may be (services/rollout-read-cache.ts); 0: never cached. */
  readCacheMs: number
}

function int(env: NodeJS.ProcessEnv, name: string, dflt: number): number {
  const v = env[name]
  if (v === undefined || v === '') return dflt
  const n = Number(v)
  if (!Number.isInteger(n) || n < 0)
    throw new HitlessError(
      'HITLESS_E_CONFIG',
      `${name} must be a non-negative integer, got ${JSON.stringify(v)}`,
    )
  return n
}

export function loadControllerConfig(env: NodeJS.ProcessEnv = process.env): ControllerConfig {
  if (!env.DATABASE_URL) throw new HitlessError('HITLESS_E_CONFIG', 'DATABASE_URL is not set')
  if (!env.REDIS_URL) throw new HitlessError('HITLESS_E_CONFIG', 'REDIS_URL is not set')
  return {
    port: int(env, 'PORT', 8080),
    host: env.HOST ?? '127.0.0.1',
    databaseUrl: env.DATABASE_URL,
    redisUrl: env.REDIS_URL,
    redisPrefix: env.HITLESS_REDIS_PREFIX ?? 'hitless',
    adminToken: env.HITLESS_ADMIN_TOKEN || undefined,
    leaseMs: int(env, 'HITLESS_LEASE_MS', 15000),
    loopIntervalMs: int(env, 'HITLESS_LOOP_MS', 1000),
    heartbeatTimeoutMs: int(env, 'HITLESS_HEARTBEAT_TIMEOUT_MS', 30000),
    shutdownDeadlineMs: int(env, 'HITLESS_SHUTDOWN_MS', 10000),
    rateLimitPerMinute: int(env, 'HITLESS_RATE_LIMIT', 1200),
    loginPerMinute: int(env, 'HITLESS_LOGIN_RATE_LIMIT', 10),
    secureCookies: env.HITLESS_SECURE_COOKIES === '1',
    readCacheMs: int(env, 'HITLESS_READ_CACHE_MS', 250),
    dbPoolSize: int(env, 'HITLESS_DB_POOL', 20),
  }
}
