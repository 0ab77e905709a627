// onHalt: rollback end to end: a rollout halted by its error budget returns the hosts it already
// updated to their previous kernels by the same live update, in a rollback rollout whose jobs
// carry the older of the two kernels' handover formats; hosts it never started, and the one that
// failed (still on its old kernel), are left alone.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import type { HostUpdateJob, Rollout } from '@hitless/protocol'
import { loadAgentConfig } from '../../services/host-agent/src/config.js'
import { BASE_KERNEL, emulatedFleet } from '../../services/host-agent/src/fleet.js'
import { HostAgent } from '../../services/host-agent/src/host-agent.js'
import { parseStubFaults } from '../../services/host-agent/src/runtime/stub-emulated-host.js'
import { api, KERNEL, startPlatform, type TestPlatform, waitFor } from '../support/platform.js'

let p: TestPlatform
let agent: HostAgent | undefined

before(async () => {
  p = await startPlatform({ loopMs: 100 })
})
after(async () => {
  await agent?.stop()
  await p?.close()
})

const get = async (id: string) => (await api<Rollout>(p, p.adminToken, 'GET', `/api/v1/rollouts/${id}`)).body

/** A fleet of `n` stub hosts of agent `id` whose host `failing` fails at PREFLIGHT, started. */
async function startFleet(id: string, n: number, failing: string) {
  await agent?.stop()
  const cfg = loadAgentConfig(['--hosts', String(n), '--agent-id', id], {
    ...p.agentEnv,
    HITLESS_EMU_STEP_MS: '20',
  })
  const fleet = emulatedFleet(id, n, cfg.stepMs, { faults: parseStubFaults(`${failing}:PREFLIGHT`) })
  agent = new HostAgent(cfg, fleet)
  return { fleet, start: () => agent!.start() }
}

/**
 * The halt of `id` led to one rollback, audited once with `detail` (and its epoch), and the
 * planner does not start a second one.
 */
async function rolledBackOnce(id: string, detail: Record<string, unknown>): Promise<void> {
  await new Promise((r) => setTimeout(r, 500))
  assert.equal(await p.db.rollout.count({ where: { rollbackOf: id } }), 1)
  const entries = await p.db.auditEvent.findMany({ where: { action: 'rollout.rollback', target: id } })
  assert.equal(entries.length, 1)
  const { epoch, ...rest } = entries[0].detail as { epoch: number }
  assert.equal(typeof epoch, 'number')
  assert.deepEqual(rest, detail)
}

/** A rollout of the fleet labelled `fleet` that halts at its first failure and rolls back. */
async function createRollingBack(fleet: string, kernel: object, maxConcurrent: number): Promise<string> {
  const created = await api<Rollout>(p, p.adminToken, 'POST', '/api/v1/rollouts', {
    kernel,
    strategy: 'serialise',
    selector: { labels: { fleet } },
    policy: {
      canary: 1,
      waves: ['100%'],
      maxConcurrent,
      errorBudget: 0,
      onUnverified: 'continue',
      onHalt: 'rollback',
    },
  })
  assert.equal(created.status, 201, JSON.stringify(created.body))
  return created.body.id
}

