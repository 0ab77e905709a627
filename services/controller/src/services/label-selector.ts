import { HitlessError, type Labels } from '@hitless/protocol'

/** Parses `key=value,key2=value2` (the ?selector= query) into a label map. */
export function parseSelector(s: string | undefined): Labels {
  const out: Labels = {}
  if (!s) return out
  for (const part of s.split(',')) {
    const m = /^\s*([^=\s]+)\s*=\s*([^=\s]*)\s*$/.exec(part)
    if (!m)
      throw new HitlessError('HITLESS_E_VALIDATION', `selector: "${part}" is not key=value`, {
        path: '/selector',
      })
    out[m[1]] = m[2]
  }
  return out
}

export function matchesLabels(labels: Labels, wanted: Labels): boolean {
  for (const [k, v] of Object.entries(wanted)) if (labels[k] !== v) return false
  return true
}
