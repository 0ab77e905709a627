// The agent API's common case in one round trip (AgentService.commonCase) against the full path
// it short-cuts: the same sequence of calls — the common ones and the uncommon ones that must
// fall through to the full path (another worker, a redelivery, a skip, a stale epoch, another
// host's token, a report after the end) — played on two updates, one through each, must give
// the same answers and leave the same rows.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { HitlessError, type Rollout, UPDATE_STEPS } from '@hitless/protocol'
import { AgentService } from '../../services/controller/src/services/agent.service.js'
import type { Principal } from '../../services/controller/src/services/token.service.js'
import { loadAgentConfig } from '../../services/host-agent/src/config.js'
import { emulatedFleet } from '../../services/host-agent/src/fleet.js'
import { HostAgent } from '../../services/host-agent/src/host-agent.js'
import { api, KERNEL, startPlatform, type TestPlatform, waitFor } from '../support/platform.js'

let p: TestPlatform
before(async () => {
  p = await startPlatform()
})
after(async () => p?.close())

const agentOf = (hostId: string): Principal => ({ tokenId: 't', name: 'agent', role: 'agent', hostId })

/** An answer, or the code of the error thrown. */
async function outcome(f: () => Promise<unknown>): Promise<unknown> {
  try {
    return { ok: (await f()) ?? null }
  } catch (e) {
    if (e instanceof HitlessError) return { error: e.code }
    throw e
  }
}

/** Plays the sequence on one update through `svc`; the answers in order, each with the rows after it. */
async function play(svc: AgentService, updateId: string, hostId: string, otherHostId: string) {
  const u = await p.db.hostUpdate.findUniqueOrThrow({ where: { id: updateId } })
  const ctx = { attempt: u.attempt, epoch: u.dispatchEpoch }
  const me = agentOf(hostId)
  const [first, second] = UPDATE_STEPS
  const last = UPDATE_STEPS[UPDATE_STEPS.length - 1]
  const out: unknown[] = []
  const call = async (f: () => Promise<unknown>) =>
    out.push({ answer: await outcome(f), rows: await rows(updateId) })
  await call(() => svc.claimStep(agentOf(otherHostId), updateId, { ...ctx, worker: 'w1', step: first }))
  await call(() => svc.claimStep(me, updateId, { ...ctx, epoch: ctx.epoch + 1, worker: 'w1', step: first }))
  await call(() => svc.claimStep(me, updateId, { ...ctx, worker: 'w1', step: first }))
  await call(() => svc.claimStep(me, updateId, { ...ctx, worker: 'w2', step: first }))
  await call(() => svc.claimStep(me, updateId, { ...ctx, worker: 'w1', step: first })) // redelivered, running
  const done = (step: string, extra: object = {}) => ({
    ...ctx,
    worker: 'w1',
    step: step as (typeof UPDATE_STEPS)[number],
    status: 'done' as const,
    durationMs: 7,
    detail: { step, quote: "it's" },
    ...extra,
  })
  await call(() => svc.reportStep(me, updateId, { ...done(first, { next: second }), worker: 'w2' }))
  await call(() => svc.reportStep(me, updateId, done(first, { next: second })))
  await call(() => svc.claimStep(me, updateId, { ...ctx, worker: 'w1', step: first })) // skip, with detail
  await call(() => svc.reportStep(me, updateId, done(second, { epoch: ctx.epoch + 1 })))
  await call(() => svc.reportStep(me, updateId, done(UPDATE_STEPS[2], { next: UPDATE_STEPS[3] }))) // never claimed
  for (let i = 1; i < UPDATE_STEPS.length - 1; i++)
    await call(() => svc.reportStep(me, updateId, done(UPDATE_STEPS[i], { next: UPDATE_STEPS[i + 1] })))
  const finish = { outcome: 'failed' as const, reason: 'bench\\mark', bootId: 'boot-2', kernel: '7.2.14' }
  await call(() => svc.reportStep(me, updateId, done(last, { finish })))
  await call(() => svc.reportStep(me, updateId, done(last, { finish }))) // redelivered after the end
  await call(() => svc.claimStep(me, updateId, { ...ctx, worker: 'w1', step: first }))
  return out
}

