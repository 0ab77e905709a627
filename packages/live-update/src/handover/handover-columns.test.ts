import assert from 'node:assert/strict'
import { test } from 'node:test'
import { isHitlessError } from '@hitless/protocol'
import { decodeHandover, encodeHandover } from './handover-codec.js'
import { emptyAreas, emptyRuns, type HandoverState, runsFromAddresses } from './handover-format.js'

const PAGE = 4096

/** A state whose tables exercise every column kind: constant, i8, i16, i32 and f64 deltas. */
function state(n: number, shuffle: (i: number) => number): HandoverState {
  const frames = emptyRuns(n)
  const areas = emptyAreas(n)
  for (let i = 0; i < n; i++) {
    frames.start[i] = 0x10000 + shuffle(i)
    frames.count[i] = 1
    areas.iova[i] = 2 ** 45 + i * 2 * PAGE
    areas.length[i] = PAGE
    areas.file[i] = 0
    areas.offset[i] = shuffle(i) * PAGE
    areas.prot[i] = i % 3 === 0 ? 1 : 3
  }
  return {
    meta: {
      hardware: 'vtd-legacy',
      backend: 'emulated-vtd',
      kernel: { version: '6.19.0-hitless0', bootId: 'b-1' },
      targetKernel: '7.2.13-hitless1',
      strategy: 'serialise',
    },
    preserved: runsFromAddresses([0x10000, 0x11000]),
    memfds: [{ token: 'memfd:g', name: 'g', size: n * PAGE, frames }],
    ioas: [{ id: 1, key: 'ioas:g', allowed: null, areas }],
    hwpts: [],
    devices: [],
    userspace: null,
    job: null,
  }
}

function sameTables(a: HandoverState, b: HandoverState): void {
  for (const k of ['iova', 'length', 'file', 'offset', 'prot'] as const)
    assert.deepEqual([...a.ioas[0].areas[k]], [...b.ioas[0].areas[k]], k)
  assert.deepEqual([...a.memfds[0].frames.start], [...b.memfds[0].frames.start])
  assert.deepEqual([...a.memfds[0].frames.count], [...b.memfds[0].frames.count])
  assert.deepEqual([...a.preserved.start], [...b.preserved.start])
}

test('version 3 round-trips tables of every column width, and version 1 is still written and read', () => {
  for (const n of [0, 1, 2, 100, 40_000, 70_000]) {
    const s = state(n, (i) => (i * 7919) % n)
    for (const version of [1, 3] as const) {
      const blob = encodeHandover(s, version)
      assert.equal(blob[8], version)
      sameTables(decodeHandover(blob), s)
    }
  }
})

test('version 3 stores a regular table in a few bytes and a blob at an odd address still reads', () => {
  const s = state(100_000, (i) => i)
  // Every column but prot (i8: 1 byte an area) collapses to two values.
  assert.ok(encodeHandover(s).length < 100_000 + 1_000)
  assert.ok(encodeHandover(s, 1).length > 5 * 100_000)
  const shuffled = state(1000, (i) => (i * 7919) % 1000)
  const blob = encodeHandover(shuffled)
  const odd = new Uint8Array(blob.length + 3).subarray(3)
  odd.set(blob)
  sameTables(decodeHandover(odd), shuffled)
})

test('values that are not whole pages survive version 3 exactly and are refused as inconsistent', () => {
  const s = state(3, (i) => i)
  s.ioas[0].areas.offset[1] = 4096.5
  sameTables(decodeHandover(encodeHandover(s)), s)
  s.ioas[0].areas.length[1] = 4096.5
  assert.throws(
    () => decodeHandover(encodeHandover(s)),
    (e: unknown) => isHitlessError(e) && e.details?.check === 'inconsistent',
  )
})
