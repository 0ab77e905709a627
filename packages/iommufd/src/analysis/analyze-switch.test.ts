import assert from 'node:assert/strict'
import { test } from 'node:test'
import { HARDWARE } from '@hitless/protocol'
import { analyzeSwitch, toRow } from './analyze-switch.js'
import { predict } from './predict.js'
import { methodsFor, SWITCH_METHODS } from './switch-methods.js'

const rows = analyzeSwitch()

test('every method runs on every hardware model it exists on, across every interleaving, warm and cold', () => {
  for (const h of HARDWARE)
    assert.deepEqual(
      rows.filter((r) => r.hardware === h).map((r) => r.method),
      methodsFor(h),
    )
  for (const m of SWITCH_METHODS)
    assert.ok(
      rows.some((r) => r.method === m),
      `${m} never ran`,
    )
  for (const r of rows) assert.equal(r.interleavings, 2 * (r.stores + 1), `${r.hardware} ${r.method}`)
})

for (const r of rows) {
  const p = predict(r.hardware, r.method)
  test(`${r.hardware} ${r.method}: measured ${r.hitless ? 'hitless' : 'faulting'}, as the rules predict (${p.rule})`, () => {
    assert.equal(r.hitless, p.hitless, JSON.stringify(r))
    if (p.hitless) {
      assert.deepEqual(r.faults, { groundTruth: 0, recorded: 0, lost: 0 })
      return
    }
    assert.ok(r.faults.groundTruth > 0)
    if (p.failure === 'invalid-entry') {
      // Every faulting access was aborted and reported (recorded or lost): configuration faults.
      assert.deepEqual(r.violationKinds, ['aborted'])
      assert.equal(r.faults.recorded + r.faults.lost, r.faults.groundTruth)
      assert.ok(
        r.failing.some((f) => f.endsWith('/cold')),
        'a cold miss observes the invalid window',
      )
    }
    if (p.failure === 'bbm-hazard') assert.ok(r.violationKinds.includes('hazard'))
  })
}

test('the JSON row has exactly the documented keys', () => {
  assert.deepEqual(Object.keys(toRow(rows[0])).sort(), [
    'faults',
    'hardware',
    'hitless',
    'interleavings',
    'method',
  ])
})
