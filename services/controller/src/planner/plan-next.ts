import type { HostUpdateState } from '@hitless/protocol'
import { anyWindowOpen, earliestOpening } from './cron-window.js'
import { policyLimits } from './policy.js'
import type { PlannerAction, PlannerRollout, PlannerUpdate } from './types.js'

const IN_FLIGHT: ReadonlySet<HostUpdateState> = new Set(['QUEUED', 'RUNNING', 'VERIFYING'])
const TERMINAL: ReadonlySet<HostUpdateState> = new Set([
  'SUCCEEDED',
  'NEEDS_REVIEW',
  'FAILED',
  'FAILED_HELD',
  'CANCELLED',
])

/** Why an update counts against the error budget, or undefined when it does not. */
export function failureOf(u: PlannerUpdate, r: PlannerRollout): string | undefined {
  const p = r.policy
  if (u.state === 'FAILED' || u.state === 'FAILED_HELD') return u.state.toLowerCase()
  if (u.state === 'NEEDS_REVIEW' && p.onUnverified === 'fail') return 'unverified'
  if (u.state === 'SUCCEEDED' && u.verdict === 'consistent' && p.onConsistent === 'fail') return 'consistent'
  if (
    (u.state === 'SUCCEEDED' || u.state === 'NEEDS_REVIEW') &&
    u.blackoutMs !== null &&
    u.blackoutMs > p.blackoutSloMs
  )
    return `blackout ${u.blackoutMs} ms over the ${p.blackoutSloMs} ms SLO`
  return undefined
}

/** The verdict gate an update stops the rollout at, or undefined. */
function gateOf(u: PlannerUpdate, r: PlannerRollout): string | undefined {
  if (u.gateAcked) return undefined
  if (u.state === 'NEEDS_REVIEW' && r.policy.onUnverified === 'pause') return u.verdict ?? 'unverified'
  if (u.state === 'SUCCEEDED' && u.verdict === 'consistent' && r.policy.onConsistent === 'pause')
    return 'consistent'
  return undefined
}

/**
 * The rollout planner: rollout state + policy + time → the next actions. Pure (no I/O, no
 * clock): the controller loop reads the state from PostgreSQL, calls this, and carries the
 * actions out with writes fenced by its lease epoch. Rules, in order (docs/rollout-engine.md):
 *
 * 1. A host whose KEXEC started more than `returnDeadlineSeconds` ago and has not come back is
 *    failed and held — in every phase, since in-flight updates go on after a pause or a halt.
 * 2. A halted rollout with `onHalt: rollback` starts its rollback once nothing is in flight.
 * 3. Only a RUNNING rollout goes further.
 * 4. More failures than the error budget halt it (in-flight hosts finish; none starts).
 * 5. A verdict gate (`unverified`/`consistent` with the `pause` action) not yet acknowledged
 *    pauses it.
 * 6. Waves run in order: a wave ends when all its hosts (and retried hosts of earlier waves)
 *    are terminal; the next starts after `bakeSeconds`; after the last, the rollout completes.
 * 7. Within the current wave, PENDING hosts whose host is READY start in plan order while
 *    a maintenance window is open, up to `maxConcurrent` in flight across the rollout and
 *    `maxPerDomain` per value of the `spreadBy` label.
 */
