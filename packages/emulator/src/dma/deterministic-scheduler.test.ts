import assert from 'node:assert/strict'
import { test } from 'node:test'
import { SIZE_2M, SIZE_4K } from '../pagetable/vmsav8/descriptor.js'
import { PageTableBuilder } from '../pagetable/vmsav8/builder.js'
import { CD, makeS1Cd } from '../smmuv3/context-descriptor.js'
import { EventId } from '../smmuv3/events.js'
import { createSmmuWorld, type SmmuWorldOptions } from '../smmuv3/smmu-world.js'
import { DeterministicScheduler } from './deterministic-scheduler.js'
import { DmaEngine } from './dma-engine.js'
import { enumerateInterleavings } from './interleavings.js'
import { SeededRandom } from './seeded-random.js'
import { WorkingSet } from './working-set.js'

const RW = { read: true, write: true }
const SID = 0x10
const ASID = 3

/** A host with one stage-1 device, 8 pages mapped, caches warmed by one probe. */
function host(seed = 1, opts: SmmuWorldOptions = {}) {
  const w = createSmmuWorld(opts)
  const { tables, cdTable } = w.attachS1(SID, ASID)
  const entries = Array.from({ length: 8 }, (_, i) => ({
    iova: 0x100_0000 + i * SIZE_4K,
    pa: 0x80_0000 + i * 0x3000,
    perm: 'rw' as const,
  }))
  for (const e of entries) tables.map(e.iova, e.pa, SIZE_4K, RW)
  const engine = new DmaEngine(w.smmu, new SeededRandom(seed))
  engine.addDevice({ requesterId: SID, workingSet: WorkingSet.from(entries), rate: 2 })
  engine.probeAll()
  return { ...w, tables, cdTable, engine, entries }
}

/** Second copy of the same translations in other table frames. */
function copyTables(h: ReturnType<typeof host>) {
  const t = PageTableBuilder.create(h.port, h.allocator, { stage: 1 })
  for (const e of h.entries) t.map(e.iova, e.pa, SIZE_4K, RW)
  return t
}

test('hitless: a CD TTB0 swap with the same ASID to identical tables, every interleaving, warm and cold', () => {
  const report = enumerateInterleavings(
    () => host(),
    (h) => {
      const t2 = copyTables(h)
      h.driver.writeCd([SID], h.cdTable, 0, makeS1Cd({ asid: ASID, ttb0: t2.root }))
      h.driver.tlbiAsid(ASID)
    },
  )
  assert.ok(report.stores > 10)
  assert.equal(report.runs.length, 2 * (report.stores + 1))
  assert.equal(report.hitless, true, JSON.stringify(report.failing[0]))
})

test('breaking: new ASID and TTB0 passes through CD V=0 → C_BAD_CD in some interleavings', () => {
  const report = enumerateInterleavings(
    () => host(),
    (h) => {
      const t2 = copyTables(h)
      h.driver.writeCd([SID], h.cdTable, 0, makeS1Cd({ asid: ASID + 1, ttb0: t2.root }))
    },
  )
  assert.equal(report.hitless, false)
  const ids = new Set(report.failing.flatMap((r) => r.violations.map((v) => v.fault)))
  assert.deepEqual([...ids], [EventId.C_BAD_CD])
  assert.ok(report.failing.every((r) => r.violations.every((v) => v.kind === 'aborted')))
})

test('a V=0 window only a cold cache sees is not hidden by a warm one', () => {
  // A buggy driver clears and restores CD.V without invalidating: warm caches never notice.
  const report = enumerateInterleavings(
    () => host(),
    (h) => {
      const q0 = h.port.read64(h.cdTable)
      h.port.store64(h.cdTable, q0 & ~CD.V.mask)
      h.port.store64(h.cdTable, q0)
    },
  )
  assert.equal(report.stores, 2)
  assert.deepEqual(
    report.failing.map((r) => [r.boundary, r.cache]),
    [[1, 'cold']],
  )
})

