import type { ResolvedPolicy, WavePlan } from '@hitless/protocol'
import { resolveCount } from './policy.js'

export interface PlanHost {
  id: string
  name: string
  labels: Record<string, string>
}

export interface PlannedWave extends WavePlan {
  hostIds: string[]
}

/**
 * Orders the selection and cuts it into waves. With `spreadBy`, hosts are dealt round-robin
 * over the failure domains (domains in name order, hosts in name order within each), so every
 * wave mixes domains and the per-domain limit rarely leaves a concurrency slot idle. Wave 0 is
 * the canary wave when `canary` > 0. The policy must have been validated (waves cover the
 * selection); waves left without hosts are dropped.
 */
export function planWaves(hosts: PlanHost[], policy: ResolvedPolicy): PlannedWave[] {
  const byName = [...hosts].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  let ordered = byName
  if (policy.spreadBy) {
    const domains = new Map<string, PlanHost[]>()
    for (const h of byName) {
      const d = h.labels[policy.spreadBy] ?? ''
      domains.set(d, [...(domains.get(d) ?? []), h])
    }
    const lists = [...domains.keys()].sort().map((k) => domains.get(k)!)
    ordered = []
    for (let i = 0; ordered.length < byName.length; i++)
      for (const l of lists) if (i < l.length) ordered.push(l[i])
  }
  const sizes = [
    ...(policy.canary > 0 ? [policy.canary] : []),
    ...policy.waves.map((w) => resolveCount(w, hosts.length, 'ceil')),
  ]
  const waves: PlannedWave[] = []
  let at = 0
  for (const [i, size] of sizes.entries()) {
    if (at >= ordered.length) break
    const slice = ordered.slice(at, at + size)
    at += slice.length
    waves.push({
      index: waves.length,
      kind: i === 0 && policy.canary > 0 ? 'canary' : 'wave',
      hosts: slice.map((h) => h.name),
      hostIds: slice.map((h) => h.id),
    })
  }
  return waves
}
