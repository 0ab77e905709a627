import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { Snapshot } from '@hitless/protocol'
import {
  CORRUPTIONS,
  changedPermissions,
  extraMappings,
  missingMappings,
  shiftedPas,
} from './testing/corruptions.js'
import { seededRandom } from './testing/seeded-random.js'
import { cleanPost, type HostModel, snapshotOf, syntheticHost } from './testing/synthetic-host.js'
import { verifySnapshots } from './verify-snapshots.js'

const TARGET = '7.2.13-hitless1'
const expect = { targetKernel: TARGET, blackoutSloMs: 1000 }

function pair(seed: number, o: Parameters<typeof syntheticHost>[0] = { seed }): [HostModel, HostModel] {
  const pre = syntheticHost({ ...o, seed })
  return [pre, cleanPost(pre, seed, TARGET)]
}

test('a clean update is hitless, with an empty diff and the equal-root fast path', () => {
  const [pre, post] = pair(1)
  const r = verifySnapshots(snapshotOf(pre), snapshotOf(post), expect)
  assert.equal(r.verdict, 'hitless', r.reasons.join('\n'))
  assert.deepEqual(r.diff.kinds, {})
  assert.match(r.reasons[0], /^continuity: \d+ DMA accesses/)
  assert.equal(r.diff.leafViews['vm1/s2'].path, 'equal-root')
  assert.deepEqual(r.faults, { recorded: 0, lost: 0, groundTruth: 0 })
})

for (const c of CORRUPTIONS) {
  test(`corruption: ${c.name} → ${c.verdict}, ${c.reason}`, () => {
    for (const hardware of ['smmuv3-bbml2', 'vtd-scalable'] as const) {
      const [pre, post] = pair(42, { seed: 42, hardware, mappings: 5000 })
      c.apply(post, seededRandom(7))
      const r = verifySnapshots(snapshotOf(pre), snapshotOf(post), expect)
      assert.equal(r.verdict, c.verdict, `${hardware}: ${r.reasons.join('\n')}`)
      assert.ok(r.reasons[0].startsWith(`${c.reason}:`), `${hardware}: first reason ${r.reasons[0]}`)
      // Precise: exactly one difference of that kind, and nothing else.
      const kinds = Object.keys(r.diff.kinds)
      if (c.verdict === 'diverged') {
        assert.deepEqual(kinds, [c.reason], r.reasons.join('\n'))
        assert.equal(r.diff.kinds[c.reason as keyof typeof r.diff.kinds]!.total, 1)
      } else assert.deepEqual(kinds, [])
    }
  })
}

test('a leaf-size change is reported with its range and both leaves', () => {
  const [pre, post] = pair(3)
  CORRUPTIONS.find((c) => c.reason === 'leaf.size')!.apply(post, seededRandom(1))
  const r = verifySnapshots(snapshotOf(pre), snapshotOf(post), expect)
  const first = r.diff.kinds['leaf.size']!.first[0] as {
    length: string
    pre: { size: number }
    post: { size: number }
  }
  assert.equal(first.length, '0x200000')
  assert.equal(first.pre.size, 2 ** 21)
  assert.equal(first.post.size, 4096)
  assert.match(r.reasons[0], /break-before-make/)
})

test('zero false alarms over 200 seeded clean updates (both IOMMUs, sizes, capability sets)', () => {
  for (let seed = 1000; seed < 1200; seed++) {
    const hardware = seed % 2 ? 'smmuv3-bbml2' : 'vtd-scalable'
    const capabilities =
      seed % 5 === 0 ? { physicalAddresses: false } : seed % 7 === 0 ? { backing: false } : {}
    const [pre, post] = pair(seed, { seed, hardware, mappings: 500 + ((seed * 37) % 3000), capabilities })
    const r = verifySnapshots(snapshotOf(pre), snapshotOf(post), expect)
    assert.equal(r.verdict, 'hitless', `seed ${seed}: ${r.reasons.join('; ')}`)
  }
})

test('capabilities: what a backend cannot observe is never counted as equal', () => {
  const run = (capabilities: Parameters<typeof syntheticHost>[0]['capabilities']) => {
    const [pre, post] = pair(5, { seed: 5, capabilities })
    return verifySnapshots(snapshotOf(pre), snapshotOf(post), expect)
  }
  const noContinuity = run({ dmaContinuity: false })
  assert.equal(noContinuity.verdict, 'consistent')
  assert.match(noContinuity.reasons.join(), /cannot observe DMA continuity/)
  // Blind spots a backend declares (a real kernel today) cap the verdict at `consistent`, named.
  const noConfig = run({ configEntries: false })
  assert.equal(noConfig.verdict, 'consistent')
  assert.match(noConfig.reasons.join(), /not observed: configuration entries/)
  const noFaults = run({ hardwareFaultCounters: false, groundTruthFaults: false })
  assert.equal(noFaults.verdict, 'consistent')
  assert.match(noFaults.reasons.join(), /not observed: faults between the snapshots cannot be counted/)
  assert.equal(run({ physicalAddresses: false }).verdict, 'hitless')
  const blind = run({ physicalAddresses: false, backing: false })
  assert.equal(blind.verdict, 'unverified')
  assert.match(blind.reasons.join(), /translation targets/)
  assert.equal(run({ leafView: false }).verdict, 'unverified')
})

