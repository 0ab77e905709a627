import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { HostUpdateState, RolloutPolicy, Verdict } from '@hitless/protocol'
import { planNext } from './plan-next.js'
import { resolvePolicy } from './policy.js'
import type { PlannerAction, PlannerRollout, PlannerUpdate } from './types.js'
import { planWaves } from './wave-plan.js'

const NOW = new Date('2026-05-01T12:00:00Z')
const T0 = new Date('2026-05-01T11:00:00Z')

/** A rollout of `n` hosts (4 racks) planned by the real wave planner; wave 0 not yet started. */
function rollout(n: number, policy: RolloutPolicy): PlannerRollout {
  const p = resolvePolicy(policy)
  const hosts = Array.from({ length: n }, (_, i) => ({
    id: `h${i}`,
    name: `h${String(i).padStart(2, '0')}`,
    labels: { rack: `r${i % 4}` },
  }))
  const waves = planWaves(hosts, p)
  const updates: PlannerUpdate[] = []
  let order = 0
  for (const w of waves)
    for (const [i, id] of w.hostIds.entries())
      updates.push({
        id: `u-${id}`,
        hostName: w.hosts[i],
        domain: p.spreadBy ? hosts.find((h) => h.id === id)!.labels.rack : null,
        wave: w.index,
        order: order++,
        state: 'PENDING',
        hostReady: true,
        verdict: null,
        blackoutMs: null,
        kexecRunningSince: null,
        gateAcked: false,
      })
  return {
    id: 'ro-1',
    phase: 'RUNNING',
    policy: p,
    waves: waves.map((w) => ({ index: w.index, startedAt: null, finishedAt: null })),
    updates,
    rollbackOf: null,
    rolledBack: false,
  }
}

const kinds = (a: PlannerAction[]) => a.map((x) => x.kind)
const dispatched = (a: PlannerAction[]) => a.flatMap((x) => (x.kind === 'dispatch' ? [x.hostName] : []))

/** Carries out the planner's actions on the state, as the loop would (for multi-step tests). */
function apply(r: PlannerRollout, actions: PlannerAction[], now = NOW): void {
  for (const a of actions) {
    if (a.kind === 'startWave') r.waves.find((w) => w.index === a.wave)!.startedAt = now
    if (a.kind === 'finishWave') r.waves.find((w) => w.index === a.wave)!.finishedAt = now
    if (a.kind === 'dispatch') r.updates.find((u) => u.id === a.updateId)!.state = 'QUEUED'
    if (a.kind === 'failHeld') r.updates.find((u) => u.id === a.updateId)!.state = 'FAILED_HELD'
    if (a.kind === 'halt') r.phase = 'HALTED'
    if (a.kind === 'pause') r.phase = 'PAUSED'
    if (a.kind === 'complete') r.phase = 'COMPLETED'
  }
}

function finishAll(
  r: PlannerRollout,
  state: HostUpdateState = 'SUCCEEDED',
  verdict: Verdict = 'hitless',
): void {
  for (const u of r.updates)
    if (u.state === 'QUEUED' || u.state === 'RUNNING') {
      u.state = state
      u.verdict = verdict
    }
}

test('starts wave 0 and dispatches the canary only', () => {
  const r = rollout(20, { canary: 1, waves: ['100%'], maxConcurrent: 5, onUnverified: 'continue' })
  const a = planNext(r, NOW)
  assert.deepEqual(kinds(a), ['startWave', 'dispatch'])
  assert.deepEqual(dispatched(a), ['h00'])
})

test('the next wave waits until every host of the current one is terminal', () => {
  const r = rollout(20, { canary: 1, waves: ['100%'], maxConcurrent: 5 })
  apply(r, planNext(r, NOW))
  assert.deepEqual(planNext(r, NOW), [], 'canary in flight: nothing to do')
  r.updates[0].state = 'VERIFYING'
  assert.deepEqual(planNext(r, NOW), [], 'verifying still holds the wave')
  finishAll(r)
  r.updates[0].state = 'SUCCEEDED'
  const a = planNext(r, NOW)
  assert.deepEqual(kinds(a).slice(0, 2), ['finishWave', 'startWave'])
  assert.equal(dispatched(a).length, 5, 'max concurrency 5')
})

test('bake time holds the next wave after the previous one ends', () => {
  const r = rollout(10, { canary: 1, waves: ['100%'], maxConcurrent: 10, bakeSeconds: 600 })
  apply(r, planNext(r, T0), T0)
  finishAll(r)
  const a = planNext(r, T0)
  assert.deepEqual(kinds(a), ['finishWave', 'wait'])
  apply(r, a, T0)
  assert.deepEqual(kinds(planNext(r, new Date(T0.getTime() + 599_000))), ['wait'])
  const later = planNext(r, new Date(T0.getTime() + 600_000))
  assert.deepEqual(kinds(later)[0], 'startWave')
  assert.equal(dispatched(later).length, 9)
})

