import { policyLimits } from '../src/planner/policy.js'
import type { PlannedWave } from '../src/planner/wave-plan.js'
import type { ResolvedPolicy } from '@hitless/protocol'

/**
 * The ideal makespan of a rollout: the same waves, the same rules (max concurrency, one host
 * per failure domain at a time, waves in order, bake time) and the same per-host durations,
 * with zero overhead — every host starts the instant the rules allow it, in plan order.
 */
export function idealMakespanMs(
  waves: PlannedWave[],
  policy: ResolvedPolicy,
  durationMs: (hostId: string) => number,
  domainOf: (hostId: string) => string | null,
): number {
  const total = waves.reduce((a, w) => a + w.hostIds.length, 0)
  const { maxConcurrent } = policyLimits(policy, total)
  let t = 0
  for (const [i, w] of waves.entries()) {
    if (i > 0) t += policy.bakeSeconds * 1000
    const pending = [...w.hostIds]
    const running: { id: string; end: number }[] = []
    const perDomain = new Map<string, number>()
    while (pending.length || running.length) {
      for (let k = 0; k < pending.length && running.length < maxConcurrent; ) {
        const id = pending[k]
        const d = policy.spreadBy ? domainOf(id) : null
        if (d !== null && (perDomain.get(d) ?? 0) >= policy.maxPerDomain) {
          k++
          continue
        }
        pending.splice(k, 1)
        running.push({ id, end: t + durationMs(id) })
        if (d !== null) perDomain.set(d, (perDomain.get(d) ?? 0) + 1)
      }
      running.sort((a, b) => a.end - b.end)
      const next = running.shift()!
      t = next.end
      const d = policy.spreadBy ? domainOf(next.id) : null
      if (d !== null) perDomain.set(d, perDomain.get(d)! - 1)
    }
  }
  return t
}