test('a difference found where something else was not observable still fails (diverged, not unverified)', () => {
  const [pre, post] = pair(6, { seed: 6, capabilities: { configEntries: false } })
  post.attachments[1].hwpt = 'vm2/s2'
  assert.equal(verifySnapshots(snapshotOf(pre), snapshotOf(post), expect).verdict, 'diverged')
})

test('DMA that stopped during the blackout is not continuity: consistent', () => {
  const [pre, post] = pair(8)
  post.dma = { accessCounter: pre.dma.accessCounter, duringBlackout: 0 }
  const r = verifySnapshots(snapshotOf(pre), snapshotOf(post), expect)
  assert.equal(r.verdict, 'consistent')
  assert.match(r.reasons.join(), /continuity: not shown/)
})

test('hardware fault counters that went backwards make the window unknown: unverified', () => {
  const [pre, post] = pair(9)
  post.faults = { ...post.faults, hardware: { source: 'smmuv3-evtq', recorded: 0, lost: 0 } }
  pre.faults = { ...pre.faults, hardware: { source: 'smmuv3-evtq', recorded: 3, lost: 0 } }
  const r = verifySnapshots(snapshotOf(pre), snapshotOf(post), expect)
  assert.equal(r.verdict, 'unverified')
  assert.match(r.reasons.join(), /went backwards/)
})

test('kernel fault counters alone prove a fault, never its absence', () => {
  const [pre, post] = pair(10, {
    seed: 10,
    capabilities: { hardwareFaultCounters: false, groundTruthFaults: false },
  })
  post.faults = { kernel: { recorded: 2, lost: 0, groundTruth: 0 } }
  const r = verifySnapshots(snapshotOf(pre), snapshotOf(post), expect)
  assert.equal(r.verdict, 'faulted')
  assert.equal(r.faults, null)
})

test('the blackout SLO uses the agent-reported blackout when the snapshot has none; no SLO, no check', () => {
  const [pre, post] = pair(11)
  post.blackoutMs = undefined
  assert.equal(
    verifySnapshots(snapshotOf(pre), snapshotOf(post), { ...expect, reportedBlackoutMs: 2000 }).verdict,
    'diverged',
  )
  assert.equal(verifySnapshots(snapshotOf(pre), snapshotOf(post), expect).verdict, 'unverified')
  assert.equal(
    verifySnapshots(snapshotOf(pre), snapshotOf(post), { targetKernel: TARGET }).verdict,
    'hitless',
  )
})

function withoutMerkle(s: Snapshot): Snapshot {
  return { ...s, hwpts: s.hwpts.map((h) => ({ ...h, merkle: [] })) }
}

test('Merkle descent finds exactly what a full sweep finds, and touches only differing chunks', () => {
  for (let seed = 1; seed <= 30; seed++) {
    const [pre, post] = pair(seed, { seed, mappings: 20000 })
    const rnd = seededRandom(seed)
    const k = 1 + (seed % 4)
    missingMappings(post.hwpts[0], rnd, k)
    extraMappings(post.hwpts[0], rnd, k)
    shiftedPas(post.hwpts[0], rnd, k)
    changedPermissions(post.hwpts[0], rnd, k)
    if (seed % 3 === 0) missingMappings(post.hwpts[0], () => 0, 1) // the very first leaf
    const a = snapshotOf(pre)
    const b = snapshotOf(post)
    const fast = verifySnapshots(a, b, expect)
    const full = verifySnapshots(withoutMerkle(a), withoutMerkle(b), expect)
    assert.deepEqual(fast.diff.kinds, full.diff.kinds, `seed ${seed}`)
    assert.equal(fast.diff.leafViews['vm1/s2'].path, 'descent')
    const f = fast.diff.leafViews['vm1/s2']
    // Each difference dirties at most its own chunk (plus one when it moves a chunk boundary).
    assert.ok(
      f.chunksDiffering <= 4 * k + 2,
      `seed ${seed}: ${f.chunksDiffering} chunks for ${4 * k} differences`,
    )
    assert.ok(f.segmentsSwept < full.diff.leafViews['vm1/s2'].segmentsSwept)
  }
})

test('the diff is bounded: first N of each kind, with exact totals', () => {
  const [pre, post] = pair(12, { seed: 12, mappings: 20000 })
  const h = post.hwpts[0]
  for (let i = 0; i < h.count; i += 10) if (h.sizeLog2[i] === 12) h.prot[i] ^= 2
  const r = verifySnapshots(snapshotOf(pre), snapshotOf(post), { ...expect, diffLimit: 5 })
  const prot = r.diff.kinds['leaf.prot']!
  assert.equal(prot.first.length, 5)
  assert.equal(prot.total, 2000)
  assert.equal(prot.bytes, String(2000 * 4096))
})
