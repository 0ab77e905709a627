import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { HostUpdate } from '@hitless/protocol'
import { buildTimeline } from './step-timeline.js'

const T0 = Date.parse('2026-11-25T10:00:00.000Z')
const at = (ms: number) => new Date(T0 + ms).toISOString()

function update(name: string, offset: number, blackoutMs: number | null, running = false): HostUpdate {
  const steps = (['PREFLIGHT', 'SNAPSHOT_PRE', 'PRESERVE', 'KEXEC'] as const).map((step, i) => ({
    attempt: 1,
    step,
    status: running && i === 3 ? ('running' as const) : ('done' as const),
    startedAt: at(offset + i * 100),
    finishedAt: running && i === 3 ? null : at(offset + (i + 1) * 100),
    durationMs: running && i === 3 ? null : 100,
  }))
  return {
    id: `u-${name}`,
    rolloutId: 'ro',
    hostId: name,
    hostName: name,
    state: running ? 'RUNNING' : 'SUCCEEDED',
    attempt: 1,
    wave: 0,
    startedAt: at(offset),
    finishedAt: null,
    fromKernel: 'a',
    toKernel: 'b',
    blackoutMs,
    failureReason: null,
    // An older attempt's step is not drawn.
    steps: [...steps, { ...steps[0], attempt: 0, startedAt: at(-5000), finishedAt: at(-4000) }],
    verdict: null,
  }
}

test('steps of every host share one axis from the first start to the last end', () => {
  const t = buildTimeline([update('h1', 0, 40), update('h2', 400, null)], new Date(T0 + 10000))
  assert.equal(t.start.getTime(), T0)
  assert.equal(t.end.getTime(), T0 + 800)
  assert.deepEqual(
    t.rows[0].segments.map((s) => [s.step, s.leftPct, s.widthPct]),
    [
      ['PREFLIGHT', 0, 12.5],
      ['SNAPSHOT_PRE', 12.5, 12.5],
      ['PRESERVE', 25, 12.5],
      ['KEXEC', 37.5, 12.5],
    ],
  )
  assert.equal(t.rows[1].segments[0].leftPct, 50)
  // The blackout starts with KEXEC; a host that measured none has none drawn.
  assert.deepEqual(t.rows[0].blackout, { leftPct: 37.5, widthPct: 5, ms: 40 })
  assert.equal(t.rows[1].blackout, null)
  assert.ok(t.ticks.length >= 2 && t.ticks[0].pct === 0)
})

test('a running step reaches now, and tiny steps keep a visible width', () => {
  const t = buildTimeline([update('h1', 0, 1, true)], new Date(T0 + 100000))
  const kexec = t.rows[0].segments[3]
  assert.equal(kexec.status, 'running')
  assert.equal(Math.round(kexec.leftPct + kexec.widthPct), 100)
  assert.ok(t.rows[0].blackout!.widthPct >= 0.6)
})

test('no steps yet: an empty axis, not NaN', () => {
  const u = update('h1', 0, null)
  const t = buildTimeline([{ ...u, steps: [] }], new Date(T0))
  assert.deepEqual(t.rows[0].segments, [])
  assert.ok(Number.isFinite(t.ticks[0].pct))
})
