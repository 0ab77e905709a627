import { hostname } from 'node:os'
import { isAbsolute, resolve } from 'node:path'
import { HitlessError } from '@hitless/protocol'

export interface AgentConfig {
  controllerUrl: string
  /** An admin token, used only to enrol; per-host tokens are used for everything else. */
  enrolToken: string
  redisUrl: string
  redisPrefix: string
  agentId: string
  /** Emulated fleet size; 0 means this process runs the real host it is on. */
  hosts: number
  heartbeatMs: number
  /** BullMQ lock duration: a job whose worker died is redelivered after this. */
  lockMs: number
  stalledIntervalMs: number
  /** Emulated step duration (so that an update takes visible time). */
  stepMs: number
  /** Updates this process runs at once; defaults to one per host. */
  concurrency: number
  /**
   * HITLESS_BOOT_ROOT: where an emulated host's boot files are (a kernel's `/boot/vmlinuz-X` is
   * read at `<bootRoot>/boot/vmlinuz-X`). Unset: paths are read as given, as on a real host.
   */
  bootRoot: string | undefined
}

function bootRoot(v: string | undefined): string | undefined {
  if (!v) return undefined
  if (!isAbsolute(v))
    throw new HitlessError('HITLESS_E_CONFIG', `HITLESS_BOOT_ROOT must be an absolute path, not ${v}`)
  return resolve(v)
}

export function loadAgentConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): AgentConfig {
  const arg = (name: string) => {
    const i = argv.indexOf(`--${name}`)
    if (i === -1) return undefined
    const v = argv[i + 1]
    if (v === undefined || v.startsWith('--'))
      throw new HitlessError('HITLESS_E_VALIDATION', `--${name} needs a value`)
    return v
  }
  for (const a of argv) {
    if (a.startsWith('--') && !['--hosts', '--agent-id', '--controller'].includes(a)) {
      throw new HitlessError(
        'HITLESS_E_VALIDATION',
        `unknown option ${a} (known: --hosts N, --agent-id ID, --controller URL)`,
      )
    }
  }
  const hosts = Number(arg('hosts') ?? env.HITLESS_HOSTS ?? 0)
  if (!Number.isInteger(hosts) || hosts < 0 || hosts > 100000)
    throw new HitlessError('HITLESS_E_VALIDATION', '--hosts must be an integer 0..100000')
  const controllerUrl = arg('controller') ?? env.HITLESS_URL
  if (!controllerUrl) throw new HitlessError('HITLESS_E_CONFIG', 'HITLESS_URL (the controller) is not set')
  const enrolToken = env.HITLESS_ENROL_TOKEN ?? env.HITLESS_ADMIN_TOKEN
  if (!enrolToken)
    throw new HitlessError(
      'HITLESS_E_CONFIG',
      'HITLESS_ENROL_TOKEN (an admin token to enrol with) is not set',
    )
  if (!env.REDIS_URL) throw new HitlessError('HITLESS_E_CONFIG', 'REDIS_URL is not set')
  const num = (n: string, d: number) => (env[n] ? Number(env[n]) : d)
  return {
    controllerUrl: controllerUrl.replace(/\/$/, ''),
    enrolToken,
    redisUrl: env.REDIS_URL,
    redisPrefix: env.HITLESS_REDIS_PREFIX ?? 'hitless',
    agentId: arg('agent-id') ?? env.HITLESS_AGENT_ID ?? (hosts ? `emu-${hostname()}` : hostname()),
    hosts,
    heartbeatMs: num('HITLESS_HEARTBEAT_MS', 5000),
    lockMs: num('HITLESS_LOCK_MS', 30000),
    stalledIntervalMs: num('HITLESS_STALLED_MS', 15000),
    stepMs: num('HITLESS_EMU_STEP_MS', 150),
    concurrency: num('HITLESS_AGENT_CONCURRENCY', Math.max(1, hosts)),
    bootRoot: bootRoot(env.HITLESS_BOOT_ROOT),
  }
}
