import assert from 'node:assert/strict'
import { test } from 'node:test'
import { gzipSync } from 'node:zlib'
import { SNAPSHOT_FORMAT, snapshotDigest } from '@hitless/protocol'
import { buildSnapshot, cleanPost, syntheticHost } from '@hitless/verify/testing/synthetic-host'
import { judge, type StoredSnapshot } from './judge.js'

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

function stored(
  phase: 'pre' | 'post',
  raw: Uint8Array,
  overrides: Partial<StoredSnapshot> = {},
): StoredSnapshot {
  return {
    phase,
    format: SNAPSHOT_FORMAT,
    digest: snapshotDigest(raw),
    sizeBytes: raw.length,
    encoding: 'gzip',
    data: gzipSync(raw),
    ...overrides,
  }
}

function cleanPair(): [Uint8Array, Uint8Array] {
  const pre = syntheticHost({ seed: 3 })
  const post = cleanPost(pre, 3)
  return [buildSnapshot(pre).encode(), buildSnapshot(post).encode()]
}

test('stored gzip snapshots of a clean update are hitless, with diff and faults', () => {
  const [a, b] = cleanPair()
  const j = judge([stored('pre', a), stored('post', b)], {
    targetKernel: '7.2.13-hitless1',
    blackoutSloMs: 1000,
  })
  assert.equal(j.verdict, 'hitless', j.reasons.join('; '))
  assert.deepEqual(j.faults, { recorded: 0, lost: 0, groundTruth: 0 })
  assert.ok(j.diff)
})

test('a bad or truncated snapshot gives unverified with the reason, never a crash', () => {
  const [a, b] = cleanPair()
  const cases: [StoredSnapshot, RegExp][] = [
    [stored('post', b.subarray(0, b.length - 100)), /post-kexec snapshot unreadable: snapshot truncated/],
    [stored('post', b.subarray(0, 3)), /snapshot truncated/],
    [stored('post', new TextEncoder().encode('hello, not a snapshot')), /snapshot magic/],
    [stored('post', b, { data: new Uint8Array([1, 2, 3]) }), /does not decompress/],
    [stored('post', b, { digest: 'sha256:00' }), /not the digest sha256:00 recorded at upload/],
    [stored('post', b, { format: 'something/v9' }), /has format something\/v9/],
    [
      stored(
        'post',
        (() => {
          const c = b.slice()
          c[c.length - 200] ^= 0xff
          return c
        })(),
      ),
      /snapshot checksum/,
    ],
  ]
  for (const [post, reason] of cases) {
    const j = judge([stored('pre', a), post])
    assert.equal(j.verdict, 'unverified')
    assert.match(j.reasons.join('\n'), reason)
  }
})
