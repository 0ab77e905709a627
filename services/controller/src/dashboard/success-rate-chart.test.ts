import assert from 'node:assert/strict'
import { test } from 'node:test'
import { fillBuckets, type RateBucket, successRateChart } from './success-rate-chart.js'

const b = (at: string, hitless: number, diverged: number): RateBucket => ({
  at,
  updates: hitless + diverged,
  hitless,
  diverged,
  consistent: 0,
  faulted: 0,
  unverified: 0,
  hitlessRate: hitless / (hitless + diverged),
})

test('buckets cover the whole period, empty ones included', () => {
  const f = fillBuckets(
    [b('2026-11-20T00:00:00Z', 3, 1)],
    new Date('2026-11-18T05:00:00Z'),
    new Date('2026-11-21T01:00:00Z'),
    'day',
  )
  assert.deepEqual(
    f.map((x) => [new Date(x.at).toISOString().slice(0, 10), x.b?.updates ?? 0]),
    [
      ['2026-11-18', 0],
      ['2026-11-19', 0],
      ['2026-11-20', 4],
      ['2026-11-21', 0],
    ],
  )
})

test('the chart is an accessible SVG with a summary, bars per verdict and the rate line', () => {
  const svg = successRateChart(
    [b('2026-11-19T00:00:00Z', 9, 1), b('2026-11-21T00:00:00Z', 4, 0)],
    new Date('2026-11-18T00:00:00Z'),
    new Date('2026-11-21T12:00:00Z'),
    'day',
  ).value
  assert.match(svg, /^<svg class="chart"[^>]*role="img"/)
  assert.match(
    svg,
    /<desc id="rate-desc">92\.9 % hitless of 14 judged updates; lowest 90\.0 % at 11-19<\/desc>/,
  )
  assert.equal((svg.match(/<rect /g) ?? []).length, 3)
  // Two runs of the line: the empty day between them breaks it.
  const d = /class="rate" d="([^"]+)"/.exec(svg)![1]
  assert.equal((d.match(/M/g) ?? []).length, 2)
  assert.doesNotMatch(svg, /NaN/)
})

test('no data: a readable empty chart', () => {
  const svg = successRateChart(
    [],
    new Date('2026-11-18T00:00:00Z'),
    new Date('2026-11-18T03:00:00Z'),
    'hour',
  ).value
  assert.match(svg, /no judged update in this period/)
  assert.doesNotMatch(svg, /NaN|<path/)
})
