import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { after, before, test } from 'node:test'
import type { Rollout, UpdateStep } from '@hitless/protocol'
import { loadAgentConfig } from '../../services/host-agent/src/config.js'
import { emulatedFleet } from '../../services/host-agent/src/fleet.js'
import { HostAgent } from '../../services/host-agent/src/host-agent.js'
import { countingHost } from '../support/counting-host.js'
import { api, KERNEL, startPlatform, type TestPlatform, waitFor } from '../support/platform.js'

// Two controller replicas on one PostgreSQL: A (a child process) leads, B (in-process) follows
// and serves the agents. kill -9 of A mid-rollout: B takes the lease with a new epoch and the
// rollout goes on from PostgreSQL; no host is updated twice and none is skipped.

let p: TestPlatform
let leader: ChildProcess | undefined
let agent: HostAgent
const hosts = emulatedFleet('emu-ha', 12, 60).map(countingHost)

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })
}

before(async () => {
  p = await startPlatform({ leaseMs: 1500, loopMs: 100, startLoop: false })
  leader = spawn(process.execPath, ['--import', 'tsx', 'services/controller/src/main.ts'], {
    env: {
      ...process.env,
      DATABASE_URL: p.databaseUrl,
      REDIS_URL: p.redisUrl,
      HITLESS_REDIS_PREFIX: p.redisPrefix,
      PORT: String(await freePort()),
      HITLESS_ADMIN_TOKEN: p.adminToken,
      HITLESS_LEASE_MS: '1500',
      HITLESS_LOOP_MS: '100',
      HITLESS_LOG: '0',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  leader.stdout?.resume()
  leader.stderr?.resume()
  await waitFor('replica A to lead', async () => {
    const l = await p.db.controllerLease.findUnique({ where: { id: 1 } })
    return l && l.holder !== p.controller.ctx.lease.holder
  })
  p.controller.ctx.loop.start() // B: a follower until A's lease expires
  const cfg = loadAgentConfig(['--hosts', '12', '--agent-id', 'emu-ha'], p.agentEnv)
  agent = new HostAgent(cfg, hosts)
  await agent.start()
})

after(async () => {
  leader?.kill('SIGKILL')
  await agent?.stop()
  await p?.close()
})

test('kill -9 of the leading controller mid-rollout: the follower takes over, no host twice, none skipped', async () => {
  const epochBefore = (await p.db.controllerLease.findUniqueOrThrow({ where: { id: 1 } })).epoch
  const created = await api<Rollout>(p, p.adminToken, 'POST', '/api/v1/rollouts', {
    kernel: KERNEL,
    strategy: 'serialise',
    selector: { labels: { fleet: 'emu-ha' } },
    policy: { canary: 1, waves: ['100%'], maxConcurrent: 3, onUnverified: 'continue' },
  })
  assert.equal(created.status, 201)
  const id = created.body.id
  // Kill A while hosts are in flight and others are still pending.
  await waitFor('a rollout in mid-flight', async () => {
    const us = await p.db.hostUpdate.findMany({ where: { rolloutId: id } })
    const n = (s: string[]) => us.filter((u) => s.includes(u.state)).length
    return n(['NEEDS_REVIEW']) >= 3 && n(['QUEUED', 'RUNNING', 'VERIFYING']) >= 1 && n(['PENDING']) >= 3
  })
  leader!.kill('SIGKILL')
  await new Promise((r) => leader!.once('exit', r))
  const done = await waitFor(
    'the rollout to complete under replica B',
    async () => {
      const r = await api<Rollout>(p, p.adminToken, 'GET', `/api/v1/rollouts/${id}`)
      return r.body.phase === 'COMPLETED' ? r.body : undefined
    },
    60000,
  )
  const lease = await p.db.controllerLease.findUniqueOrThrow({ where: { id: 1 } })
  assert.equal(lease.holder, p.controller.ctx.lease.holder)
  assert.ok(lease.epoch > epochBefore, 'takeover bumps the epoch')
  // None skipped: every host updated, on attempt 1, every step done.
  assert.equal(done.summary.needsReview, 12)
  for (const h of done.hosts) {
    assert.equal(h.attempt, 1)
    assert.equal(h.steps.length, 7)
  }
  // None twice: each host ran each step exactly once.
  for (const h of hosts) {
    assert.equal(h.runs.size, 7, `${h.name} ran ${h.runs.size} distinct steps`)
    for (const [step, n] of h.runs) assert.equal(n, 1, `${h.name} ran ${step as UpdateStep} ${n} times`)
    assert.equal(h.kernel(), KERNEL.version)
  }
  // Updates dispatched after the takeover carry the new epoch.
  const epochs = await p.db.hostUpdate.groupBy({
    by: ['dispatchEpoch'],
    where: { rolloutId: id },
    _count: true,
  })
  assert.ok(
    epochs.some((e) => e.dispatchEpoch === lease.epoch),
    JSON.stringify(epochs),
  )
})
