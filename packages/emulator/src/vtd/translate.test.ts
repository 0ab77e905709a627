import assert from 'node:assert/strict'
import { test } from 'node:test'
import { VTD_FR } from './fault-reasons.js'
import { NO_PASID } from './iotlb.js'
import { PGTT } from './pasid-entry.js'
import { DMA_FSTS, DMAR_FSTS_REG } from './registers.js'
import { makeTestMachine, sidOf } from './test-machine.js'

const SID = sidOf(0, 3, 0)
const RW = { r: true, w: true }

test('translation disabled (GSTS.TES = 0): requests pass untranslated', () => {
  const m = makeTestMachine()
  m.driver.disableTranslation()
  assert.deepEqual(m.iommu.translate(SID, 0x1234_5678, 'write'), {
    pa: 0x1234_5678,
    iotlbHit: false,
    fault: 0,
    hazard: false,
  })
})

test('pass-through: legacy TT = 2 and scalable PGTT = 4', () => {
  const m = makeTestMachine()
  m.driver.setLegacyContext(SID, { p: true, fpd: false, tt: 2, slptptr: 0, aw: 2, did: 1 })
  assert.equal(m.iommu.translate(SID, 0xabc_d000, 'read').pa, 0xabc_d000)
  const s = makeTestMachine({ scalable: true })
  const { dir } = s.driver.allocPasidDirectory()
  s.driver.setScalableContext(SID, { pasidDirPtr: dir })
  s.driver.setPasidPassThrough(dir, 0, 3)
  assert.equal(s.iommu.translate(SID, 0xabc_d000, 'write').pa, 0xabc_d000)
})

test('legacy: stale but valid until invalidation — context cache and IOTLB', () => {
  const m = makeTestMachine()
  const t = m.table()
  t.map(0x1000, 0x10_0000, 4096, RW)
  m.driver.setLegacyContext(SID, { p: true, fpd: false, tt: 0, slptptr: t.root, aw: 2, did: 7 })
  assert.equal(m.iommu.translate(SID, 0x1010, 'read').pa, 0x10_0010)
  // Unmap without invalidation: the IOTLB still answers.
  t.unmap(0x1000, 4096)
  const hit = m.iommu.translate(SID, 0x1010, 'write')
  assert.deepEqual([hit.pa, hit.iotlbHit], [0x10_0010, true])
  // Memory says otherwise: a forced miss walks and faults.
  m.iommu.forceCacheMiss(true)
  assert.equal(m.iommu.translate(SID, 0x1010, 'read').fault, VTD_FR.READ)
  m.iommu.forceCacheMiss(false)
  m.driver.drainFaults()
  // Page-selective invalidation of another page does not help; of this page, does.
  m.driver.flushIotlbPages(7, 0x8000)
  assert.equal(m.iommu.translate(SID, 0x1010, 'read').pa, 0x10_0010)
  m.driver.flushIotlbPages(7, 0x1000)
  assert.equal(m.iommu.translate(SID, 0x1010, 'read').fault, VTD_FR.READ)
  // Context entry cleared in memory only: the context cache keeps translating.
  t.map(0x1000, 0x10_0000, 4096, RW)
  const ctx = m.driver.contextEntryAddress(SID, false)
  m.port.store64(ctx, 0n)
  assert.equal(m.iommu.translate(SID, 0x1010, 'read').pa, 0x10_0010)
  m.driver.submit([{ type: 'context-cache', granularity: 3, did: 7, sid: SID, fm: 0 }])
  assert.equal(m.iommu.translate(SID, 0x1010, 'read').fault, VTD_FR.CONTEXT_ENTRY_P)
})