test('BBML0 split of a live block without BBM: the ground truth flags hazards (cold), conflicts (warm after)', () => {
  const build = () => {
    const w = createSmmuWorld({ bbml: 0 })
    const { tables } = w.attachS1(SID, ASID)
    tables.map(0x4000_0000, 0x8000_0000, SIZE_2M, RW)
    const ws = WorkingSet.from(
      [0, 1, 2].map((i) => ({
        iova: 0x4000_0000 + i * SIZE_4K,
        pa: 0x8000_0000 + i * SIZE_4K,
        perm: 'rw' as const,
      })),
    )
    const engine = new DmaEngine(w.smmu, new SeededRandom(1))
    engine.addDevice({ requesterId: SID, workingSet: ws })
    engine.probeAll()
    return { ...w, tables, engine }
  }
  const report = enumerateInterleavings(build, (h) => {
    h.tables.splitBlock(0x4000_0000, SIZE_2M)
    h.driver.tlbiAsid(ASID)
  })
  assert.equal(report.hitless, false)
  const kinds = new Set(report.failing.flatMap((r) => r.violations.map((v) => v.kind)))
  assert.ok(kinds.has('hazard'))
  // With BBML2 the same sequence is hitless.
  const w2 = () => {
    const w = createSmmuWorld({ bbml: 2 })
    const { tables } = w.attachS1(SID, ASID)
    tables.map(0x4000_0000, 0x8000_0000, SIZE_2M, RW)
    const engine = new DmaEngine(w.smmu, new SeededRandom(1))
    engine.addDevice({
      requesterId: SID,
      workingSet: WorkingSet.from([{ iova: 0x4000_0000, pa: 0x8000_0000, perm: 'rw' }]),
    })
    engine.probeAll()
    return { ...w, tables, engine }
  }
  assert.equal(
    enumerateInterleavings(w2, (h) => {
      h.tables.splitBlock(0x4000_0000, SIZE_2M)
      h.driver.tlbiAsid(ASID)
    }).hitless,
    true,
  )
})

/** A random run: remaps, CD swaps (hitless and breaking), DMA at every store. */
function randomRun(seed: number) {
  const h = host(seed, { evtqLog2: 3 })
  const sched = new DeterministicScheduler(h.engine, { coldProbability: 0.3 }).attach(h.port)
  const rng = new SeededRandom(seed ^ 0xabcdef)
  let asid = ASID
  for (let step = 0; step < 40; step++) {
    const r = rng.int(3)
    if (r === 0) {
      const t2 = copyTables(h)
      if (rng.chance(0.5)) asid++
      h.driver.writeCd([SID], h.cdTable, 0, makeS1Cd({ asid, ttb0: t2.root }))
    } else if (r === 1) {
      const e = h.entries[rng.int(h.entries.length)]
      const t = PageTableBuilder.adopt(
        h.port,
        h.allocator,
        { stage: 1 },
        Number(h.port.read64(h.cdTable + 8)),
      )
      t.unmap(e.iova, SIZE_4K)
      h.driver.tlbiAsid(asid)
      t.map(e.iova, e.pa, SIZE_4K, RW)
    } else sched.idle(3)
  }
  sched.detach()
  const d = h.engine.devices[0]
  return {
    counters: d.counters,
    violations: h.engine.violations,
    events: h.driver.drainEvents(),
    lost: h.smmu.events.lost,
    boundaries: sched.boundary,
  }
}

test('one seed replays one run exactly; faults are counted, lost ones too', () => {
  const a = randomRun(1234)
  const b = randomRun(1234)
  assert.deepEqual(a, b)
  assert.ok(a.counters.accesses > 500)
  assert.ok(a.counters.faults > 0, 'breaking swaps and unmaps fault sometimes')
  assert.equal(a.counters.groundTruth.aborted, a.counters.faults)
  assert.equal(a.counters.lost, a.lost)
  assert.ok(a.lost > 0, 'an 8-entry event queue that nobody drains overflows')
  const c = randomRun(4321)
  assert.notDeepEqual(a.counters, c.counters)
})
