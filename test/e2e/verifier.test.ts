import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import type { Rollout, VerdictBody } from '@hitless/protocol'
import { CORRUPTIONS } from '@hitless/verify/testing/corruptions'
import { seededRandom } from '@hitless/verify/testing/seeded-random'
import {
  buildSnapshot,
  cleanPost,
  type HostModel,
  syntheticHost,
} from '@hitless/verify/testing/synthetic-host'
import { api, KERNEL, startPlatform, type TestPlatform, waitFor } from '../support/platform.js'

let p: TestPlatform
before(async () => {
  p = await startPlatform()
})
after(async () => p?.close())

/**
 * Plays one host's agent by hand: enrols it, starts a rollout to it, uploads real encoded
 * snapshots through the agent API, finishes; the platform's verifier judges from PostgreSQL.
 */
async function updateWith(name: string, pre: HostModel, post: HostModel): Promise<VerdictBody> {
  const enrol = await api<{ hosts: { id: string; token: string }[] }>(
    p,
    p.adminToken,
    'POST',
    '/api/v1/agent/enrol',
    {
      agentId: `verify-e2e-${name}`,
      hosts: [{ name, hardware: pre.hardware, kernel: pre.kernel.version, bootId: pre.kernel.bootId }],
    },
  )
  assert.equal(enrol.status, 200, JSON.stringify(enrol.body))
  const token = enrol.body.hosts[0].token
  const created = await api<Rollout>(p, p.adminToken, 'POST', '/api/v1/rollouts', {
    kernel: KERNEL,
    strategy: 'serialise',
    selector: { names: [name] },
  })
  assert.equal(created.status, 201, JSON.stringify(created.body))
  const updateId = created.body.hosts[0].id
  const u = await waitFor('dispatch', async () => {
    const row = await p.db.hostUpdate.findUnique({ where: { id: updateId } })
    return row?.state === 'QUEUED' ? row : undefined
  })
  for (const [phase, model] of [
    ['pre', pre],
    ['post', post],
  ] as const) {
    const res = await fetch(`${p.url}/api/v1/agent/updates/${updateId}/snapshots/${phase}`, {
      method: 'PUT',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/octet-stream',
        'x-snapshot-format': 'hitless-snapshot/v1',
      },
      body: buildSnapshot(model).encode(),
    })
    assert.equal(res.status, 201, await res.text())
  }
  const fin = await api(p, token, 'POST', `/api/v1/agent/updates/${updateId}/finish`, {
    attempt: u.attempt,
    epoch: u.dispatchEpoch,
    worker: 'e2e',
    outcome: 'completed',
    bootId: post.kernel.bootId,
    kernel: post.kernel.version,
    blackoutMs: post.blackoutMs,
  })
  assert.equal(fin.status, 200, JSON.stringify(fin.body))
  return waitFor('verdict', async () => {
    const v = await api<VerdictBody>(p, p.adminToken, 'GET', `/api/v1/updates/${updateId}/verdict`)
    return v.status === 200 ? v.body : undefined
  })
}

test('a clean pair of uploaded snapshots is hitless, with faults and an empty diff', async () => {
  const pre = syntheticHost({ seed: 21, mappings: 20000 })
  const v = await updateWith('verify-clean', pre, cleanPost(pre, 21, KERNEL.version))
  assert.equal(v.verdict, 'hitless', v.reasons.join('\n'))
  assert.deepEqual(v.faults, { recorded: 0, lost: 0, groundTruth: 0 })
  assert.deepEqual((v.diff as { kinds: object }).kinds, {})
  const u = await p.db.hostUpdate.findFirstOrThrow({ where: { host: { name: 'verify-clean' } } })
  assert.equal(u.state, 'SUCCEEDED')
})

test('a corrupted pair (shifted PA) is diverged with the reason and a bounded diff', async () => {
  const pre = syntheticHost({ seed: 22, mappings: 20000, hardware: 'vtd-scalable' })
  const post = cleanPost(pre, 22, KERNEL.version)
  CORRUPTIONS.find((c) => c.reason === 'leaf.pa')!.apply(post, seededRandom(5))
  const v = await updateWith('verify-corrupt', pre, post)
  assert.equal(v.verdict, 'diverged', v.reasons.join('\n'))
  assert.match(v.reasons[0], /^leaf\.pa: 1 mapping range\(s\) translating to a different physical address/)
  const diff = v.diff as { kinds: Record<string, { total: number; first: { table: string }[] }> }
  assert.equal(diff.kinds['leaf.pa'].total, 1)
  assert.equal(diff.kinds['leaf.pa'].first[0].table, 'vm1/s2')
  const u = await p.db.hostUpdate.findFirstOrThrow({ where: { host: { name: 'verify-corrupt' } } })
  assert.equal(u.state, 'FAILED')
})
