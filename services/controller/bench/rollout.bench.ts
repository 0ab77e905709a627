// Benchmarks of the rollout engine (npm run bench -- controller). Ratios against baselines
// measured in the same run (issue 7):
// - makespan of a 1,000-host emulated rollout (max concurrency 50, canary and waves, spread over
//   racks, per-host durations from a seeded distribution) against the ideal schedule obeying
//   the same policy with the same durations: target ≤ 1.15×;
// - p99 of GET /api/v1/rollouts/:id under 200 concurrent connections against a fastify
//   hello-world in the same process: target ≤ 3×.
import { spawn } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import Fastify from 'fastify'
import { resolvePolicy } from '../src/planner/policy.js'
import { planWaves } from '../src/planner/wave-plan.js'
import type { Rollout, RolloutPolicy } from '@hitless/protocol'
import { UPDATE_STEPS } from '@hitless/protocol'
import { seededDurations } from '../../host-agent/src/fleet.js'
import { api, KERNEL, startPlatform, waitFor } from '../../../test/support/platform.js'
import { idealMakespanMs } from './ideal-schedule.js'
import { type AgentTrace, breakdown, Recorder } from './makespan-breakdown.js'

const HOSTS = Number(process.env.BENCH_HOSTS ?? 1000)
/**
 * Processes that burn a core each during the rollout (BENCH_BACKGROUND_LOAD=2: two), so that a
 * run under load is reproducible by command rather than by whatever else the machine runs.
 */
const BACKGROUND_LOAD = Number(process.env.BENCH_BACKGROUND_LOAD ?? 0)
const SEED = 20261125
const POLICY: RolloutPolicy = {
  canary: 10,
  waves: ['10%', '30%', '100%'],
  maxConcurrent: 50,
  spreadBy: 'rack',
  errorBudget: 0,
  onUnverified: 'continue',
}

// Per-host update times: log-normal, median 1.5 s, σ 0.4, clamped to [0.5, 5] s, split over the
// steps (services/host-agent/src/fleet.ts, seededDurations): the agent process draws the same.
const { stepMs } = seededDurations(SEED, HOSTS)

/**
 * The machine's CPU time (all cores) as [busy, total, interrupts, steal] jiffies, for the load
 * during the rollout. Interrupt time (irq, softirq: loopback TCP among others) is charged to no
 * process; steal is time the hypervisor gave to other guests.
 */
function cpuTimes(): [number, number, number, number] {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number)
  const idle = f[3] + (f[4] ?? 0)
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0)
  return [total - idle, total, (f[5] ?? 0) + (f[6] ?? 0), f[7] ?? 0]
}

/** CPU jiffies used so far by PostgreSQL's and Redis's processes and by the given pids. */
function cpuByGroup(pids: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = { postgres: 0, redis: 0 }
  for (const k of Object.keys(pids)) out[k] = 0
  const byPid = new Map(Object.entries(pids).map(([k, v]) => [v, k]))
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue
    let stat: string
    try {
      stat = readFileSync(`/proc/${d}/stat`, 'utf8')
    } catch {
      continue
    }
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const t = Number(f[11]) + Number(f[12]) // utime + stime
    const group =
      byPid.get(Number(d)) ??
      (comm === 'postgres' ? 'postgres' : comm.startsWith('redis') ? 'redis' : undefined)
    if (group) out[group] += t
  }
  return out
}

const rows: { name: string; value: string; ratio: string; target: string; ok: boolean }[] = []