test('max concurrency counts queued, running and verifying hosts across the rollout', () => {
  const r = rollout(10, { canary: 0, waves: ['100%'], maxConcurrent: '30%' })
  apply(r, planNext(r, NOW))
  assert.equal(r.updates.filter((u) => u.state === 'QUEUED').length, 3)
  r.updates[0].state = 'RUNNING'
  r.updates[1].state = 'VERIFYING'
  r.updates[2].state = 'SUCCEEDED'
  r.updates[2].verdict = 'hitless'
  assert.deepEqual(dispatched(planNext(r, NOW)), ['h03'])
})

test('spread: never more than maxPerDomain hosts of one rack at once', () => {
  const r = rollout(16, { canary: 0, waves: ['100%'], maxConcurrent: 10, spreadBy: 'rack' })
  const a = planNext(r, NOW)
  assert.equal(dispatched(a).length, 4, 'four racks: four hosts, although ten slots')
  apply(r, a)
  const racks = r.updates.filter((u) => u.state === 'QUEUED').map((u) => u.domain)
  assert.equal(new Set(racks).size, 4)
  assert.deepEqual(dispatched(planNext(r, NOW)), [])
  const r2 = rollout(16, { canary: 0, waves: ['100%'], maxConcurrent: 10, spreadBy: 'rack', maxPerDomain: 2 })
  assert.equal(dispatched(planNext(r2, NOW)).length, 8)
})

test('failures up to the budget go on; one more halts, and no new host starts', () => {
  const r = rollout(20, { canary: 0, waves: ['100%'], maxConcurrent: 4, errorBudget: '10%' })
  apply(r, planNext(r, NOW))
  r.updates[0].state = 'FAILED'
  r.updates[1].state = 'FAILED_HELD'
  const a = planNext(r, NOW)
  assert.deepEqual(kinds(a), ['dispatch', 'dispatch'], 'two failures = budget 2: still going')
  apply(r, a)
  r.updates[2].state = 'FAILED'
  const h = planNext(r, NOW)
  assert.deepEqual(kinds(h), ['halt'])
  assert.match((h[0] as { reason: string }).reason, /3 failed host\(s\) > budget 2/)
  apply(r, h)
  assert.deepEqual(planNext(r, NOW), [], 'halted: in-flight hosts finish, none starts')
})

test('a blackout over the SLO counts against the budget', () => {
  const r = rollout(4, { canary: 0, waves: ['100%'], maxConcurrent: 1, blackoutSloMs: 200 })
  apply(r, planNext(r, NOW))
  Object.assign(r.updates[0], { state: 'SUCCEEDED', verdict: 'hitless', blackoutMs: 350 })
  const a = planNext(r, NOW)
  assert.deepEqual(kinds(a), ['halt'])
  assert.match((a[0] as { reason: string }).reason, /blackout 350 ms over the 200 ms SLO/)
})

test('unverified pauses by default; continue goes on; fail spends the budget', () => {
  const base = { canary: 0, waves: ['100%'], maxConcurrent: 1 } satisfies RolloutPolicy
  for (const [onUnverified, expected] of [
    [undefined, 'pause'],
    ['continue', 'dispatch'],
    ['fail', 'halt'],
  ] as const) {
    const r = rollout(3, { ...base, ...(onUnverified ? { onUnverified } : {}) })
    apply(r, planNext(r, NOW))
    finishAll(r, 'NEEDS_REVIEW', 'unverified')
    assert.deepEqual(kinds(planNext(r, NOW)), [expected], `onUnverified ${onUnverified}`)
  }
})

test('consistent pauses by default; an acknowledged gate (after resume) pauses no more', () => {
  const r = rollout(3, { canary: 0, waves: ['100%'], maxConcurrent: 1 })
  apply(r, planNext(r, NOW))
  finishAll(r, 'SUCCEEDED', 'consistent')
  const a = planNext(r, NOW)
  assert.deepEqual(kinds(a), ['pause'])
  assert.match((a[0] as { reason: string }).reason, /h00: verdict consistent needs a human/)
  apply(r, a)
  assert.deepEqual(planNext(r, NOW), [], 'paused: nothing starts')
  r.phase = 'RUNNING'
  r.updates[0].gateAcked = true
  assert.deepEqual(dispatched(planNext(r, NOW)), ['h01'])
  const c = rollout(3, { canary: 0, waves: ['100%'], maxConcurrent: 1, onConsistent: 'continue' })
  apply(c, planNext(c, NOW))
  finishAll(c, 'SUCCEEDED', 'consistent')
  assert.deepEqual(dispatched(planNext(c, NOW)), ['h01'])
})

