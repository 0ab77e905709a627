// A host that stops heartbeating: idle, it goes OFFLINE (and comes back READY with its next
// heartbeat); mid-update, its update and the host are failed and held for a human, on record in
// the audit log, never silently re-run.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import type { Rollout } from '@hitless/protocol'
import { api, KERNEL, startPlatform, type TestPlatform, waitFor } from '../support/platform.js'

let p: TestPlatform
before(async () => {
  p = await startPlatform({ loopMs: 100, heartbeatTimeoutMs: 1500 })
})
after(async () => p?.close())

test('a silent host goes OFFLINE when idle and is failed and held (audited) mid-update', async () => {
  const enrol = await api<{ hosts: { id: string; name: string; token: string }[] }>(
    p,
    p.adminToken,
    'POST',
    '/api/v1/agent/enrol',
    {
      agentId: 'quiet',
      hosts: ['q1', 'q2'].map((name) => ({
        name,
        hardware: 'smmuv3-bbml2',
        kernel: '6.19',
        bootId: `b-${name}`,
      })),
    },
  )
  assert.equal(enrol.status, 200, JSON.stringify(enrol.body))
  const [q1, q2] = enrol.body.hosts
  const created = await api<Rollout>(p, p.adminToken, 'POST', '/api/v1/rollouts', {
    kernel: KERNEL,
    strategy: 'serialise',
    selector: { names: ['q1'] },
  })
  assert.equal(created.status, 201, JSON.stringify(created.body))
  const updateId = created.body.hosts[0].id
  const u = await waitFor('dispatch', async () => {
    const r = await p.db.hostUpdate.findUnique({ where: { id: updateId } })
    return r?.state === 'QUEUED' ? r : undefined
  })
  // q1's agent claims its first step, then falls silent.
  const claim = await api(p, q1.token, 'POST', `/api/v1/agent/updates/${updateId}/claim`, {
    attempt: u.attempt,
    epoch: u.dispatchEpoch,
    worker: 'w',
    step: 'PREFLIGHT',
  })
  assert.equal(claim.status, 200, JSON.stringify(claim.body))

  const held = await waitFor(
    'q1 held',
    async () => {
      const r = await p.db.hostUpdate.findUniqueOrThrow({ where: { id: updateId }, include: { host: true } })
      return r.state === 'FAILED_HELD' ? r : undefined
    },
    15000,
  )
  assert.equal(held.host.state, 'FAILED_HELD')
  assert.match(held.failureReason ?? '', /host silent for more than 1500 ms during the update/)
  const audit = await p.db.auditEvent.findMany({ where: { action: 'host.fail-held', target: q1.id } })
  assert.equal(audit.length, 1)
  assert.match(audit[0].actor, /^controller /)

  const offline = await waitFor('q2 offline', async () => {
    const h = await p.db.host.findUniqueOrThrow({ where: { id: q2.id } })
    return h.state === 'OFFLINE' ? h : undefined
  })
  assert.equal(offline.name, 'q2')
  assert.equal(await p.db.auditEvent.count({ where: { action: 'host.fail-held', target: q2.id } }), 0)
  const beat = await api(p, q2.token, 'POST', `/api/v1/agent/hosts/${q2.id}/heartbeat`, {
    bootId: 'b-q2',
    kernel: '6.19',
  })
  assert.ok(beat.status < 300, JSON.stringify(beat.body))
  assert.equal((await p.db.host.findUniqueOrThrow({ where: { id: q2.id } })).state, 'READY')
  // The held host stays held through its own heartbeat: only a human's retry releases it.
  await api(p, q1.token, 'POST', `/api/v1/agent/hosts/${q1.id}/heartbeat`, { bootId: 'b-q1', kernel: '6.19' })
  assert.equal((await p.db.host.findUniqueOrThrow({ where: { id: q1.id } })).state, 'FAILED_HELD')
})
