import { type CountOrPercent, HitlessError, type ResolvedPolicy, type RolloutPolicy } from '@hitless/protocol'
import { checkTimeZone, earliestOpening, parseCron } from './cron-window.js'

/** Every policy default, in one place (docs/rollout-engine.md lists them). */
export const DEFAULT_POLICY: ResolvedPolicy = {
  canary: 1,
  waves: ['100%'],
  maxConcurrent: '10%',
  spreadBy: null,
  maxPerDomain: 1,
  errorBudget: 0,
  bakeSeconds: 0,
  windows: [],
  blackoutSloMs: 1000,
  onUnverified: 'pause',
  onConsistent: 'pause',
  returnDeadlineSeconds: 600,
  onHalt: 'keep',
}

export function resolvePolicy(p: RolloutPolicy | undefined): ResolvedPolicy {
  const out = { ...DEFAULT_POLICY }
  for (const [k, v] of Object.entries(p ?? {})) if (v !== undefined) (out as Record<string, unknown>)[k] = v
  return out
}

const unprocessable = (field: string, message: string, extra: Record<string, unknown> = {}) =>
  new HitlessError('HITLESS_E_UNPROCESSABLE', `policy.${field}: ${message}`, {
    field: `policy.${field}`,
    ...extra,
  })

/** A percentage's value, or undefined for a count. */
const percent = (v: CountOrPercent): number | undefined =>
  typeof v === 'string' ? Number(v.slice(0, -1)) : undefined

/** Hosts a count-or-percentage stands for out of `total` (`round`: ceil for sizes, floor for budgets). */
export function resolveCount(v: CountOrPercent, total: number, round: 'ceil' | 'floor'): number {
  const pct = percent(v)
  if (pct === undefined) return v as number
  const exact = (pct * total) / 100
  // 1e-9: 10% of 30 is 3, not 3.0000000000000004 rounded up to 4.
  return round === 'ceil' ? Math.ceil(exact - 1e-9) : Math.floor(exact + 1e-9)
}

export interface PolicyLimits {
  maxConcurrent: number
  errorBudget: number
}

/** Concurrency and budget in hosts for a selection of `total` hosts. */
export function policyLimits(p: ResolvedPolicy, total: number): PolicyLimits {
  return {
    maxConcurrent: Math.max(1, resolveCount(p.maxConcurrent, total, 'ceil')),
    errorBudget: resolveCount(p.errorBudget, total, 'floor'),
  }
}

/**
 * Semantic checks of a resolved policy against the selection (the schema has checked types):
 * each failure is HITLESS_E_UNPROCESSABLE (422) naming the field and what to change.
 */
export function validatePolicy(
  p: ResolvedPolicy,
  hosts: { labels: Record<string, string> }[],
  now: Date,
): void {
  const total = hosts.length
  for (const [field, v] of [
    ['maxConcurrent', p.maxConcurrent],
    ['errorBudget', p.errorBudget],
    ...p.waves.map((w, i) => [`waves[${i}]`, w] as const),
  ] as const) {
    const pct = percent(v)
    if (pct !== undefined && pct > 100) throw unprocessable(field, `${v} is over 100%: give at most "100%"`)
  }
  if (p.maxConcurrent === 0 || percent(p.maxConcurrent) === 0)
    throw unprocessable(
      'maxConcurrent',
      'must allow at least one host at a time: give 1 or more, or a percentage above 0',
    )
  p.waves.forEach((w, i) => {
    if (w === 0 || percent(w) === 0)
      throw unprocessable(`waves[${i}]`, 'a wave of no host: remove it or give it a size')
  })
  if (p.canary > total)
    throw unprocessable(
      'canary',
      `${p.canary} canaries but the selector matches ${total} hosts: lower canary to at most ${total}`,
    )
  const covered = p.canary + p.waves.reduce<number>((a, w) => a + resolveCount(w, total, 'ceil'), 0)
  if (covered < total)
    throw unprocessable(
      'waves',
      `canary and waves cover ${covered} of the ${total} selected hosts: add a wave, or end the list with "100%" for the rest`,
      { covered, selected: total },
    )
  if (p.spreadBy) {
    const missing = hosts.filter((h) => h.labels[p.spreadBy!] === undefined).length
    if (missing)
      throw unprocessable(
        'spreadBy',
        `${missing} selected host(s) have no label "${p.spreadBy}": label them, or spread by another label`,
      )
  }
  p.windows.forEach((w, i) => {
    try {
      parseCron(w.cron)
    } catch (e) {
      throw unprocessable(`windows[${i}].cron`, `${(e as Error).message}`)
    }
    try {
      checkTimeZone(w.timeZone ?? 'UTC')
    } catch {
      throw unprocessable(
        `windows[${i}].timeZone`,
        `unknown time zone "${w.timeZone}": use an IANA name such as Europe/Paris`,
      )
    }
    if ((w.cutoffMinutes ?? 0) >= w.durationMinutes)
      throw unprocessable(
        `windows[${i}].cutoffMinutes`,
        `cutoff ${w.cutoffMinutes} min leaves no time of the ${w.durationMinutes}-minute window to start hosts: make it shorter than the duration`,
      )
  })
  if (p.windows.length && !earliestOpening(p.windows, now, 366))
    throw unprocessable('windows', 'no window opens within 366 days: check the cron day and month fields')
}
