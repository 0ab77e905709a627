import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Registry } from 'prom-client'
import { histogramSamples, SnapshotMetric } from './snapshot-metric.js'

test('a histogram row becomes cumulative _bucket lines, +Inf = _count, then _sum and _count', async () => {
  const reg = new Registry()
  const h = new SnapshotMetric('x_seconds', 'x', 'histogram').register(reg)
  h.publish(histogramSamples('x_seconds', [0.1, 1], [{ labels: { s: 'a' }, le: [1, 3], count: 4, sum: 9.5 }]))
  assert.equal(
    await reg.metrics(),
    [
      '# HELP x_seconds x',
      '# TYPE x_seconds histogram',
      'x_seconds_bucket{s="a",le="0.1"} 1',
      'x_seconds_bucket{s="a",le="1"} 3',
      'x_seconds_bucket{s="a",le="+Inf"} 4',
      'x_seconds_sum{s="a"} 9.5',
      'x_seconds_count{s="a"} 4',
      '',
    ].join('\n'),
  )
  assert.throws(() => histogramSamples('x_seconds', [0.1, 1], [{ labels: {}, le: [1], count: 1, sum: 1 }]))
})

test('each series is held at its highest value, and kept when it disappears', async () => {
  const reg = new Registry()
  const c = new SnapshotMetric('y_total', 'y', 'counter').register(reg)
  c.publish([
    { labels: { r: 'a' }, value: 5 },
    { labels: { r: 'b' }, value: 2 },
  ])
  c.publish([
    { labels: { r: 'a' }, value: 4 },
    { labels: { r: 'c' }, value: 1 },
  ])
  assert.equal(
    await reg.metrics(),
    '# HELP y_total y\n# TYPE y_total counter\ny_total{r="a"} 5\ny_total{r="b"} 2\ny_total{r="c"} 1\n',
  )
  c.publish([{ labels: { r: 'a' }, value: 7 }])
  assert.match(await reg.metrics(), /y_total\{r="a"\} 7/)
  const [json] = await reg.getMetricsAsJSON()
  assert.equal(json.name, 'y_total')
  assert.equal(json.type, 'counter')
})