test('scalable: a PASID entry cleared in memory keeps translating until the PASID cache is flushed', () => {
  const m = makeTestMachine({ scalable: true })
  const t = m.table()
  t.map(0x20_0000, 0x40_0000, 2 * 1024 * 1024, RW)
  const { dir } = m.driver.allocPasidDirectory()
  m.driver.setScalableContext(SID, { pasidDirPtr: dir })
  m.driver.setPasidSecondLevel(dir, 0, 9, t.root)
  m.driver.setPasidSecondLevel(dir, 33, 9, t.root)
  assert.equal(m.iommu.translate(SID, 0x21_2345, 'write').pa, 0x41_2345)
  assert.equal(m.iommu.translate(SID, 0x21_2345, 'write', 33).iotlbHit, false) // tagged per PASID
  const pe = m.driver.pasidEntryAddress(dir, 33, false)
  m.port.store64(pe, 0n)
  assert.equal(m.iommu.translate(SID, 0x21_2345, 'read', 33).pa, 0x41_2345)
  m.driver.flushPasidCache(9, 33)
  assert.equal(m.iommu.translate(SID, 0x21_2345, 'read', 33).fault, VTD_FR.SM_PASID_ENTRY_P)
  assert.equal(m.iommu.translate(SID, 0x21_2345, 'read').pa, 0x41_2345) // RID_PASID 0 unaffected
  assert.equal(m.iommu.iotlb.domain(9, 0).size, 1)
})

test('legacy: replacing a context entry — two 64-bit stores expose a mixed entry, cmpxchg128 never does', () => {
  for (const method of ['two-stores', 'cmpxchg128'] as const) {
    const m = makeTestMachine()
    const a = m.table()
    const b = m.table()
    a.map(0x1000, 0xa_0000, 4096, RW)
    b.map(0x1000, 0xb_0000, 4096, RW)
    m.driver.setLegacyContext(SID, { p: true, fpd: false, tt: 0, slptptr: a.root, aw: 2, did: 1 })
    assert.equal(m.iommu.translate(SID, 0x1000, 'read').pa, 0xa_0000)
    const seen: string[] = []
    m.port.setListener({
      afterStore: () => {
        // A DMA at this store boundary, with cold caches: it sees memory as it is now.
        m.iommu.forceCacheMiss(true)
        const out = m.iommu.translate(SID, 0x1000, 'read')
        m.iommu.forceCacheMiss(false)
        // Did an entry pairing the new DID with the old table appear?
        const mixed = m.iommu.iotlb.domain(2, NO_PASID).lookup(0x1000)
        seen.push(
          `${out.pa.toString(16)}${mixed >= 0 && (mixed - (mixed % 4)) * 1024 === 0xa_0000 ? ' mixed' : ''}`,
        )
        m.iommu.iotlb.domain(2, NO_PASID).clear()
      },
    })
    assert.equal(
      m.driver.setLegacyContext(SID, { p: true, fpd: false, tt: 0, slptptr: b.root, aw: 2, did: 2 }, method),
      true,
    )
    m.port.setListener(undefined)
    const storesBeforeFlush = method === 'two-stores' ? 2 : 1
    if (method === 'two-stores') assert.equal(seen[0], 'a0000 mixed')
    else assert.ok(!seen.some((s) => s.includes('mixed')))
    assert.equal(seen[storesBeforeFlush - 1], 'b0000')
    assert.equal(m.iommu.translate(SID, 0x1000, 'read').pa, 0xb_0000)
  }
})

test('cmpxchg128 fails when the entry changed under it', () => {
  const m = makeTestMachine()
  const pa = m.driver.contextEntryAddress(SID, true)
  assert.equal(m.driver.writer.cmpxchg128(pa, 1n, 0n, 5n, 5n), false)
  assert.equal(m.driver.writer.cmpxchg128(pa, 0n, 0n, 5n, 5n), true)
})

test('PASID replacement the upstream way (clear → invalidate → set) has a window of faults', () => {
  const m = makeTestMachine({ scalable: true })
  const a = m.table()
  const b = m.table()
  a.map(0x1000, 0xa_0000, 4096, RW)
  b.map(0x1000, 0xb_0000, 4096, RW)
  const { dir } = m.driver.allocPasidDirectory()
  m.driver.setScalableContext(SID, { pasidDirPtr: dir })
  m.driver.setPasidSecondLevel(dir, 0, 1, a.root)
  assert.equal(m.iommu.translate(SID, 0x1000, 'read').pa, 0xa_0000)
  const seen = new Set<number>()
  m.port.setListener({
    afterStore: () => {
      const out = m.iommu.translate(SID, 0x1000, 'read')
      seen.add(out.fault === 0 ? out.pa : -out.fault)
    },
  })
  m.driver.replacePasidEntry(SID, dir, 0, { did: 2, pgtt: PGTT.SL_ONLY, slptptr: b.root, aw: 2 })
  m.port.setListener(undefined)
  assert.ok(seen.has(0xa_0000), 'old translation before the clear is flushed')
  assert.ok(seen.has(-VTD_FR.SM_PASID_ENTRY_P), 'faults in the window')
  assert.equal(m.iommu.translate(SID, 0x1000, 'read').pa, 0xb_0000)
})

