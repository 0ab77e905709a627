import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { RolloutPolicy } from '@hitless/protocol'
import { DEFAULT_POLICY, policyLimits, resolveCount, resolvePolicy, validatePolicy } from './policy.js'

const hosts = (n: number) => Array.from({ length: n }, (_, i) => ({ labels: { rack: `r${i % 4}` } }))
const NOW = new Date('2026-05-01T12:00:00Z')
const check = (p: RolloutPolicy, n = 20) => validatePolicy(resolvePolicy(p), hosts(n), NOW)

function refused(p: RolloutPolicy, field: string, re: RegExp, n = 20) {
  assert.throws(
    () => check(p, n),
    (e: { code?: string; message: string; details?: { field?: string } }) => {
      assert.equal(e.code, 'HITLESS_E_UNPROCESSABLE')
      assert.equal(e.details?.field, `policy.${field}`)
      assert.match(e.message, re)
      return true
    },
  )
}

test('defaults fill every field; given fields win', () => {
  assert.deepEqual(resolvePolicy(undefined), DEFAULT_POLICY)
  const p = resolvePolicy({ canary: 0, spreadBy: 'rack' })
  assert.equal(p.canary, 0)
  assert.equal(p.spreadBy, 'rack')
  assert.equal(p.onUnverified, 'pause')
  assert.equal(p.blackoutSloMs, 1000)
  check({})
})

test('counts and percentages resolve against the selection (sizes round up, budgets down)', () => {
  assert.equal(resolveCount('10%', 30, 'ceil'), 3)
  assert.equal(resolveCount('10%', 31, 'ceil'), 4)
  assert.equal(resolveCount('10%', 31, 'floor'), 3)
  assert.equal(resolveCount(7, 31, 'ceil'), 7)
  assert.deepEqual(policyLimits(resolvePolicy({ maxConcurrent: '1%', errorBudget: '5%' }), 20), {
    maxConcurrent: 1,
    errorBudget: 1,
  })
})

test('a percentage over 100 is refused, naming the field', () => {
  refused({ maxConcurrent: '150%' }, 'maxConcurrent', /150% is over 100%/)
  refused({ errorBudget: '101%' }, 'errorBudget', /over 100%/)
  refused({ waves: ['10%', '200%'] }, 'waves[1]', /over 100%/)
})

test('waves that do not cover the selection are refused, saying how to fix them', () => {
  refused({ canary: 1, waves: [5, 5] }, 'waves', /cover 11 of the 20 selected hosts.*"100%"/)
  check({ canary: 1, waves: [5, '100%'] })
  check({ canary: 2, waves: ['50%', '40%'] })
})

test('zero concurrency, empty waves and too many canaries are refused', () => {
  refused({ maxConcurrent: 0 }, 'maxConcurrent', /at least one host/)
  refused({ waves: [0, '100%'] }, 'waves[0]', /no host/)
  refused({ canary: 30 }, 'canary', /at most 20/)
})

test('spreading over a label some hosts lack is refused', () => {
  refused({ spreadBy: 'row' }, 'spreadBy', /no label "row"/)
})

test('windows: bad cron, unknown zone, cutoff past duration, never opening', () => {
  refused({ windows: [{ cron: '0 25 * * *', durationMinutes: 60 }] }, 'windows[0].cron', /hour: 25/)
  refused(
    { windows: [{ cron: '0 1 * * *', timeZone: 'Mars/Olympus', durationMinutes: 60 }] },
    'windows[0].timeZone',
    /unknown time zone/,
  )
  refused(
    { windows: [{ cron: '0 1 * * *', durationMinutes: 60, cutoffMinutes: 60 }] },
    'windows[0].cutoffMinutes',
    /shorter/,
  )
  refused({ windows: [{ cron: '0 0 31 4 *', durationMinutes: 60 }] }, 'windows', /within 366 days/)
  check({
    windows: [{ cron: '0 22 * * 1-5', timeZone: 'Europe/Paris', durationMinutes: 240, cutoffMinutes: 30 }],
  })
})
