import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { type HostUpdateJob, type Rollout, UPDATE_STEPS } from '@hitless/protocol'
import { loadAgentConfig } from '../../services/host-agent/src/config.js'
import { emulatedFleet } from '../../services/host-agent/src/fleet.js'
import { HostAgent } from '../../services/host-agent/src/host-agent.js'
import { runUpdateJob } from '../../services/host-agent/src/update-runner.js'
import { countingHost } from '../support/counting-host.js'
import { api, KERNEL, startPlatform, type TestPlatform, waitFor } from '../support/platform.js'

let p: TestPlatform
before(async () => {
  p = await startPlatform()
})
after(async () => p?.close())

async function jobFor(updateId: string): Promise<HostUpdateJob> {
  const u = await p.db.hostUpdate.findUniqueOrThrow({
    where: { id: updateId },
    include: { rollout: { include: { kernel: true } } },
  })
  return {
    updateId: u.id,
    rolloutId: u.rolloutId,
    hostId: u.hostId,
    attempt: u.attempt,
    epoch: u.dispatchEpoch,
    strategy: 'serialise',
    kernel: {
      version: u.rollout.kernel.version,
      image: u.rollout.kernel.image,
      sha256: u.rollout.kernel.sha256,
    },
  }
}

test('a job delivered twice at once, and again after it finished, has its effects once', async () => {
  // An agent whose hosts are enrolled but whose worker never runs: the test plays the deliveries.
  const cfg = loadAgentConfig(['--hosts', '1', '--agent-id', 'emu-dup'], {
    ...p.agentEnv,
    HITLESS_EMU_STEP_MS: '20',
  })
  const host = countingHost(emulatedFleet(cfg.agentId, 1, cfg.stepMs)[0])
  const agent = new HostAgent(cfg, [host])
  await agent.start()
  await agent.stop() // enrolled; no worker consumes the queue now
  const hostId = (await p.db.host.findFirstOrThrow({ where: { name: host.name } })).id
  const token = agent.tokenFor(hostId)!
  const created = await api<Rollout>(p, p.adminToken, 'POST', '/api/v1/rollouts', {
    kernel: KERNEL,
    strategy: 'serialise',
    selector: { names: [host.name] },
  })
  assert.equal(created.status, 201)
  const updateId = created.body.hosts[0].id
  await waitFor(
    'dispatch',
    async () => (await p.db.hostUpdate.findUnique({ where: { id: updateId } }))?.state === 'QUEUED',
  )
  const job = await jobFor(updateId)
  // Two workers believe they hold the job (the first one's lock was lost).
  const [a, b] = await Promise.all([
    runUpdateJob(job, host, token, agent.client, 'worker-a'),
    runUpdateJob(job, host, token, agent.client, 'worker-b'),
  ])
  const results = [a.result, b.result].sort()
  assert.deepEqual(results, ['abandoned', 'completed'], JSON.stringify([a, b]))
  // Redelivered once more after completion: nothing runs.
  const c = await runUpdateJob(job, host, token, agent.client, 'worker-c')
  assert.equal(c.result, 'abandoned')
  for (const [step, n] of host.runs) assert.equal(n, 1, `${step} ran ${n} times`)
  assert.equal(host.runs.size, 7)
  const steps = await p.db.updateStep.findMany({ where: { updateId } })
  assert.equal(steps.length, 7)
  assert.ok(steps.every((s) => s.status === 'done'))
  await waitFor('verdict', async () => (await p.db.verdictRecord.count({ where: { updateId } })) === 1)
})

test('a claim with a stale epoch or attempt is refused (409)', async () => {
  const u = await p.db.hostUpdate.findFirstOrThrow()
  const job = await jobFor(u.id)
  const enrol = await api<{ hosts: { id: string; token: string }[] }>(
    p,
    p.adminToken,
    'POST',
    '/api/v1/agent/enrol',
    {
      agentId: 'emu-dup',
      hosts: [{ name: 'emu-dup-h000', hardware: 'smmuv3-bbml0', kernel: KERNEL.version, bootId: 'x' }],
    },
  )
  const token = enrol.body.hosts[0].token
  await p.db.hostUpdate.update({ where: { id: u.id }, data: { state: 'QUEUED' } })
  for (const ctx of [
    { attempt: job.attempt, epoch: job.epoch + 1 },
    { attempt: job.attempt + 1, epoch: job.epoch },
  ]) {
    const r = await api<{ code: string }>(p, token, 'POST', `/api/v1/agent/updates/${u.id}/claim`, {
      ...ctx,
      worker: 'w',
      step: 'PREFLIGHT',
    })
    assert.equal(r.status, 409)
    assert.equal(r.body.code, 'HITLESS_E_STALE_CLAIM')
  }
})

