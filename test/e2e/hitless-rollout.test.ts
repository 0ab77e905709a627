import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import type { Rollout } from '@hitless/protocol'
import { loadAgentConfig } from '../../services/host-agent/src/config.js'
import { emulatedIommuFleet } from '../../services/host-agent/src/fleet.js'
import { HostAgent } from '../../services/host-agent/src/host-agent.js'
import { api, KERNEL, startPlatform, type TestPlatform, testKernel, waitFor } from '../support/platform.js'

// The whole product path on the emulated hardware: one host per IOMMU model, each running the
// real live update (kexec, restore, DMA through the blackout), snapshots uploaded through the
// agent API, judged by the verifier service, gating the rollout.

let p: TestPlatform
let agent: HostAgent

before(async () => {
  p = await startPlatform()
  const cfg = loadAgentConfig(['--hosts', '4', '--agent-id', 'emu-hw'], p.agentEnv)
  agent = new HostAgent(cfg, await emulatedIommuFleet(cfg.agentId, cfg.hosts, { mappings: 128 }))
  await agent.start()
})

after(async () => {
  await agent?.stop()
  await p?.close()
})

async function runRollout(body: Record<string, unknown>, until: string[]): Promise<Rollout> {
  const created = await api<Rollout>(p, p.adminToken, 'POST', '/api/v1/rollouts', body)
  assert.equal(created.status, 201, JSON.stringify(created.body))
  return waitFor(
    `rollout to reach ${until.join('/')}`,
    async () => {
      const r = await api<Rollout>(p, p.adminToken, 'GET', `/api/v1/rollouts/${created.body.id}`)
      return until.includes(r.body.phase) ? r.body : undefined
    },
    90000,
  )
}

test('serialise on SMMUv3 BBML0/BBML2 and VT-d legacy/scalable: every host verified hitless, the rollout completes', async () => {
  const done = await runRollout(
    {
      kernel: KERNEL,
      strategy: 'serialise',
      selector: { labels: { fleet: 'emu-hw' } },
      policy: { maxConcurrent: '100%' },
    },
    ['COMPLETED', 'PAUSED', 'HALTED'],
  )
  assert.equal(
    done.phase,
    'COMPLETED',
    JSON.stringify(done.hosts.map((h) => [h.hostName, h.state, h.verdict, h.failureReason])),
  )
  const hardware = new Set<string>()
  for (const h of done.hosts) {
    assert.equal(h.verdict, 'hitless', h.hostName)
    assert.equal(h.state, 'SUCCEEDED')
    assert.ok(h.blackoutMs !== null && h.blackoutMs > 0, 'blackout measured')
    const v = await api<{ verdict: string; reasons: string[]; faults: { groundTruth: number } | null }>(
      p,
      p.adminToken,
      'GET',
      `/api/v1/updates/${h.id}/verdict`,
    )
    assert.equal(v.body.verdict, 'hitless')
    assert.match(v.body.reasons.join(' '), /during the blackout/)
    assert.deepEqual(v.body.faults, { groundTruth: 0, recorded: 0, lost: 0 })
    const host = await api<{ hardware: string; kernel: string }>(
      p,
      p.adminToken,
      'GET',
      `/api/v1/hosts/${h.hostId}`,
    )
    assert.equal(host.body.kernel, KERNEL.version)
    hardware.add(host.body.hardware)
  }
  assert.deepEqual([...hardware].sort(), ['smmuv3-bbml0', 'smmuv3-bbml2', 'vtd-legacy', 'vtd-scalable'])
})

test('the naive strategy (a plain kexec) faults, and the verdict halts the rollout: the zero above is not vacuous', async () => {
  const done = await runRollout(
    {
      kernel: testKernel('7.3.0-hitless2'),
      strategy: 'naive',
      selector: { names: ['emu-hw-h000'] },
    },
    ['COMPLETED', 'HALTED', 'PAUSED'],
  )
  const h = done.hosts[0]
  assert.equal(h.verdict, 'faulted', JSON.stringify(h))
  assert.equal(h.state, 'FAILED')
  assert.equal(done.phase, 'HALTED')
  const v = await api<{ reasons: string[]; faults: { groundTruth: number } | null }>(
    p,
    p.adminToken,
    'GET',
    `/api/v1/updates/${h.id}/verdict`,
  )
  assert.ok((v.body.faults?.groundTruth ?? 0) > 0, JSON.stringify(v.body))
})