test('a host that does not come back after KEXEC is failed and held, even when the rollout is paused', () => {
  const r = rollout(4, {
    canary: 0,
    waves: ['100%'],
    maxConcurrent: 2,
    returnDeadlineSeconds: 60,
    errorBudget: 1,
  })
  apply(r, planNext(r, NOW))
  r.updates[0].state = 'RUNNING'
  r.updates[0].kexecRunningSince = new Date(NOW.getTime() - 60_000)
  assert.deepEqual(planNext(r, NOW), [], 'at the deadline: still waiting')
  const late = new Date(NOW.getTime() + 1)
  const a = planNext(r, late)
  assert.equal(a[0].kind, 'failHeld')
  assert.match((a[0] as { reason: string }).reason, /did not come back within 60 s/)
  r.phase = 'PAUSED'
  assert.deepEqual(kinds(planNext(r, late)), ['failHeld'])
  const h = rollout(2, { canary: 0, waves: ['100%'], maxConcurrent: 2, returnDeadlineSeconds: 60 })
  apply(h, planNext(h, NOW))
  h.updates[0].state = 'RUNNING'
  h.updates[0].kexecRunningSince = T0
  assert.deepEqual(kinds(planNext(h, NOW)), ['failHeld', 'halt'], 'counted against the budget at once')
})

test('outside every maintenance window no host starts; inside, they do', () => {
  const windows = [{ cron: '0 22 * * *', timeZone: 'UTC', durationMinutes: 120, cutoffMinutes: 30 }]
  const r = rollout(4, { canary: 0, waves: ['100%'], maxConcurrent: 4, windows })
  const a = planNext(r, NOW)
  assert.deepEqual(kinds(a), ['startWave', 'wait'])
  assert.match((a[1] as { reason: string }).reason, /next opens 2026-05-01T22:00:00.000Z/)
  assert.equal(dispatched(planNext(r, new Date('2026-05-01T22:05:00Z'))).length, 4)
  assert.deepEqual(dispatched(planNext(r, new Date('2026-05-01T23:45:00Z'))), [], 'inside the cutoff')
})

test('a window months away still says when it opens (the horizon is the 366 days a window may be away)', () => {
  // NOW is 2026-05-01; the only window opens on 1 September.
  const windows = [{ cron: '0 3 1 9 *', timeZone: 'UTC', durationMinutes: 60 }]
  const a = planNext(rollout(2, { canary: 0, waves: ['100%'], maxConcurrent: 2, windows }), NOW)
  assert.deepEqual(kinds(a), ['startWave', 'wait'])
  assert.match((a[1] as { reason: string }).reason, /next opens 2026-09-01T03:00:00.000Z/)
})

test('hosts that are not READY wait; the others go', () => {
  const r = rollout(3, { canary: 0, waves: ['100%'], maxConcurrent: 3 })
  r.updates[1].hostReady = false
  assert.deepEqual(dispatched(planNext(r, NOW)), ['h00', 'h02'])
})

test('a retried host of an earlier wave runs before the next wave starts', () => {
  const r = rollout(4, { canary: 1, waves: ['100%'], maxConcurrent: 4, errorBudget: 1 })
  apply(r, planNext(r, NOW))
  finishAll(r, 'FAILED', 'faulted')
  r.updates[0].state = 'PENDING' // an operator retried it
  r.updates[0].verdict = null
  const a = planNext(r, NOW)
  assert.deepEqual(dispatched(a), ['h00'])
  assert.ok(!kinds(a).includes('startWave'))
})

test('completes after the last wave, with a summary', () => {
  const r = rollout(3, { canary: 1, waves: ['100%'], maxConcurrent: 3, onUnverified: 'continue' })
  apply(r, planNext(r, NOW))
  finishAll(r)
  apply(r, planNext(r, NOW))
  finishAll(r, 'NEEDS_REVIEW', 'unverified')
  const a = planNext(r, NOW)
  assert.deepEqual(kinds(a), ['finishWave', 'complete'])
  assert.equal((a[1] as { reason: string }).reason, '1 succeeded, 0 failed, 2 need review, 0 cancelled')
})

test('a halt with onHalt rollback starts the rollback once nothing is in flight', () => {
  const r = rollout(4, { canary: 0, waves: ['100%'], maxConcurrent: 2, onHalt: 'rollback' })
  apply(r, planNext(r, NOW))
  Object.assign(r.updates[0], { state: 'SUCCEEDED', verdict: 'hitless' })
  Object.assign(r.updates[1], { state: 'FAILED', verdict: 'faulted' })
  apply(r, planNext(r, NOW))
  assert.equal(r.phase, 'HALTED')
  r.updates[2].state = 'RUNNING'
  assert.deepEqual(planNext(r, NOW), [], 'waits for in-flight hosts')
  r.updates[2].state = 'QUEUED'
  assert.deepEqual(planNext(r, NOW), [])
  r.updates[2].state = 'CANCELLED'
  assert.deepEqual(planNext(r, NOW), [{ kind: 'startRollback', updateIds: ['u-h0', 'u-h1'] }])
  r.rolledBack = true
  assert.deepEqual(planNext(r, NOW), [])
})
