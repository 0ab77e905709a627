import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import type { HostUpdate, Rollout } from '@hitless/protocol'
import { loadAgentConfig } from '../../services/host-agent/src/config.js'
import { emulatedFleet } from '../../services/host-agent/src/fleet.js'
import { HostAgent } from '../../services/host-agent/src/host-agent.js'
import { parseStubFaults } from '../../services/host-agent/src/runtime/stub-emulated-host.js'
import { api, KERNEL, startPlatform, type TestPlatform, waitFor } from '../support/platform.js'

// The rollout engine end to end: 24 emulated hosts on 6 racks, a canary, waves, max concurrency,
// spread over racks, a failing host that spends the error budget and halts the rollout, a retry,
// a resume; the default pause on an unverified verdict; a host that never comes back.

let p: TestPlatform
const agents: HostAgent[] = []

async function startAgent(id: string, hosts: number, faults = '', hangMs?: number): Promise<HostAgent> {
  const cfg = loadAgentConfig(['--hosts', String(hosts), '--agent-id', id], {
    ...p.agentEnv,
    HITLESS_EMU_STEP_MS: '25',
  })
  const agent = new HostAgent(
    cfg,
    emulatedFleet(id, hosts, cfg.stepMs, { faults: parseStubFaults(faults), ...(hangMs ? { hangMs } : {}) }),
  )
  await agent.start()
  agents.push(agent)
  return agent
}

before(async () => {
  p = await startPlatform({ loopMs: 100 })
})
after(async () => {
  for (const a of agents) await a.stop()
  await p?.close()
})

const get = async (id: string) => (await api<Rollout>(p, p.adminToken, 'GET', `/api/v1/rollouts/${id}`)).body
const rackOf = (name: string) => `r${Math.floor(Number(name.slice(-3)) / 4) + 1}`

/** Each update's busy interval: first step claimed → verdict recorded (what concurrency counts). */
async function intervals(rolloutId: string) {
  const rows = await p.db.hostUpdate.findMany({
    where: { rolloutId, startedAt: { not: null } },
    include: { host: true, verdict: true, steps: true },
  })
  return rows.map((u) => ({
    host: u.host.name,
    start: Math.min(...u.steps.map((s) => s.startedAt.getTime())),
    end: (u.verdict?.createdAt ?? u.finishedAt ?? new Date()).getTime(),
  }))
}