export function planNext(r: PlannerRollout, now: Date): PlannerAction[] {
  const actions: PlannerAction[] = []
  const updates = r.updates.map((u) => ({ ...u }))
  const p = r.policy

  // 1. hosts that never came back
  for (const u of updates) {
    if (u.state !== 'RUNNING' || !u.kexecRunningSince) continue
    const waited = now.getTime() - u.kexecRunningSince.getTime()
    if (waited > p.returnDeadlineSeconds * 1000) {
      actions.push({
        kind: 'failHeld',
        updateId: u.id,
        reason: `host did not come back within ${p.returnDeadlineSeconds} s of KEXEC: failed and held for inspection`,
      })
      u.state = 'FAILED_HELD'
    }
  }

  // 2. rollback after a halt
  if (r.phase === 'HALTED' && p.onHalt === 'rollback' && !r.rollbackOf && !r.rolledBack) {
    if (!updates.some((u) => IN_FLIGHT.has(u.state))) {
      const updateIds = updates
        .filter((u) => u.verdict !== null && u.state !== 'FAILED_HELD')
        .map((u) => u.id)
      if (updateIds.length) actions.push({ kind: 'startRollback', updateIds })
    }
    return actions
  }

  // 3.
  if (r.phase !== 'RUNNING') return actions

  // 4. error budget
  const { maxConcurrent, errorBudget } = policyLimits(p, updates.length)
  const failures = updates.flatMap((u) => {
    const why = failureOf(u, r)
    return why ? [`${u.hostName} (${why})`] : []
  })
  if (failures.length > errorBudget) {
    actions.push({
      kind: 'halt',
      reason: `error budget exhausted: ${failures.length} failed host(s) > budget ${errorBudget} (${failures.slice(0, 5).join(', ')}${failures.length > 5 ? ', ...' : ''})`,
    })
    return actions
  }

  // 5. verdict gates
  const gated = updates.find((u) => gateOf(u, r) !== undefined)
  if (gated) {
    actions.push({
      kind: 'pause',
      reason: `host ${gated.hostName}: verdict ${gateOf(gated, r)} needs a human: review update ${gated.id}, then resume (or retry the host)`,
    })
    return actions
  }

  // 6. waves
  const waves = [...r.waves].sort((a, b) => a.index - b.index)
  if (waves.length === 0) {
    if (updates.every((u) => TERMINAL.has(u.state)))
      actions.push({ kind: 'complete', reason: summary(updates) })
    return actions
  }
  let current = -1
  for (const w of waves) if (w.startedAt) current = w.index
  if (current === -1) {
    actions.push({ kind: 'startWave', wave: waves[0].index })
    current = waves[0].index
  }
  for (;;) {
    const settled = updates.every((u) => u.wave > current || TERMINAL.has(u.state))
    if (!settled) break
    const wave = waves.find((w) => w.index === current)!
    const finishedAt = wave.finishedAt ?? now
    if (!wave.finishedAt) actions.push({ kind: 'finishWave', wave: current })
    const next = waves.find((w) => w.index > current)
    if (!next) {
      actions.push({ kind: 'complete', reason: summary(updates) })
      return actions
    }
    const bakeEnds = new Date(finishedAt.getTime() + p.bakeSeconds * 1000)
    if (now < bakeEnds) {
      actions.push({
        kind: 'wait',
        reason: `baking wave ${current} until ${bakeEnds.toISOString()}`,
        until: bakeEnds,
      })
      return actions
    }
    actions.push({ kind: 'startWave', wave: next.index })
    current = next.index
  }

  // 7. dispatch
  const pending = updates
    .filter((u) => u.state === 'PENDING' && u.wave <= current)
    .sort((a, b) => a.wave - b.wave || a.order - b.order)
  if (pending.length === 0) return actions
  if (!anyWindowOpen(p.windows, now)) {
    // As far ahead as a window may be (validated at create); the search skips whole days.
    const opens = earliestOpening(p.windows, now, 366)
    actions.push({
      kind: 'wait',
      reason: `outside maintenance windows${opens ? `; next opens ${opens.toISOString()}` : ''}`,
      ...(opens ? { until: opens } : {}),
    })
    return actions
  }
  const inFlight = updates.filter((u) => IN_FLIGHT.has(u.state))
  let slots = maxConcurrent - inFlight.length
  const perDomain = new Map<string, number>()
  if (p.spreadBy)
    for (const u of inFlight)
      if (u.domain !== null) perDomain.set(u.domain, (perDomain.get(u.domain) ?? 0) + 1)
  let blockedBySpread = 0
  let notReady = 0
  for (const u of pending) {
    if (slots <= 0) break
    if (!u.hostReady) {
      notReady++
      continue
    }
    if (p.spreadBy && u.domain !== null && (perDomain.get(u.domain) ?? 0) >= p.maxPerDomain) {
      blockedBySpread++
      continue
    }
    actions.push({ kind: 'dispatch', updateId: u.id, hostName: u.hostName })
    slots--
    if (p.spreadBy && u.domain !== null) perDomain.set(u.domain, (perDomain.get(u.domain) ?? 0) + 1)
  }
  if (notReady && !actions.some((a) => a.kind === 'dispatch') && inFlight.length === 0)
    actions.push({
      kind: 'wait',
      reason: `${notReady} host(s) of wave ${current} are not READY (cordoned, offline or held)`,
    })
  else if (blockedBySpread && slots > 0 && !actions.some((a) => a.kind === 'dispatch'))
    actions.push({
      kind: 'wait',
      reason: `spread: every failure domain left in wave ${current} has a host updating`,
    })
  return actions
}

function summary(updates: PlannerUpdate[]): string {
  const n = (s: HostUpdateState[]) => updates.filter((u) => s.includes(u.state)).length
  return `${n(['SUCCEEDED'])} succeeded, ${n(['FAILED', 'FAILED_HELD'])} failed, ${n(['NEEDS_REVIEW'])} need review, ${n(['CANCELLED'])} cancelled`
}