/** The rows the calls wrote, without ids and times (whether a time is set is kept). */
async function rows(updateId: string) {
  const u = await p.db.hostUpdate.findUniqueOrThrow({
    where: { id: updateId },
    include: { steps: { orderBy: { step: 'asc' } }, host: true },
  })
  return {
    update: {
      state: u.state,
      attempt: u.attempt,
      claimedBy: u.claimedBy,
      claimed: u.claimedAt !== null,
      started: u.startedAt !== null,
      finished: u.finishedAt !== null,
      failureReason: u.failureReason,
      blackoutMs: u.blackoutMs,
      toBootId: u.toBootId,
    },
    steps: u.steps.map((s) => ({
      step: s.step,
      attempt: s.attempt,
      status: s.status,
      durationMs: s.durationMs,
      detail: s.detail,
      started: s.startedAt !== null,
      finished: s.finishedAt !== null,
    })),
    // Each host enrolled with a boot id of its own: only whether the finish's was written counts.
    host: {
      state: u.host.state,
      kernel: u.host.kernel,
      bootId: u.host.bootId === 'boot-2' ? 'boot-2' : 'enrolled',
    },
  }
}

test('the one-round-trip common case answers and writes as the full path does', async () => {
  const cfg = loadAgentConfig(['--hosts', '3', '--agent-id', 'emu-1rt'], p.agentEnv)
  const agent = new HostAgent(cfg, emulatedFleet(cfg.agentId, 3, cfg.stepMs))
  await agent.start()
  await agent.stop() // enrolled; the test makes the calls
  const hosts = await p.db.host.findMany({ where: { agentId: 'emu-1rt' }, orderBy: { name: 'asc' } })
  const updates: string[] = []
  for (const h of hosts.slice(0, 2)) {
    const created = await api<Rollout>(p, p.adminToken, 'POST', '/api/v1/rollouts', {
      kernel: KERNEL,
      strategy: 'serialise',
      selector: { names: [h.name] },
    })
    assert.equal(created.status, 201, JSON.stringify(created.body))
    updates.push(created.body.hosts[0].id)
  }
  for (const id of updates)
    await waitFor(
      'dispatch',
      async () => (await p.db.hostUpdate.findUnique({ where: { id } }))?.state === 'QUEUED',
    )
  const fast = new AgentService(p.db, 30000, true)
  const full = new AgentService(p.db, 30000, false)
  const a = await play(fast, updates[0], hosts[0].id, hosts[2].id)
  const b = await play(full, updates[1], hosts[1].id, hosts[2].id)
  assert.deepEqual(a, b)
  // The claim and the step reports of the run went through the common case; nothing else did.
  assert.equal(fast.commonCalls, UPDATE_STEPS.length + 1)
  assert.equal(full.commonCalls, 0)
  // The sequence covers what it means to: runs, refusals of each kind, a skip, the end.
  const answers = a.map((x) => (x as { answer: unknown }).answer)
  const codes = answers.map((x) => (x as { error?: string }).error).filter(Boolean)
  for (const c of ['HITLESS_E_FORBIDDEN', 'HITLESS_E_STALE_CLAIM', 'HITLESS_E_CONFLICT'])
    assert.ok(codes.includes(c), `${c} in ${JSON.stringify(answers)}`)
  assert.ok(
    answers.some((x) => JSON.stringify(x).includes('"skip"')),
    JSON.stringify(answers),
  )
  const ra = await rows(updates[0])
  assert.deepEqual(ra, await rows(updates[1]))
  assert.equal(ra.update.state, 'FAILED')
  assert.equal(ra.update.failureReason, 'bench\\mark')
  assert.equal(ra.steps.length, UPDATE_STEPS.length)
  assert.ok(ra.steps.every((s) => s.status === 'done' && s.finished))
  assert.deepEqual(ra.steps.find((s) => s.step === UPDATE_STEPS[0])?.detail, {
    step: UPDATE_STEPS[0],
    quote: "it's",
  })
})