test('a halt with onHalt rollback returns the updated hosts to their previous kernel, and only them', async () => {
  // Wave order without spread: h000 (canary), then h001…h005 two at a time; h003 fails at PREFLIGHT.
  const { fleet, start } = await startFleet('emu-rb', 6, 'emu-rb-h003')
  const jobs: HostUpdateJob[] = []
  for (const h of fleet) {
    const run = h.runStep.bind(h)
    h.runStep = async (step, job) => {
      if (step === 'PREFLIGHT') jobs.push(job)
      return run(step, job)
    }
  }
  await start()
  // The hosts' running kernel, registered so that a halt can roll back to it (a rollout with
  // onHalt rollback is refused otherwise), with the older handover format.
  const base = await api(p, p.adminToken, 'POST', '/api/v1/kernels', {
    version: BASE_KERNEL,
    image: `/boot/vmlinuz-${BASE_KERNEL}`,
    sha256: KERNEL.sha256,
    handoverFormat: 1,
  })
  assert.equal(base.status, 201, JSON.stringify(base.body))
  const id = await createRollingBack('emu-rb', { ...KERNEL, handoverFormat: 2 }, 2)

  const child = await waitFor(
    'the rollback rollout to complete',
    async () => {
      const r = await p.db.rollout.findFirst({ where: { rollbackOf: id } })
      return r?.phase === 'COMPLETED' ? r : undefined
    },
    60000,
  )
  const parent = await get(id)
  assert.equal(parent.phase, 'HALTED')
  assert.match(parent.phaseReason ?? '', /error budget exhausted/)
  assert.match(parent.phaseReason ?? '', new RegExp(`rolling back \\d+ host\\(s\\) in ${child.id}`))

  const updated = parent.hosts
    .filter((h) => h.verdict !== null)
    .map((h) => h.hostName)
    .sort()
  assert.ok(updated.includes('emu-rb-h000'), 'the canary was updated before the halt')
  const rb = await get(child.id)
  assert.deepEqual(
    rb.hosts.map((h) => h.hostName).sort(),
    updated,
    'exactly the updated hosts are rolled back',
  )
  assert.ok(
    rb.hosts.every((h) => h.state === 'NEEDS_REVIEW' || h.state === 'SUCCEEDED'),
    JSON.stringify(rb.hosts),
  )

  const hosts = await p.db.host.findMany({ where: { agentId: 'emu-rb' } })
  for (const h of hosts) {
    // Everyone runs the old kernel again: the rolled-back hosts by a second live update, the
    // failed one and the ones never started because they never left it.
    assert.equal(h.kernel, BASE_KERNEL, `${h.name} runs ${h.kernel}`)
  }
  const untouched = parent.hosts.filter((h) => h.state === 'PENDING').map((h) => h.hostName)
  assert.ok(untouched.length > 0, 'hosts never started stay PENDING in the halted rollout')
  for (const name of [...untouched, 'emu-rb-h003']) assert.ok(!updated.includes(name))

  // The jobs: forward ones to the new kernel, then one rollback job per updated host, to the old
  // kernel, with the older of the two formats.
  const back = jobs.filter((j) => j.rolloutId === child.id)
  assert.equal(back.length, updated.length)
  for (const j of back) {
    assert.equal(j.direction, 'rollback')
    assert.equal(j.kernel.version, BASE_KERNEL)
    assert.equal(j.handoverFormat, 1)
  }
  const forward = jobs.filter((j) => j.rolloutId === id)
  assert.ok(forward.every((j) => j.direction === 'forward' && j.kernel.version === KERNEL.version))

  await rolledBackOnce(id, { rollback: child.id, hosts: updated.length, cannot: [] })
})

test('a halt whose previous kernel is no longer registered names the hosts it cannot roll back, once', async () => {
  await (await startFleet('emu-rb2', 3, 'emu-rb2-h001')).start()
  const id = await createRollingBack('emu-rb2', KERNEL, 1)
  // Accepted while the hosts' kernel was registered; no longer under that version by the halt
  // (the first test's rollback rollout still refers to its row, so it is renamed, not deleted).
  await p.db.kernel.updateMany({
    where: { version: BASE_KERNEL },
    data: { version: `${BASE_KERNEL}-retired` },
  })
  const child = await waitFor(
    'the rollback attempt',
    async () => (await p.db.rollout.findFirst({ where: { rollbackOf: id } })) ?? undefined,
    60000,
  )
  assert.equal(child.phase, 'COMPLETED')
  assert.match(
    child.phaseReason ?? '',
    /nothing to roll back; cannot roll back emu-rb2-h000 \(previous kernel 6\.19\.0-hitless0 is not registered\)/,
  )
  const parent = await get(id)
  assert.equal(parent.phase, 'HALTED')
  assert.match(parent.phaseReason ?? '', /cannot roll back emu-rb2-h000/)
  await rolledBackOnce(id, { rollback: child.id, hosts: 0, cannot: ['emu-rb2-h000'] })
})
