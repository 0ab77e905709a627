// Maintenance windows: a 5-field cron matcher (minute hour day-of-month month day-of-week) in a
// time zone, through Intl only. Semantics follow cron(5) (Vixie cron): `*`, lists, ranges, steps,
// names (JAN, MON), day-of-week 0 and 7 both Sunday, and when both day-of-month and day-of-week
// are restricted a day matches if either does.

export interface CronSpec {
  minute: Set<number>
  hour: Set<number>
  dom: Set<number>
  month: Set<number>
  dow: Set<number>
  domStar: boolean
  dowStar: boolean
}

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC']
const DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT']

function parseField(
  text: string,
  what: string,
  min: number,
  max: number,
  names: string[] = [],
  nameBase = 0,
): Set<number> {
  const out = new Set<number>()
  const value = (s: string): number => {
    const i = names.indexOf(s.toUpperCase())
    if (i >= 0) return i + nameBase
    if (!/^\d+$/.test(s)) throw new Error(`${what}: "${s}" is not a number`)
    const n = Number(s)
    if (n < min || n > max) throw new Error(`${what}: ${n} is outside ${min}-${max}`)
    return n
  }
  for (const part of text.split(',')) {
    const [range, stepText] = part.split('/')
    const step = stepText === undefined ? 1 : Number(stepText)
    if (!Number.isInteger(step) || step < 1)
      throw new Error(`${what}: step "${stepText}" must be a positive integer`)
    let lo: number
    let hi: number
    if (range === '*') {
      lo = min
      hi = max
    } else if (range.includes('-')) {
      const [a, b] = range.split('-')
      lo = value(a)
      hi = value(b)
      if (lo > hi) throw new Error(`${what}: range ${range} runs backwards`)
    } else {
      lo = value(range)
      hi = stepText === undefined ? lo : max
    }
    for (let v = lo; v <= hi; v += step) out.add(v)
  }
  return out
}

/** Parses a 5-field cron expression; throws an Error saying which field is wrong. */
export function parseCron(expr: string): CronSpec {
  const f = expr.trim().split(/\s+/)
  if (f.length !== 5)
    throw new Error(
      `"${expr}" has ${f.length} fields; a cron expression has 5 (minute hour day month weekday)`,
    )
  const dow = parseField(f[4], 'day-of-week', 0, 7, DAYS)
  if (dow.has(7)) {
    dow.delete(7)
    dow.add(0)
  }
  return {
    minute: parseField(f[0], 'minute', 0, 59),
    hour: parseField(f[1], 'hour', 0, 23),
    dom: parseField(f[2], 'day-of-month', 1, 31),
    month: parseField(f[3], 'month', 1, 12, MONTHS, 1),
    dow,
    domStar: f[2] === '*',
    dowStar: f[4] === '*',
  }
}

/** Throws when the time zone is not one Intl knows. */
export function checkTimeZone(timeZone: string): void {
  new Intl.DateTimeFormat('en-US', { timeZone })
}

const formatters = new Map<string, Intl.DateTimeFormat>()

/** Offset of `timeZone` from UTC at instant `t`, in ms (local = utc + offset). */
function offsetAt(timeZone: string, t: number): number {
  let f = formatters.get(timeZone)
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    })
    formatters.set(timeZone, f)
  }
  const p: Record<string, number> = {}
  for (const part of f.formatToParts(new Date(t)))
    if (part.type !== 'literal') p[part.type] = Number(part.value)
  const local = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second)
  return local - Math.floor(t / 1000) * 1000
}

/**
 * Offsets change at most at hour boundaries in every real time zone, so they are cached per UTC
 * hour: scanning a week minute by minute costs 168 Intl calls, not 10,080.
 */
class OffsetCache {
  private readonly byHour = new Map<number, number>()
  constructor(private readonly timeZone: string) {}
  at(t: number): number {
    const h = Math.floor(t / 3600000)
    let o = this.byHour.get(h)
    if (o === undefined) {
      o = offsetAt(this.timeZone, h * 3600000)
      this.byHour.set(h, o)
    }
    return o
  }
}