/** Closed-loop load from a child process (so the client does not share the server's event loop). */
function load(
  url: string,
  token: string | undefined,
  connections: number,
  seconds: number,
): Promise<{ p50: number; p99: number; rps: number; errors: number }> {
  const script = `
    import http from 'node:http'
    const [url, token, conns, secs] = process.argv.slice(1)
    const agent = new http.Agent({ keepAlive: true, maxSockets: Number(conns) })
    const lat = []; let errors = 0; const end = Date.now() + Number(secs) * 1000; const warm = Date.now() + 1000
    const one = () => new Promise((res) => {
      const t0 = process.hrtime.bigint()
      const req = http.get(url, { agent, headers: token ? { authorization: 'Bearer ' + token } : {} }, (r) => {
        r.resume(); r.on('end', () => { if (r.statusCode !== 200) errors++; if (Date.now() > warm) lat.push(Number(process.hrtime.bigint() - t0) / 1e6); res() })
      })
      req.on('error', () => { errors++; res() })
    })
    await Promise.all(Array.from({ length: Number(conns) }, async () => { while (Date.now() < end) await one() }))
    lat.sort((a, b) => a - b)
    const q = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]
    console.log(JSON.stringify({ p50: q(0.5), p99: q(0.99), rps: lat.length / (Number(secs) - 1), errors }))
    agent.destroy()
  `
  return new Promise((resolve, reject) => {
    const c = spawn(
      process.execPath,
      ['--input-type=module', '-e', script, url, token ?? '', String(connections), String(seconds)],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    )
    let out = ''
    c.stdout.on('data', (d) => {
      out += d
    })
    c.on('exit', (code) =>
      code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`load generator exited ${code}`)),
    )
  })
}

