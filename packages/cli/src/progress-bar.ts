/** Host counts of a rollout or a wave, by how they ended. */
export interface HostTally {
  total: number
  succeeded: number
  review: number
  failed: number
  running: number
  cancelled: number
}

export function tally(states: string[]): HostTally {
  const n = (s: string[]) => states.filter((x) => s.includes(x)).length
  return {
    total: states.length,
    succeeded: n(['SUCCEEDED']),
    review: n(['NEEDS_REVIEW']),
    failed: n(['FAILED', 'FAILED_HELD']),
    running: n(['QUEUED', 'RUNNING', 'VERIFYING']),
    cancelled: n(['CANCELLED']),
  }
}

/**
 * `[██████▒▒░░░░░░░░░░░░]  6/20  ✓5 !0 ✕1 ▶2`: ended hosts as full blocks, hosts in flight as
 * shaded ones, the counts after (so the bar reads without colour).
 */
export function progressBar(t: HostTally, width = 24): string {
  const ended = t.succeeded + t.review + t.failed + t.cancelled
  const full = t.total ? Math.round((ended / t.total) * width) : 0
  const mid = t.total ? Math.min(width - full, Math.round((t.running / t.total) * width)) : 0
  const bar = '█'.repeat(full) + '▒'.repeat(mid) + '░'.repeat(Math.max(width - full - mid, 0))
  const counts = [`✓${t.succeeded}`, `!${t.review}`, `✕${t.failed}`, `▶${t.running}`]
  if (t.cancelled) counts.push(`–${t.cancelled}`)
  return `[${bar}] ${String(ended).padStart(String(t.total).length)}/${t.total}  ${counts.join(' ')}`
}
