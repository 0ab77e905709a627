import assert from 'node:assert/strict'
import { test } from 'node:test'
import { progressBar, tally } from './progress-bar.js'

test('a bar of ended and in-flight hosts, with the counts after it', () => {
  const t = tally([
    'SUCCEEDED',
    'SUCCEEDED',
    'FAILED',
    'RUNNING',
    'PENDING',
    'PENDING',
    'NEEDS_REVIEW',
    'PENDING',
  ])
  assert.deepEqual(t, { total: 8, succeeded: 2, review: 1, failed: 1, running: 1, cancelled: 0 })
  assert.equal(progressBar(t, 8), '[████▒░░░] 4/8  ✓2 !1 ✕1 ▶1')
})

test('empty and complete bars', () => {
  assert.equal(progressBar(tally([]), 4), '[░░░░] 0/0  ✓0 !0 ✕0 ▶0')
  assert.equal(progressBar(tally(['SUCCEEDED', 'CANCELLED']), 4), '[████] 2/2  ✓1 !0 ✕0 ▶0 –1')
})
