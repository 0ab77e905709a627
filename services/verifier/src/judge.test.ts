import assert from 'node:assert/strict'
import { test } from 'node:test'
import { judge } from './judge.js'

test('an update without snapshots is unverified, with a reason per missing snapshot', () => {
  const j = judge([])
  assert.equal(j.verdict, 'unverified')
  assert.equal(j.reasons.length, 2)
  assert.match(j.reasons[0], /pre-kexec/)
})

test('a missing post snapshot alone still gives unverified', () => {
  const j = judge([{ phase: 'pre', format: 'x', digest: 'sha256:0', sizeBytes: 1 }])
  assert.equal(j.verdict, 'unverified')
  assert.deepEqual(j.reasons.length, 1)
  assert.match(j.reasons[0], /post-kexec/)
})
