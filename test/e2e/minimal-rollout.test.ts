import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import type { Rollout } from '@hitless/protocol'
import { loadAgentConfig } from '../../services/host-agent/src/config.js'
import { emulatedFleet } from '../../services/host-agent/src/fleet.js'
import { HostAgent } from '../../services/host-agent/src/host-agent.js'
import { api, KERNEL, startPlatform, type TestPlatform, waitFor } from '../support/platform.js'

let p: TestPlatform
let agent: HostAgent

before(async () => {
  p = await startPlatform()
  const cfg = loadAgentConfig(['--hosts', '5', '--agent-id', 'emu-min'], {
    ...p.agentEnv,
    HITLESS_EMU_STEP_MS: '5',
  })
  agent = new HostAgent(cfg, emulatedFleet(cfg.agentId, cfg.hosts, cfg.stepMs))
  await agent.start()
})

after(async () => {
  await agent?.stop()
  await p?.close()
})

test('a rollout over 5 emulated hosts runs every step on each and records an unverified verdict', async () => {
  const hosts = await api<{ name: string; state: string }[]>(p, p.adminToken, 'GET', '/api/v1/hosts')
  assert.equal(hosts.status, 200)
  assert.equal(hosts.body.length, 5)
  const created = await api<Rollout>(p, p.adminToken, 'POST', '/api/v1/rollouts', {
    kernel: KERNEL,
    strategy: 'serialise',
    selector: { labels: { fleet: 'emu-min' } },
    // These stub hosts upload no snapshots: every verdict is unverified, which pauses by default.
    policy: { onUnverified: 'continue', maxConcurrent: '100%' },
  })
  assert.equal(created.status, 201, JSON.stringify(created.body))
  assert.equal(created.body.summary.hosts, 5)
  const done = await waitFor('rollout to complete', async () => {
    const r = await api<Rollout>(p, p.adminToken, 'GET', `/api/v1/rollouts/${created.body.id}`)
    return r.body.phase === 'COMPLETED' ? r.body : undefined
  })
  for (const h of done.hosts) {
    assert.deepEqual(
      h.steps.map((s) => `${s.step}:${s.status}`),
      ['PREFLIGHT', 'SNAPSHOT_PRE', 'PRESERVE', 'KEXEC', 'RESTORE', 'SNAPSHOT_POST', 'FINISH'].map(
        (s) => `${s}:done`,
      ),
    )
    for (const s of h.steps) assert.ok(typeof s.durationMs === 'number' && s.durationMs >= 0)
    // No snapshots yet on these hosts: the verifier must never call that hitless.
    assert.equal(h.verdict, 'unverified')
    assert.equal(h.state, 'NEEDS_REVIEW')
    const v = await api<{ verdict: string; reasons: string[] }>(
      p,
      p.adminToken,
      'GET',
      `/api/v1/updates/${h.id}/verdict`,
    )
    assert.equal(v.status, 200)
    assert.match(v.body.reasons.join(' '), /snapshot/)
  }
  const after = await api<{ kernel: string; state: string }[]>(p, p.adminToken, 'GET', '/api/v1/hosts')
  for (const h of after.body) {
    assert.equal(h.kernel, KERNEL.version)
    assert.equal(h.state, 'READY')
  }
})

test('a host already in an active rollout is refused by another (409) and nothing is created', async () => {
  const before = await p.db.rollout.count()
  await p.db.hostUpdate.updateMany({ data: { state: 'RUNNING' } })
  await p.db.rollout.updateMany({ data: { phase: 'RUNNING' } })
  const r = await api<{ code: string; message: string }>(p, p.adminToken, 'POST', '/api/v1/rollouts', {
    kernel: KERNEL,
    strategy: 'serialise',
    selector: {},
  })
  assert.equal(r.status, 409)
  assert.equal(await p.db.rollout.count(), before)
  await p.db.hostUpdate.updateMany({ data: { state: 'NEEDS_REVIEW' } })
  await p.db.rollout.updateMany({ data: { phase: 'COMPLETED' } })
})
