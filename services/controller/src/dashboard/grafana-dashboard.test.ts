import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { ControllerMetrics } from '../metrics.js'

// deploy/grafana/hitless-dashboard.json must only query metrics the controller exports.
const DASHBOARD = new URL('../../../../deploy/grafana/hitless-dashboard.json', import.meta.url)

test('every metric the Grafana dashboard queries is one the controller exports', async () => {
  const dash = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as {
    uid: string
    panels: { type: string; targets?: { expr: string }[] }[]
  }
  const exported = new Set(
    (await new ControllerMetrics().registry.getMetricsAsJSON()).map((m) => m.name as string),
  )
  const used = new Set<string>()
  for (const p of dash.panels)
    for (const t of p.targets ?? [])
      for (const m of t.expr.matchAll(/\bhitless_[a-z_]+/g))
        used.add(m[0].replace(/_(bucket|sum|count)$/, ''))
  assert.ok(used.size >= 10, [...used].join(', '))
  for (const name of used) assert.ok(exported.has(name), `${name} is not exported by /metrics`)
  assert.equal(dash.uid, 'hitless-fleet')
})
