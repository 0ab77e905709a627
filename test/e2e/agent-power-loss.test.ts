import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { after, before, test } from 'node:test'
import type { Rollout } from '@hitless/protocol'
import { api, KERNEL, startPlatform, type TestPlatform, waitFor } from '../support/platform.js'

let p: TestPlatform
const children: ChildProcess[] = []

before(async () => {
  p = await startPlatform()
})
after(async () => {
  for (const c of children) c.kill('SIGKILL')
  await p?.close()
})

function startAgent(): ChildProcess {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'services/host-agent/src/main.ts', '--hosts', '4', '--agent-id', 'emu-pl'],
    {
      env: {
        ...process.env,
        ...p.agentEnv,
        HITLESS_EMU_STEP_MS: '300',
        HITLESS_AGENT_CONCURRENCY: '2',
        HITLESS_LOCK_MS: '1500',
        HITLESS_STALLED_MS: '500',
        HITLESS_HEARTBEAT_MS: '500',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  child.stdout?.resume()
  child.stderr?.resume()
  children.push(child)
  return child
}

test('killing an emulated fleet mid-update: in-flight updates end FAILED_HELD, queued ones run, none twice', async () => {
  const first = startAgent()
  await waitFor('4 hosts enrolled', async () => (await p.db.host.count()) === 4)
  const created = await api<Rollout>(p, p.adminToken, 'POST', '/api/v1/rollouts', {
    kernel: KERNEL,
    strategy: 'serialise',
    selector: { labels: { fleet: 'emu-pl' } },
    // All four at once, and the held hosts must not halt it: this test is about delivery.
    policy: { canary: 0, maxConcurrent: '100%', errorBudget: '100%', onUnverified: 'continue' },
  })
  assert.equal(created.status, 201)
  const rolloutId = created.body.id
  // Wait until two updates are in flight (a step done) while two wait in the queue.
  const inFlight = await waitFor('two updates in flight', async () => {
    const running = await p.db.hostUpdate.findMany({
      where: { rolloutId, state: 'RUNNING' },
      include: { steps: true },
    })
    return running.length === 2 && running.every((u) => u.steps.some((s) => s.status === 'done'))
      ? running.map((u) => u.id)
      : undefined
  })
  first.kill('SIGKILL') // power loss of all four emulated hosts
  await new Promise((r) => first.once('exit', r))
  const killedAt = new Date()
  startAgent()
  const done = await waitFor(
    'rollout to complete after restart',
    async () => {
      const r = await api<Rollout>(p, p.adminToken, 'GET', `/api/v1/rollouts/${rolloutId}`)
      return r.body.phase === 'COMPLETED' ? r.body : undefined
    },
    60000,
  )
  for (const h of done.hosts) {
    if (inFlight.includes(h.id)) {
      assert.equal(h.state, 'FAILED_HELD', `${h.hostName} was in flight`)
      assert.match(h.failureReason ?? '', /rebooted outside KEXEC/)
      const rows = await p.db.updateStep.findMany({ where: { updateId: h.id } })
      // Nothing of a held update ran after the power loss.
      assert.ok(
        rows.every((s) => s.startedAt < killedAt),
        'a held update was silently re-run',
      )
    } else {
      // Run after the restart on the emulated hardware, and proven: hitless.
      assert.equal(h.state, 'SUCCEEDED', `${h.hostName} was queued and must run after the restart`)
      assert.equal(h.verdict, 'hitless')
      assert.equal(h.steps.length, 7)
      assert.ok(h.steps.every((s) => s.status === 'done' && s.attempt === 1))
    }
  }
  const held = await p.db.host.count({ where: { state: 'FAILED_HELD' } })
  assert.equal(held, 2)
  // Each hold is on record, with the update it held.
  const audit = await p.db.auditEvent.findMany({ where: { action: 'host.fail-held' } })
  assert.deepEqual(audit.map((a) => (a.detail as { update: string }).update).sort(), [...inFlight].sort())
})