test('fault recording: overflow sets PFO and loses faults; same-source faults collapse', () => {
  const m = makeTestMachine({ nfr: 2 })
  const f = (bus: number) => m.iommu.translate(sidOf(bus, 0, 0), 0x5000, 'write')
  assert.equal(f(1).recorded, true)
  assert.equal(f(1).recorded, false) // same source pending: collapsed
  assert.equal(m.iommu.lastFaultFate, 'collapsed')
  assert.equal(f(2).recorded, true)
  assert.equal(f(3).recorded, false) // both records full
  assert.equal(m.iommu.lastFaultFate, 'lost-overflow')
  assert.equal(m.vtd.mmio.read32(DMAR_FSTS_REG) & (DMA_FSTS.PFO | DMA_FSTS.PPF), DMA_FSTS.PFO | DMA_FSTS.PPF)
  assert.equal(f(4).recorded, false)
  assert.equal(m.iommu.lastFaultFate, 'lost-pfo')
  assert.deepEqual(m.iommu.faults.stats, {
    recorded: 2,
    lostOverflow: 1,
    lostPfo: 1,
    collapsed: 1,
    suppressedFpd: 0,
  })
  // Real faults: 5; recorded: 2.
  assert.equal(m.iommu.stats.faults, 5)
  const recs = m.driver.drainFaults()
  assert.deepEqual(
    recs.map((r) => [r.index, r.sid >> 8, r.reason, r.isRead]),
    [
      [0, 1, VTD_FR.ROOT_ENTRY_P, false],
      [1, 2, VTD_FR.ROOT_ENTRY_P, false],
    ],
  )
  assert.equal(m.vtd.mmio.read32(DMAR_FSTS_REG) & (DMA_FSTS.PFO | DMA_FSTS.PPF), 0)
  // After the drain the next record goes to index 0 again (rotating), FRI points at it.
  assert.equal(f(5).recorded, true)
  assert.equal((m.vtd.mmio.read32(DMAR_FSTS_REG) >>> 8) & 0xff, 0)
})

test('FPD in the context entry suppresses recording, not blocking', () => {
  const m = makeTestMachine()
  const t = m.table()
  m.driver.setLegacyContext(SID, { p: true, fpd: true, tt: 0, slptptr: t.root, aw: 2, did: 1 })
  const out = m.iommu.translate(SID, 0x1000, 'read')
  assert.equal(out.fault, VTD_FR.READ)
  assert.equal(out.recorded, false)
  assert.equal(m.iommu.lastFaultFate, 'suppressed-fpd')
  assert.deepEqual(m.driver.drainFaults(), [])
})

test('a descriptor of unknown type stops the queue with FSTS.IQE', () => {
  const m = makeTestMachine()
  assert.throws(() => m.driver.submit([{ type: 'invalid', code: 0xf }]), /IQE|did not complete/)
  assert.equal(m.vtd.mmio.read32(DMAR_FSTS_REG) & DMA_FSTS.IQE, DMA_FSTS.IQE)
  assert.equal(m.iommu.invalidation.stats.queueErrors, 1)
})

test('caches are dropped only by invalidation: a new SRTP alone changes nothing cached', () => {
  const m = makeTestMachine()
  const t = m.table()
  t.map(0x1000, 0x10_0000, 4096, RW)
  m.driver.setLegacyContext(SID, { p: true, fpd: false, tt: 0, slptptr: t.root, aw: 2, did: 1 })
  m.iommu.translate(SID, 0x1000, 'read')
  m.driver.setRootEntry(m.frames.alloc()) // an empty root table
  assert.equal(m.iommu.translate(SID, 0x1000, 'read').pa, 0x10_0000)
  m.driver.flushContextGlobal()
  assert.equal(m.iommu.translate(SID, 0x1000, 'read').fault, VTD_FR.ROOT_ENTRY_P)
})
