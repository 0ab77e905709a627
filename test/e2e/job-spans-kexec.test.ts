import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import type { HostUpdateJob, Rollout, UpdateStep } from '@hitless/protocol'
import { loadAgentConfig } from '../../services/host-agent/src/config.js'
import { emulatedIommuFleet } from '../../services/host-agent/src/fleet.js'
import { HostAgent } from '../../services/host-agent/src/host-agent.js'
import type { EmulatedHost } from '../../services/host-agent/src/runtime/emulated-host.js'
import type { HostRuntime } from '../../services/host-agent/src/runtime/host-runtime.js'
import { runUpdateJob } from '../../services/host-agent/src/update-runner.js'
import { api, KERNEL, startPlatform, type TestPlatform, waitFor } from '../support/platform.js'

// The agent dies right after the kexec (its step never journaled at the controller). BullMQ's
// lock expires and the job is delivered to a new worker: the controller lets it take the step
// over, the host's own journal sees the kexec already happened, and the job finishes with its
// effects once — one kexec, seven journaled steps, one verdict.

let p: TestPlatform
const prevTakeover = process.env.HITLESS_CLAIM_TAKEOVER_MS

before(async () => {
  process.env.HITLESS_CLAIM_TAKEOVER_MS = '400'
  p = await startPlatform()
})
after(async () => {
  process.env.HITLESS_CLAIM_TAKEOVER_MS = prevTakeover
  await p?.close()
})

/** The agent process as seen by the host: after KEXEC ran, it never answers again (it died). */
function dyingAfter(step: UpdateStep, inner: HostRuntime): HostRuntime {
  return {
    name: inner.name,
    hardware: inner.hardware,
    labels: inner.labels,
    kernel: () => inner.kernel(),
    bootId: () => inner.bootId(),
    runStep: async (s, job) => {
      const detail = await inner.runStep(s, job)
      if (s === step) await new Promise(() => {}) // the process is gone: nothing more happens
      return detail
    },
    snapshot: (phase) => inner.snapshot(phase),
    lastUpdateReport: () => inner.lastUpdateReport(),
  }
}

test('a job that spans the kexec, whose agent dies after it, finishes exactly once', async () => {
  const cfg = loadAgentConfig(['--hosts', '1', '--agent-id', 'emu-span'], p.agentEnv)
  const [host] = (await emulatedIommuFleet(cfg.agentId, 1, { mappings: 64 })) as EmulatedHost[]
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
  assert.equal(created.status, 201, JSON.stringify(created.body))
  const updateId = created.body.hosts[0].id
  await waitFor(
    'dispatch',
    async () => (await p.db.hostUpdate.findUnique({ where: { id: updateId } }))?.state === 'QUEUED',
  )
  const u = await p.db.hostUpdate.findUniqueOrThrow({ where: { id: updateId } })
  const job: HostUpdateJob = {
    updateId,
    rolloutId: u.rolloutId,
    hostId,
    attempt: u.attempt,
    epoch: u.dispatchEpoch,
    strategy: 'serialise',
    kernel: KERNEL,
  }
  const bootIdBefore = host.bootId()
  const bootsBefore = host.boots()
  void runUpdateJob(job, dyingAfter('KEXEC', host), token, agent.client, 'worker-a')
  await waitFor('the kexec', async () => host.boots() === bootsBefore + 1)
  // The redelivered job: refused while the dead worker's claim is fresh, then taken over.
  const second = await waitFor(
    'a takeover',
    async () => {
      const r = await runUpdateJob(job, host, token, agent.client, 'worker-b')
      return r.result === 'completed' ? r : undefined
    },
    20000,
    200,
  )
  assert.equal(second.result, 'completed')
  assert.equal(host.boots(), bootsBefore + 1, 'the kexec ran once')
  assert.notEqual(host.bootId(), bootIdBefore)
  assert.equal(host.kernel(), KERNEL.version)
  const steps = await p.db.updateStep.findMany({ where: { updateId } })
  assert.equal(steps.length, 7)
  assert.ok(steps.every((s) => s.status === 'done' && s.attempt === 1))
  const verdict = await waitFor(
    'verdict',
    async () => (await p.db.verdictRecord.findUnique({ where: { updateId } })) ?? undefined,
  )
  assert.equal(verdict.verdict, 'hitless', JSON.stringify(verdict.reasons))
})