test('canary, waves, concurrency and rack spread; a failure past the budget halts; retry and resume finish it', async () => {
  // Wave order with spread over 6 racks: h000 (canary), then h004 h008 h012 h016 h020, then the
  // rest starting with h001 and h005: those two fail at PREFLIGHT (h001 only on its first attempt).
  await startAgent('emu-eng', 24, 'emu-eng-h001:PREFLIGHT@1,emu-eng-h005:PREFLIGHT')
  const plan = await api<{ waves: { kind: string; hosts: string[] }[] }>(
    p,
    p.adminToken,
    'POST',
    '/api/v1/rollouts',
    {
      kernel: KERNEL,
      strategy: 'serialise',
      selector: { labels: { fleet: 'emu-eng' } },
      policy: {
        canary: 1,
        waves: [5, '100%'],
        maxConcurrent: 4,
        spreadBy: 'rack',
        errorBudget: 1,
        onUnverified: 'continue',
      },
      dryRun: true,
    },
  )
  assert.equal(plan.status, 200, JSON.stringify(plan.body))
  assert.deepEqual(
    plan.body.waves.map((w) => [w.kind, w.hosts.length]),
    [
      ['canary', 1],
      ['wave', 5],
      ['wave', 18],
    ],
  )
  assert.deepEqual(plan.body.waves[1].hosts, [
    'emu-eng-h004',
    'emu-eng-h008',
    'emu-eng-h012',
    'emu-eng-h016',
    'emu-eng-h020',
  ])
  assert.equal(await p.db.rollout.count(), 0, 'dry run creates nothing')

  const created = await api<Rollout>(p, p.adminToken, 'POST', '/api/v1/rollouts', {
    kernel: KERNEL,
    strategy: 'serialise',
    selector: { labels: { fleet: 'emu-eng' } },
    policy: {
      canary: 1,
      waves: [5, '100%'],
      maxConcurrent: 4,
      spreadBy: 'rack',
      errorBudget: 1,
      onUnverified: 'continue',
    },
  })
  assert.equal(created.status, 201, JSON.stringify(created.body))
  const id = created.body.id
  const halted = await waitFor(
    'halt',
    async () => {
      const r = await get(id)
      return r.phase === 'HALTED' ? r : undefined
    },
    60000,
  )
  assert.match(halted.phaseReason ?? '', /error budget exhausted: 2 failed host\(s\) > budget 1/)
  const failed = halted.hosts
    .filter((h) => h.state === 'FAILED')
    .map((h) => h.hostName)
    .sort()
  assert.deepEqual(failed, ['emu-eng-h001', 'emu-eng-h005'])
  // Nothing starts after a halt: in-flight hosts end, the rest stay PENDING.
  await new Promise((r) => setTimeout(r, 500))
  const still = await get(id)
  assert.equal(still.phase, 'HALTED')
  assert.ok(
    still.hosts.some((h) => h.state === 'PENDING'),
    'hosts left to do',
  )
  assert.ok(still.hosts.every((h) => !['QUEUED', 'RUNNING', 'VERIFYING'].includes(h.state)))

  // Retry h001 (it succeeds on attempt 2); h005 alone is within the budget: resume goes on.
  const retried = await api<Rollout>(
    p,
    p.adminToken,
    'POST',
    `/api/v1/rollouts/${id}/hosts/emu-eng-h001/retry`,
  )
  assert.equal(retried.status, 200, JSON.stringify(retried.body))
  const pending = still.hosts.find((h) => h.state === 'PENDING')!.hostName
  const again = await api<{ code: string }>(
    p,
    p.adminToken,
    'POST',
    `/api/v1/rollouts/${id}/hosts/${pending}/retry`,
  )
  assert.equal(again.status, 409, 'a host not yet run cannot be retried')
  const resumed = await api<Rollout>(p, p.adminToken, 'POST', `/api/v1/rollouts/${id}/resume`, {
    reason: 'h001 retried',
  })
  assert.equal(resumed.status, 200)
  const done = await waitFor(
    'completion',
    async () => {
      const r = await get(id)
      return r.phase === 'COMPLETED' ? r : undefined
    },
    60000,
  )
  assert.equal(done.summary.needsReview, 23)
  assert.equal(done.summary.failed, 1)
  const h001 = done.hosts.find((h) => h.hostName === 'emu-eng-h001')!
  assert.equal(h001.attempt, 2)
  assert.equal(h001.state, 'NEEDS_REVIEW')
  assert.deepEqual(
    done.waves.map((w) => [w.kind, w.hostCount, w.startedAt !== null, w.finishedAt !== null]),
    [
      ['canary', 1, true, true],
      ['wave', 5, true, true],
      ['wave', 18, true, true],
    ],
  )

  // The schedule obeyed the policy.
  const iv = await intervals(id)
  const canary = iv.find((x) => x.host === 'emu-eng-h000')!
  for (const x of iv)
    if (x !== canary) assert.ok(x.start >= canary.end, `${x.host} started before the canary ended`)
  const wave1 = new Set(plan.body.waves[1].hosts)
  const wave1End = Math.max(...iv.filter((x) => wave1.has(x.host)).map((x) => x.end))
  for (const x of iv)
    if (!wave1.has(x.host) && x !== canary) assert.ok(x.start >= wave1End, `${x.host} started in wave 1`)
  const events = iv.flatMap((x) => [
    { t: x.start, d: 1, host: x.host },
    { t: x.end, d: -1, host: x.host },
  ])
  events.sort((a, b) => a.t - b.t || a.d - b.d)
  let inFlight = 0
  const byRack = new Map<string, number>()
  for (const e of events) {
    inFlight += e.d
    const r = rackOf(e.host)
    byRack.set(r, (byRack.get(r) ?? 0) + e.d)
    assert.ok(inFlight <= 4, `more than 4 hosts at once at ${e.t}`)
    assert.ok((byRack.get(r) ?? 0) <= 1, `two hosts of rack ${r} at once at ${e.t}`)
  }
  // Every operator action and every decision of the loop is in the audit log.
  const audit = await api<{ actor: string; action: string }[]>(
    p,
    p.adminToken,
    'GET',
    `/api/v1/audit?target=${id}`,
  )
  const actions = audit.body.map((a) => a.action)
  for (const a of [
    'rollout.create',
    'rollout.halt',
    'rollout.retry-host',
    'rollout.resume',
    'rollout.complete',
  ])
    assert.ok(actions.includes(a), `audit has ${a}: ${actions.join(', ')}`)
})