function matchesLocal(c: CronSpec, local: Date): boolean {
  if (!c.minute.has(local.getUTCMinutes()) || !c.hour.has(local.getUTCHours())) return false
  if (!c.month.has(local.getUTCMonth() + 1)) return false
  const domOk = c.dom.has(local.getUTCDate())
  const dowOk = c.dow.has(local.getUTCDay())
  if (c.domStar || c.dowStar) return (c.domStar || domOk) && (c.dowStar || dowOk)
  return domOk || dowOk
}

/** True when the cron expression matches the minute containing instant `t` in `timeZone`. */
export function cronMatches(
  c: CronSpec,
  t: number,
  timeZone = 'UTC',
  cache = new OffsetCache(timeZone),
): boolean {
  return matchesLocal(c, new Date(t + cache.at(t)))
}

export interface WindowSpec {
  cron: string
  timeZone?: string
  durationMinutes: number
  cutoffMinutes?: number
}

const MINUTE = 60000

/**
 * The window open at `now` for starting new hosts: the latest cron match `t` with
 * `t <= now < t + duration - cutoff`. Returns its bounds, or undefined when closed.
 */
export function openWindowAt(
  w: WindowSpec,
  now: Date,
): { opensAt: Date; closesAt: Date; cutoffAt: Date } | undefined {
  const c = parseCron(w.cron)
  const tz = w.timeZone ?? 'UTC'
  const cache = new OffsetCache(tz)
  const nowMin = Math.floor(now.getTime() / MINUTE) * MINUTE
  const usable = w.durationMinutes - (w.cutoffMinutes ?? 0)
  for (let back = 0; back < usable; back++) {
    const t = nowMin - back * MINUTE
    if (cronMatches(c, t, tz, cache)) {
      const closesAt = t + w.durationMinutes * MINUTE
      const cutoffAt = closesAt - (w.cutoffMinutes ?? 0) * MINUTE
      if (now.getTime() < cutoffAt)
        return { opensAt: new Date(t), closesAt: new Date(closesAt), cutoffAt: new Date(cutoffAt) }
    }
  }
  return undefined
}

/**
 * When the window next lets a host start, at or after `from`, searching `horizonDays` ahead;
 * undefined when it never does. Skips whole local days and hours that cannot match.
 */
export function nextOpening(w: WindowSpec, from: Date, horizonDays = 366): Date | undefined {
  if (w.durationMinutes - (w.cutoffMinutes ?? 0) <= 0) return undefined
  if (openWindowAt(w, from)) return from
  const c = parseCron(w.cron)
  const tz = w.timeZone ?? 'UTC'
  const cache = new OffsetCache(tz)
  const end = from.getTime() + horizonDays * 86400000
  let t = Math.ceil(from.getTime() / MINUTE) * MINUTE
  while (t <= end) {
    const local = new Date(t + cache.at(t))
    const dayOk =
      c.month.has(local.getUTCMonth() + 1) &&
      (c.domStar || c.dowStar
        ? (c.domStar || c.dom.has(local.getUTCDate())) && (c.dowStar || c.dow.has(local.getUTCDay()))
        : c.dom.has(local.getUTCDate()) || c.dow.has(local.getUTCDay()))
    if (!dayOk) {
      // to the next local midnight (at least one minute on)
      const toMidnight = 86400000 - (local.getTime() % 86400000)
      t += Math.max(MINUTE, toMidnight)
      continue
    }
    if (!c.hour.has(local.getUTCHours())) {
      t += Math.max(MINUTE, 3600000 - (local.getTime() % 3600000))
      continue
    }
    if (c.minute.has(local.getUTCMinutes())) return new Date(t)
    t += MINUTE
  }
  return undefined
}

/** Whether any of `windows` lets a new host start at `now`; no windows means always. */
export function anyWindowOpen(windows: WindowSpec[], now: Date): boolean {
  return windows.length === 0 || windows.some((w) => openWindowAt(w, now) !== undefined)
}

/** The earliest opening of any window at or after `from` (undefined: none within the horizon). */
export function earliestOpening(windows: WindowSpec[], from: Date, horizonDays = 366): Date | undefined {
  let best: Date | undefined
  for (const w of windows) {
    const n = nextOpening(w, from, horizonDays)
    if (n && (!best || n < best)) best = n
  }
  return best
}
