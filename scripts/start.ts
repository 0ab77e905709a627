// `npm start`: the whole platform on this machine — PostgreSQL and Redis (provisioned), the
// controller, the verifier and a host agent running an emulated fleet — each a real process.
import { type ChildProcess, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { applyMigrations } from '@hitless/db'
import { exitWithError } from '@hitless/protocol'
import { provisionPostgres, provisionRedis } from '@hitless/provision'
import { newTokenSecret } from '../services/controller/src/services/token.service.js'
import { BASE_KERNEL } from '../services/host-agent/src/fleet.js'

const STATE_DIR = join(process.cwd(), '.hitless')
const log = (m: string) => console.log(`hitless: ${m}`)

async function adminToken(): Promise<{ token: string; generated: boolean }> {
  if (process.env.HITLESS_ADMIN_TOKEN) return { token: process.env.HITLESS_ADMIN_TOKEN, generated: false }
  // Kept beside the embedded database so that a restart reuses it; never committed (.gitignore).
  const file = join(STATE_DIR, 'admin-token')
  if (existsSync(file)) return { token: (await readFile(file, 'utf8')).trim(), generated: false }
  const token = newTokenSecret('hlt')
  await writeFile(file, `${token}\n`, { mode: 0o600 })
  await chmod(file, 0o600)
  return { token, generated: true }
}

async function main(): Promise<void> {
  const t0 = Date.now()
  await mkdir(STATE_DIR, { recursive: true })
  const pg = await provisionPostgres({ dataDir: join(STATE_DIR, 'pgdata'), log })
  const redis = await provisionRedis({ dataDir: join(STATE_DIR, 'redis'), log })
  for (const w of redis.warnings) log(`WARNING: ${w}`)
  await applyMigrations(pg.url)
  const { token, generated } = await adminToken()
  const bootRoot = process.env.HITLESS_BOOT_ROOT || join(STATE_DIR, 'host-fs')
  const demoKernel = await writeDemoKernels(bootRoot)
  const port = process.env.PORT ?? '8080'
  const url = `http://127.0.0.1:${port}`
  const env = {
    ...process.env,
    DATABASE_URL: pg.url,
    REDIS_URL: redis.url,
    PORT: port,
    HITLESS_ADMIN_TOKEN: token,
    HITLESS_ENROL_TOKEN: token,
    HITLESS_URL: url,
    HITLESS_BOOT_ROOT: bootRoot,
    HITLESS_LOG: process.env.HITLESS_LOG ?? '0',
  }
  const children: ChildProcess[] = []
  const startChild = (name: string, args: string[]) => {
    const c = spawn(process.execPath, ['--import', 'tsx', ...args], {
      env,
      stdio: ['ignore', 'inherit', 'inherit'],
    })
    c.on('exit', (code, sig) => {
      if (!stopping) {
        log(`${name} exited (${sig ?? code}); stopping`)
        void stop(1)
      }
    })
    children.push(c)
  }
  let stopping = false
  const stop = async (code = 0) => {
    stopping = true
    for (const c of children) c.kill('SIGTERM')
    await Promise.all(
      children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : undefined)),
    )
    await redis.stop()
    await pg.stop()
    process.exit(code)
  }
  process.on('SIGINT', () => void stop())
  process.on('SIGTERM', () => void stop())

  startChild('controller', ['services/controller/src/main.ts'])
  await waitHttp(`${url}/readyz`, 30000)
  startChild('verifier', ['services/verifier/src/main.ts'])
  const hosts = process.env.HITLESS_HOSTS ?? '8'
  startChild('host-agent', ['services/host-agent/src/main.ts', '--hosts', hosts])
  log(`up in ${((Date.now() - t0) / 1000).toFixed(1)} s`)
  log(`API and dashboard: ${url}   OpenAPI: ${url}/docs`)
  log(
    generated
      ? `admin token (generated, also in .hitless/admin-token): ${token}`
      : `admin token: HITLESS_ADMIN_TOKEN or .hitless/admin-token`,
  )
  log(`emulated hosts' boot files: ${bootRoot} (/boot/vmlinuz-X is ${join(bootRoot, 'boot', 'vmlinuz-X')})`)
  if (process.env.HITLESS_DEMO !== '0') await demoRollout(url, token, Number(hosts), demoKernel)
}

async function waitHttp(url: string, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs
  while (Date.now() < end) {
    if (
      await fetch(url).then(
        (r) => r.ok,
        () => false,
      )
    )
      return
    await new Promise((r) => setTimeout(r, 200))
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms`)
}

const DEMO_KERNEL = '7.2.13-hitless1'

/**
 * The emulated hosts' kernel images, where their agent looks (HITLESS_BOOT_ROOT): the demo's
 * target and the fleet's running kernel (a rollback's target). Answers the demo kernel's artifact.
 */
async function writeDemoKernels(root: string): Promise<{ version: string; image: string; sha256: string }> {
  await mkdir(join(root, 'boot'), { recursive: true })
  const artifacts = []
  for (const version of [DEMO_KERNEL, BASE_KERNEL]) {
    const bytes = Buffer.from(`hitless demo kernel image ${version}\n`.repeat(4096))
    const image = `/boot/vmlinuz-${version}`
    await writeFile(join(root, image), bytes)
    artifacts.push({ version, image, sha256: createHash('sha256').update(bytes).digest('hex') })
  }
  return artifacts[0]
}

/** One rollout to rack r1, so that a newcomer sees an update happen. */
async function demoRollout(
  url: string,
  token: string,
  fleetSize: number,
  kernel: { version: string; image: string; sha256: string },
): Promise<void> {
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' }
  for (let i = 0; i < 100; i++) {
    const hosts = (await (await fetch(`${url}/api/v1/hosts?state=READY`, { headers })).json()) as unknown[]
    if (Array.isArray(hosts) && hosts.length >= fleetSize) break
    await new Promise((r) => setTimeout(r, 200))
  }
  const res = await fetch(`${url}/api/v1/rollouts`, {
    method: 'POST',
    headers: { ...headers, 'idempotency-key': `demo-${Date.now()}` },
    body: JSON.stringify({
      name: `demo: rack r1 to ${kernel.version}`,
      kernel,
      strategy: 'serialise',
      selector: { labels: { rack: 'r1' } },
    }),
  })
  const body = (await res.json()) as { id?: string; message?: string }
  log(
    res.ok
      ? `demo rollout ${body.id}: ${url}/api/v1/rollouts/${body.id}`
      : `demo rollout not started: ${body.message}`,
  )
}

main().catch(exitWithError('hitless'))