async function main(): Promise<void> {
  const p = await startPlatform({
    loopMs: 50,
    dbPool: 40,
    // The light agent heartbeats every 10 minutes: a host is silent only past an hour.
    heartbeatTimeoutMs: 3600000,
    env: { HITLESS_RATE_LIMIT: '100000000', HITLESS_CLAIM_TAKEOVER_MS: '30000' },
  })
  const rec = new Recorder(p.controller, p.verifier)
  // Light agent mode, in its own process as agents are: stub hosts (no IOMMU emulation) with
  // the seeded durations, heartbeats every 10 minutes. agent-trace.ts records its calls.
  const t0 = Date.now()
  const traceFile = join(tmpdir(), `hitless-bench-agent-${process.pid}.json`)
  const agent = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      '--import',
      './services/controller/bench/agent-trace.ts',
      'services/host-agent/src/main.ts',
      '--hosts',
      String(HOSTS),
      '--agent-id',
      'bench',
    ],
    {
      env: {
        ...process.env,
        ...p.agentEnv,
        HITLESS_HEARTBEAT_MS: '600000',
        HITLESS_EMU_DURATION_SEED: String(SEED),
        BENCH_AGENT_TRACE: traceFile,
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  )
  const agentExit = new Promise<number | null>((r) => agent.on('exit', r))
  let agentGone = false
  void agentExit.then(() => {
    agentGone = true
  })
  const agentAlive = () => {
    if (agentGone) throw new Error('the agent process exited (see its error above)')
  }
  await waitFor(
    'enrolment',
    async () => {
      agentAlive()
      return (await p.db.host.count({ where: { agentId: 'bench' } })) === HOSTS
    },
    120000,
    200,
  )
  await new Promise((r) => setTimeout(r, 1000)) // its worker connects
  console.log(`enrolled ${HOSTS} emulated hosts in ${((Date.now() - t0) / 1000).toFixed(1)} s`)

  // ---- makespan against the ideal schedule ----
  const created = await api<Rollout>(p, p.adminToken, 'POST', '/api/v1/rollouts', {
    kernel: KERNEL,
    strategy: 'serialise',
    selector: { labels: { fleet: 'bench' } },
    policy: POLICY,
  })
  if (created.status !== 201) throw new Error(JSON.stringify(created.body))
  const id = created.body.id
  const burners = Array.from({ length: BACKGROUND_LOAD }, () =>
    spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }),
  )
  const stopBurners = () => {
    for (const b of burners) b.kill('SIGKILL')
  }
  process.on('exit', stopBurners) // whatever ends the bench, they must not outlive it
  const cpu0 = process.cpuUsage()
  const wall0 = Date.now()
  const load0 = loadavg()[0]
  const [busy0, total0, irq0, steal0] = cpuTimes()
  const groups: Record<string, number> = { 'controller+verifier': process.pid, agent: agent.pid ?? -1 }
  burners.forEach((b, i) => {
    groups[`background load ${i + 1}`] = b.pid ?? -1
  })
  const byGroup0 = cpuByGroup(groups)
  let waitErr: unknown
  await waitFor(
    'the 1,000-host rollout',
    async () => {
      try {
        agentAlive()
      } catch (e) {
        waitErr = e
        return true
      }
      return (await p.db.rollout.findUniqueOrThrow({ where: { id } })).phase === 'COMPLETED'
    },
    30 * 60 * 1000,
    200,
  )
  if (waitErr) {
    stopBurners()
    throw waitErr
  }
  const cpu = process.cpuUsage(cpu0)
  const [busy1, total1, irq1, steal1] = cpuTimes()
  const machineBusy = (busy1 - busy0) / (total1 - total0)
  // Who used the machine's CPU during the rollout, in cores (the rest is other work on the machine).
  const byGroup1 = cpuByGroup(groups)
  stopBurners()
  const cores = (j: number) => (j / (total1 - total0)) * cpus().length
  const used = Object.keys(byGroup1).map((k) => [k, cores(byGroup1[k] - byGroup0[k])] as const)
  const irq = cores(irq1 - irq0)
  const steal = cores(steal1 - steal0)
  const others = cores(busy1 - busy0) - used.reduce((a, [, c]) => a + c, 0) - irq - steal
  console.log(
    `CPU during the rollout, in cores of ${cpus().length}: ${used.map(([k, c]) => `${k} ${c.toFixed(2)}`).join(', ')}, interrupts ${irq.toFixed(2)}, steal ${steal.toFixed(2)}, other processes ${others.toFixed(2)}`,
  )
  const loadDesc = `${BACKGROUND_LOAD ? `BENCH_BACKGROUND_LOAD=${BACKGROUND_LOAD}, ` : ''}load average ${load0.toFixed(1)} → ${loadavg()[0].toFixed(1)}, machine CPU ${(machineBusy * 100).toFixed(0)}% busy`
  console.log(
    `controller+verifier process CPU: ${(((cpu.user + cpu.system) / 1000 / (Date.now() - wall0)) * 100).toFixed(0)}% of one core; ${loadDesc}`,
  )
  const waves = await p.db.wave.findMany({ where: { rolloutId: id }, orderBy: { index: 'asc' } })
  const actual = waves[waves.length - 1].finishedAt!.getTime() - waves[0].startedAt!.getTime()
  const hosts = await p.db.host.findMany({ where: { agentId: 'bench' } })
  const policy = resolvePolicy(POLICY)
  const planned = planWaves(
    hosts.map((h) => ({ id: h.id, name: h.name, labels: h.labels as Record<string, string> })),
    policy,
  )
  // Host i of the emulated fleet is named bench-h<i>; its durations are hostMs[i].
  const byId = new Map(hosts.map((h) => [h.id, h]))
  const idx = (hostId: string) => Number(byId.get(hostId)!.name.split('-h')[1])
  const ideal = idealMakespanMs(
    planned,
    policy,
    (hostId) => UPDATE_STEPS.reduce((a, s) => a + stepMs(idx(hostId), s), 0),
    (hostId) => (byId.get(hostId)!.labels as Record<string, string>).rack,
  )
  // Where the time beyond the ideal goes (makespan-breakdown.ts), printed once the agent's
  // trace is written.
  const ups = await p.db.hostUpdate.findMany({
    where: { rolloutId: id },
    include: { steps: true, verdict: true },
  })
  const summary = await api<Rollout>(p, p.adminToken, 'GET', `/api/v1/rollouts/${id}`)
  const mk = actual / ideal
  rows.push({
    name: `makespan, ${HOSTS} hosts, max 50, canary 10 + waves 10%/30%/rest, spread by rack`,
    value: `${(actual / 1000).toFixed(1)} s vs ideal ${(ideal / 1000).toFixed(1)} s (${summary.body.summary.needsReview} hosts done; ${loadDesc})`,
    ratio: `${mk.toFixed(3)}x`,
    target: '<= 1.15x',
    ok: mk <= 1.15 && summary.body.summary.needsReview === HOSTS,
  })
  agent.kill('SIGTERM')
  await agentExit
  let trace: AgentTrace | undefined
  try {
    trace = JSON.parse(readFileSync(traceFile, 'utf8')) as AgentTrace
  } catch {
    console.log('(no agent trace)')
  }
  const bd = breakdown({
    rec,
    agent: trace,
    updates: ups,
    durationMs: (hostId, s) => stepMs(idx(hostId), s),
    concurrency: 50,
    windowStart: waves[0].startedAt!.getTime(),
    windowEnd: waves[waves.length - 1].finishedAt!.getTime(),
    idealMs: ideal,
  })
  for (const l of bd.lines) console.log(l)

  // ---- API p99 against a hello world, same process, same load ----
  const small = await api<Rollout>(p, p.adminToken, 'POST', '/api/v1/rollouts', {
    kernel: { ...KERNEL, version: '7.2.14-bench' },
    strategy: 'serialise',
    selector: {
      names: hosts
        .map((h) => h.name)
        .sort()
        .slice(0, 20),
    },
  })
  const hello = Fastify()
  hello.get('/', async () => ({ hello: 'world' }))
  await hello.listen({ port: 0, host: '127.0.0.1' })
  const helloUrl = `http://127.0.0.1:${(hello.server.address() as AddressInfo).port}/`
  const seconds = 6
  const base = await load(helloUrl, undefined, 200, seconds)
  const small20 = await load(`${p.url}/api/v1/rollouts/${small.body.id}`, p.adminToken, 200, seconds)
  const big = await load(`${p.url}/api/v1/rollouts/${id}`, p.adminToken, 200, seconds)
  const bytes = (await api(p, p.adminToken, 'GET', `/api/v1/rollouts/${small.body.id}`)).body
  const bigBytes = JSON.stringify((await api(p, p.adminToken, 'GET', `/api/v1/rollouts/${id}`)).body).length
  rows.push({
    name: 'hello world p99 (baseline), 200 connections',
    value: `${base.p99.toFixed(1)} ms p99, ${base.p50.toFixed(1)} ms p50, ${Math.round(base.rps)} req/s`,
    ratio: '1x',
    target: '',
    ok: base.errors === 0,
  })
  const r20 = small20.p99 / base.p99
  rows.push({
    name: `GET /api/v1/rollouts/:id p99, 20-host rollout (${JSON.stringify(bytes).length} B)`,
    value: `${small20.p99.toFixed(1)} ms p99, ${small20.p50.toFixed(1)} ms p50, ${Math.round(small20.rps)} req/s`,
    ratio: `${r20.toFixed(2)}x`,
    target: '<= 3x',
    ok: r20 <= 3 && small20.errors === 0,
  })
  rows.push({
    name: `GET /api/v1/rollouts/:id p99, ${HOSTS}-host rollout (${bigBytes} B; for information)`,
    value: `${big.p99.toFixed(1)} ms p99, ${big.p50.toFixed(1)} ms p50, ${Math.round(big.rps)} req/s`,
    ratio: `${(big.p99 / base.p99).toFixed(2)}x`,
    target: '',
    ok: big.errors === 0,
  })
  await hello.close()
  await p.close()

  const w = Math.max(...rows.map((r) => r.name.length))
  for (const r of rows)
    console.log(
      `${r.ok ? 'ok ' : 'BAD'} ${r.name.padEnd(w)}  ${r.value}  ${r.ratio}${r.target ? ` (target ${r.target})` : ''}`,
    )
  process.exit(rows.every((r) => r.ok) ? 0 : 1)
}

main().catch((e: unknown) => {
  console.error(e)
  process.exit(1)
})
