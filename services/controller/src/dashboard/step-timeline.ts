import { type HostUpdate, type StepRecord, UPDATE_STEPS, type UpdateStep } from '@hitless/protocol'

/** One step drawn on a time axis, in percent of the axis. */
export interface TimelineSegment {
  step: UpdateStep
  status: StepRecord['status']
  leftPct: number
  widthPct: number
  ms: number
}

export interface TimelineRow {
  update: HostUpdate
  segments: TimelineSegment[]
  /** The guest-visible blackout, drawn from the start of KEXEC (where the guest is frozen). */
  blackout: { leftPct: number; widthPct: number; ms: number } | null
}

export interface Timeline {
  start: Date
  end: Date
  rows: TimelineRow[]
  /** Axis ticks (percent and the time offset they stand for, in ms). */
  ticks: { pct: number; ms: number }[]
}

/** Narrowest drawn width, so that a 5 ms step on a 10 min axis can still be seen. */
const MIN_WIDTH_PCT = 0.6

const NICE_STEPS_MS = [
  10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 15000, 30000, 60000, 120000, 300000, 600000, 900000,
  1800000, 3600000, 7200000, 21600000, 43200000, 86400000,
]

/**
 * Lays out the current attempt's steps of every host update on one time axis shared by the
 * rollout (from the first step started to the last ended, or `now` while one runs), so waves
 * and concurrency show as they happened. Pure: the view draws what this returns.
 */
export function buildTimeline(updates: HostUpdate[], now: Date): Timeline {
  const current = (u: HostUpdate) => u.steps.filter((s) => s.attempt === u.attempt)
  let start = Number.POSITIVE_INFINITY
  let end = Number.NEGATIVE_INFINITY
  for (const u of updates)
    for (const s of current(u)) {
      const a = Date.parse(s.startedAt)
      const b = s.finishedAt ? Date.parse(s.finishedAt) : now.getTime()
      start = Math.min(start, a)
      end = Math.max(end, b, a)
    }
  if (!Number.isFinite(start)) {
    start = now.getTime()
    end = start
  }
  const span = Math.max(end - start, 1)
  const pct = (t: number) => ((t - start) / span) * 100
  const width = (ms: number, left: number) => Math.min(Math.max((ms / span) * 100, MIN_WIDTH_PCT), 100 - left)
  const rows = updates.map((update): TimelineRow => {
    const steps = current(update).sort((a, b) => UPDATE_STEPS.indexOf(a.step) - UPDATE_STEPS.indexOf(b.step))
    const segments = steps.map((s) => {
      const a = Date.parse(s.startedAt)
      const b = s.finishedAt ? Date.parse(s.finishedAt) : now.getTime()
      const leftPct = Math.min(pct(a), 100 - MIN_WIDTH_PCT)
      return { step: s.step, status: s.status, leftPct, widthPct: width(b - a, leftPct), ms: b - a }
    })
    const kexec = steps.find((s) => s.step === 'KEXEC')
    let blackout: TimelineRow['blackout'] = null
    if (kexec && update.blackoutMs !== null) {
      const leftPct = Math.min(pct(Date.parse(kexec.startedAt)), 100 - MIN_WIDTH_PCT)
      blackout = { leftPct, widthPct: width(update.blackoutMs, leftPct), ms: update.blackoutMs }
    }
    return { update, segments, blackout }
  })
  const every = NICE_STEPS_MS.find((s) => span / s <= 6) ?? NICE_STEPS_MS[NICE_STEPS_MS.length - 1]
  const ticks: Timeline['ticks'] = []
  for (let t = 0; t <= span; t += every) ticks.push({ pct: (t / span) * 100, ms: t })
  return { start: new Date(start), end: new Date(end), rows, ticks }
}