test('an unverified verdict pauses the rollout by default until a human resumes it', async () => {
  await startAgent('emu-gate', 2)
  const created = await api<Rollout>(p, p.adminToken, 'POST', '/api/v1/rollouts', {
    kernel: KERNEL,
    strategy: 'serialise',
    selector: { labels: { fleet: 'emu-gate' } },
  })
  assert.equal(created.status, 201)
  const id = created.body.id
  assert.equal(created.body.policy.onUnverified, 'pause')
  const paused = await waitFor('pause', async () => {
    const r = await get(id)
    return r.phase === 'PAUSED' ? r : undefined
  })
  assert.match(paused.phaseReason ?? '', /emu-gate-h000: verdict unverified needs a human/)
  assert.equal(paused.hosts.find((h) => h.hostName === 'emu-gate-h001')!.state, 'PENDING')
  const viewer = await p.controller.ctx.tokens.create('viewer', 'viewer')
  assert.equal((await api(p, viewer, 'POST', `/api/v1/rollouts/${id}/resume`)).status, 403)
  assert.equal((await api(p, p.adminToken, 'POST', `/api/v1/rollouts/${id}/resume`)).status, 200)
  const pausedAgain = await waitFor('second pause', async () => {
    const r = await get(id)
    return r.phase === 'PAUSED' && r.hosts.every((h) => h.state === 'NEEDS_REVIEW') ? r : undefined
  })
  assert.match(pausedAgain.phaseReason ?? '', /emu-gate-h001/)
  await api(p, p.adminToken, 'POST', `/api/v1/rollouts/${id}/resume`)
  await waitFor('completion', async () => (await get(id)).phase === 'COMPLETED')
  // pause and abort from the API
  const second = await api<Rollout>(p, p.adminToken, 'POST', '/api/v1/rollouts', {
    kernel: { ...KERNEL, version: '7.2.14-hitless1' },
    strategy: 'serialise',
    selector: { labels: { fleet: 'emu-gate' } },
    policy: { canary: 0, maxConcurrent: 1, windows: [{ cron: '0 0 1 1 *', durationMinutes: 60 }] },
  })
  assert.equal(second.status, 201)
  await waitFor('waiting for its window', async () =>
    /outside maintenance windows/.test((await get(second.body.id)).phaseReason ?? ''),
  )
  assert.equal((await api(p, p.adminToken, 'POST', `/api/v1/rollouts/${second.body.id}/pause`)).status, 200)
  assert.equal((await api(p, p.adminToken, 'POST', `/api/v1/rollouts/${second.body.id}/pause`)).status, 409)
  const aborted = await api<Rollout>(p, p.adminToken, 'POST', `/api/v1/rollouts/${second.body.id}/abort`, {
    reason: 'test',
  })
  assert.equal(aborted.body.phase, 'ABORTED')
  assert.ok(aborted.body.hosts.every((h) => h.state === 'CANCELLED'))
})

test('a host that never comes back from KEXEC is failed and held past the deadline, and halts the rollout', async () => {
  await startAgent('emu-hang', 2, 'emu-hang-h000:KEXEC:hang', 4000)
  const created = await api<Rollout>(p, p.adminToken, 'POST', '/api/v1/rollouts', {
    kernel: KERNEL,
    strategy: 'serialise',
    selector: { labels: { fleet: 'emu-hang' } },
    policy: { returnDeadlineSeconds: 1, onUnverified: 'continue' },
  })
  assert.equal(created.status, 201)
  const r = await waitFor('halt', async () => {
    const x = await get(created.body.id)
    return x.phase === 'HALTED' ? x : undefined
  })
  const h: HostUpdate = r.hosts.find((x) => x.hostName === 'emu-hang-h000')!
  assert.equal(h.state, 'FAILED_HELD')
  assert.match(h.failureReason ?? '', /did not come back within 1 s of KEXEC/)
  assert.equal(
    r.hosts.find((x) => x.hostName === 'emu-hang-h001')!.state,
    'PENDING',
    'the halt started nothing more',
  )
  const host = await api<{ state: string; updates: HostUpdate[] }>(
    p,
    p.adminToken,
    'GET',
    '/api/v1/hosts/emu-hang-h000',
  )
  assert.equal(host.body.state, 'FAILED_HELD')
  assert.equal(host.body.updates[0].id, h.id, 'host detail lists its update history')
})