test('a job redelivered after its last step was journaled, before the attempt ended, ends it without running a step', async () => {
  const cfg = loadAgentConfig(['--hosts', '1', '--agent-id', 'emu-fin'], {
    ...p.agentEnv,
    HITLESS_EMU_STEP_MS: '5',
  })
  const host = countingHost(emulatedFleet(cfg.agentId, 1, cfg.stepMs)[0])
  const agent = new HostAgent(cfg, [host])
  await agent.start()
  await agent.stop() // enrolled; the test plays the deliveries
  const hostId = (await p.db.host.findFirstOrThrow({ where: { name: host.name } })).id
  const token = agent.tokenFor(hostId)!
  const created = await api<Rollout>(p, p.adminToken, 'POST', '/api/v1/rollouts', {
    kernel: KERNEL,
    strategy: 'serialise',
    selector: { names: [host.name] },
  })
  assert.equal(created.status, 201)
  const updateId = created.body.hosts[0].id
  await waitFor(
    'dispatch',
    async () => (await p.db.hostUpdate.findUnique({ where: { id: updateId } }))?.state === 'QUEUED',
  )
  const job = await jobFor(updateId)
  const ctx = { attempt: job.attempt, epoch: job.epoch, worker: 'worker-a' }
  const steps = `/api/v1/agent/updates/${updateId}/steps`
  // A first worker journals every step, the last one without ending the attempt (it dies there).
  const claim = await api(p, token, 'POST', `/api/v1/agent/updates/${updateId}/claim`, {
    ...ctx,
    step: UPDATE_STEPS[0],
  })
  assert.equal(claim.status, 200)
  for (const [i, step] of UPDATE_STEPS.entries()) {
    const next = UPDATE_STEPS[i + 1]
    const r = await api(p, token, 'POST', steps, {
      ...ctx,
      step,
      status: 'done',
      durationMs: 1,
      ...(next ? { next } : {}),
    })
    assert.equal(r.status, next ? 200 : 204, JSON.stringify(r.body))
  }
  // Malformed combinations are refused before anything is written.
  for (const body of [
    { step: 'FINISH', next: 'FINISH' },
    { step: 'RESTORE', next: 'SNAPSHOT_POST', finish: { outcome: 'completed', bootId: 'b', kernel: 'k' } },
  ]) {
    const r = await api<{ code: string }>(p, token, 'POST', steps, {
      ...ctx,
      status: 'done',
      durationMs: 1,
      ...body,
    })
    assert.equal(r.status, 400, JSON.stringify(r.body))
    assert.equal(r.body.code, 'HITLESS_E_VALIDATION')
  }
  assert.equal((await p.db.hostUpdate.findUniqueOrThrow({ where: { id: updateId } })).state, 'RUNNING')
  // Redelivered: every claim is `skip`, then the attempt ends; nothing runs again.
  const r = await runUpdateJob(job, host, token, agent.client, 'worker-b')
  assert.equal(r.result, 'completed', JSON.stringify(r))
  assert.equal(host.runs.size, 0)
  await waitFor('verdict', async () => (await p.db.verdictRecord.count({ where: { updateId } })) === 1)
  // The journal row of the last step was not touched again.
  const rows = await p.db.updateStep.findMany({ where: { updateId } })
  assert.equal(rows.length, 7)
  assert.ok(rows.every((s) => s.status === 'done' && s.durationMs === 1))
  // Times are written as UTC whatever the process's time zone (Prisma reads them back so).
  const u = await p.db.hostUpdate.findUniqueOrThrow({ where: { id: updateId } })
  for (const t of [rows[0].startedAt, u.claimedAt!, u.startedAt!, u.finishedAt!])
    assert.ok(Math.abs(t.getTime() - Date.now()) < 60000, `${t.toISOString()} is not about now`)
})
