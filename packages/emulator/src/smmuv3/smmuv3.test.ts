import assert from 'node:assert/strict'
import { test } from 'node:test'
import { SIZE_2M, SIZE_4K } from '../pagetable/vmsav8/descriptor.js'
import { CD, makeS1Cd } from './context-descriptor.js'
import { CMDQ_ENT_SIZE, decodeCommand, encodeCommand, type SmmuCommand } from './commands.js'
import { EventId, decodeEvent, encodeEvent } from './events.js'
import { CR0_CMDQEN, CR0_EVTQEN, CR0_SMMUEN, GBPA_ABORT, IDR3, REG } from './registers.js'
import { createSmmuWorld } from './smmu-world.js'
import { encodeL1Std } from './stream-table.js'
import { STE, makeBypassSte, makeCdTableSte, makeS2DomainSte } from './stream-table-entry.js'

const RW = { read: true, write: true }
const RO = { read: true, write: false }

function events(w: ReturnType<typeof createSmmuWorld>) {
  return w.driver.drainEvents().events.map((e) => e.id)
}

test('stage 1: translate through STE → CD → tables; IOTLB hit on the second access', () => {
  const w = createSmmuWorld()
  const { tables } = w.attachS1(5, 7)
  tables.map(0x1000_0000, 0x20_0000, SIZE_4K, RW)
  let o = w.smmu.translate(5, 0x1000_0123, 'read')
  assert.deepEqual({ ...o }, { pa: 0x20_0123, iotlbHit: false, fault: 0, hazard: false, recorded: true })
  o = w.smmu.translate(5, 0x1000_0ff8, 'write')
  assert.equal(o.pa, 0x20_0ff8)
  assert.equal(o.iotlbHit, true)
  assert.deepEqual(events(w), [])
})

test('stage 2 through an S2 STE, with blocks', () => {
  const w = createSmmuWorld()
  const { tables } = w.attachS2(9, 3)
  tables.map(0x4000_0000, 0x1_0000_0000, SIZE_2M, RO)
  const o = w.smmu.translate(9, 0x4001_2345, 'read')
  assert.equal(o.pa, 0x1_0001_2345)
  assert.equal(w.smmu.translate(9, 0x4001_2345, 'write').fault, EventId.F_PERMISSION)
  const [e] = w.driver.drainEvents().events
  assert.equal(e.id, EventId.F_PERMISSION)
  assert.equal(e.s2, true)
  assert.equal(e.rnw, false)
  assert.equal(e.sid, 9)
  assert.equal(e.addr, 0x4001_2345)
})

test('every event ID is provoked: C_BAD_STREAMID, C_BAD_STE, C_BAD_CD, F_TRANSLATION, F_ADDR_SIZE, F_ACCESS, F_PERMISSION', () => {
  const w = createSmmuWorld({ sidBits: 8 })
  // C_BAD_STREAMID: SID beyond 2^LOG2SIZE.
  assert.equal(w.smmu.translate(256, 0, 'read').fault, EventId.C_BAD_STREAMID)
  // C_BAD_STE: V=0.
  w.driver.writeSte(1, new Array(8).fill(0n))
  assert.equal(w.smmu.translate(1, 0, 'read').fault, EventId.C_BAD_STE)
  // C_BAD_STE: reserved Config 0b001 with V=1.
  w.port.store64(w.driver.stePa(2), 0b011n)
  assert.equal(w.smmu.translate(2, 0, 'read').fault, EventId.C_BAD_STE)
  // C_BAD_CD: CD with V=0.
  const cdTable = w.driver.allocCdTable(0)
  w.driver.writeSte(3, makeCdTableSte(cdTable))
  assert.equal(w.smmu.translate(3, 0, 'read').fault, EventId.C_BAD_CD)
  // F_TRANSLATION, F_ACCESS, F_PERMISSION, F_ADDR_SIZE on one domain.
  const { tables } = w.attachS1(4, 4)
  assert.equal(w.smmu.translate(4, 0x5000, 'read').fault, EventId.F_TRANSLATION)
  tables.map(0x6000, 0x6000, SIZE_4K, RW, { af: false })
  assert.equal(w.smmu.translate(4, 0x6000, 'read').fault, EventId.F_ACCESS)
  tables.map(0x7000, 0x7000, SIZE_4K, RO)
  assert.equal(w.smmu.translate(4, 0x7000, 'write').fault, EventId.F_PERMISSION)
  assert.equal(w.smmu.translate(4, 0x7000, 'read').pa, 0x7000)
  // Output 0x10_0000_0000 (36 bits) with IPS = 32 bits: F_ADDR_SIZE.
  const d6 = w.attachS1(6, 6)
  d6.tables.map(0x8000, 0x10_0000_0000, SIZE_4K, RW)
  const cd6 = w.driver.readCd(d6.cdTable)
  cd6[0] &= ~CD.IPS.mask
  w.driver.writeCd([6], d6.cdTable, 0, cd6)
  assert.equal(w.smmu.translate(6, 0x8000, 'read').fault, EventId.F_ADDR_SIZE)
  assert.deepEqual(events(w), [
    EventId.C_BAD_STREAMID,
    EventId.C_BAD_STE,
    EventId.C_BAD_STE,
    EventId.C_BAD_CD,
    EventId.F_TRANSLATION,
    EventId.F_ACCESS,
    EventId.F_PERMISSION,
    EventId.F_ADDR_SIZE,
  ])
})

test('V=1 Config=abort aborts silently; bypass passes; SMMUEN=0 follows GBPA', () => {
  const w = createSmmuWorld()
  let o = w.smmu.translate(7, 0x1234, 'read') // probe left every STE as abort
  assert.equal(o.pa, -1)
  assert.equal(o.fault, 0)
  w.driver.writeSte(7, makeBypassSte())
  assert.equal(w.smmu.translate(7, 0x1234, 'read').pa, 0x1234)
  w.smmu.write32(REG.CR0, CR0_CMDQEN | CR0_EVTQEN)
  o = w.smmu.translate(200, 0x1234, 'read')
  assert.equal(o.pa, -1) // GBPA.ABORT as probe left it
  w.smmu.write32(REG.GBPA, 0)
  assert.equal(w.smmu.translate(200, 0x1234, 'read').pa, 0x1234)
  w.smmu.write32(REG.CR0, CR0_CMDQEN | CR0_EVTQEN | CR0_SMMUEN)
  w.smmu.write32(REG.GBPA, GBPA_ABORT)
  assert.deepEqual(events(w), [])
})

test('2-level stream table: L2 allocated on demand; Span=0 → C_BAD_STREAMID; beyond span → C_BAD_STE', () => {
  const w = createSmmuWorld({ format: '2lvl', sidBits: 16 })
  assert.equal(w.smmu.translate(0x1234, 0, 'read').fault, EventId.C_BAD_STREAMID)
  w.driver.writeSte(0x1234, makeBypassSte())
  assert.equal(w.smmu.translate(0x1234, 0x42, 'read').pa, 0x42)
  assert.equal(w.smmu.translate(0x1235, 0x42, 'read').pa, -1) // initial abort STE
  // Shrink the L1 descriptor's span to 2^(2-1) = 2 STEs: SID 0x1234 (L2 index 0x34) is beyond it.
  const l1 = w.driver.strtab + 0x12 * 8
  const desc = w.port.read64(l1)
  w.port.store64(l1, encodeL1Std(Number(desc & ~0x1fn), 2))
  w.driver.submit([{ op: 'CFGI_STE', sid: 0x1234, leaf: false }])
  assert.equal(w.smmu.translate(0x1234, 0, 'read').fault, EventId.C_BAD_STE)
  assert.deepEqual(events(w), [EventId.C_BAD_STREAMID, EventId.C_BAD_STE])
})

test('stale but valid: STE, CD and IOTLB entries serve until CFGI/TLBI drops them', () => {
  const w = createSmmuWorld()
  const { tables, cdTable } = w.attachS1(1, 10)
  tables.map(0x10_0000, 0x30_0000, SIZE_4K, RW)
  assert.equal(w.smmu.translate(1, 0x10_0000, 'read').pa, 0x30_0000)
  // Unmap without TLBI: the IOTLB still answers.
  tables.unmap(0x10_0000, SIZE_4K)
  assert.equal(w.smmu.translate(1, 0x10_0000, 'read').pa, 0x30_0000)
  w.driver.submit([{ op: 'TLBI_NH_VA', vmid: 0, asid: 10, addr: 0x10_0000, leaf: true }])
  assert.equal(w.smmu.translate(1, 0x10_0000, 'read').fault, EventId.F_TRANSLATION)
  // CD V=0 in memory without CFGI_CD: the cached CD still serves (IOTLB miss walks the old TTB0).
  tables.map(0x10_0000, 0x30_0000, SIZE_4K, RW)
  w.port.store64(cdTable, w.port.read64(cdTable) & ~CD.V.mask)
  assert.equal(w.smmu.translate(1, 0x10_0000, 'read').pa, 0x30_0000)
  w.driver.submit([{ op: 'CFGI_CD', sid: 1, ssid: 0 }])
  w.driver.tlbiAsid(10)
  assert.equal(w.smmu.translate(1, 0x10_0000, 'read').fault, EventId.C_BAD_CD)
  // STE V=0 in memory: stale until CFGI_STE.
  const ste = w.driver.stePa(1)
  w.port.store64(ste, w.port.read64(ste) & ~STE.V.mask)
  assert.equal(w.smmu.translate(1, 0x10_0000, 'read').fault, EventId.C_BAD_CD) // STE still cached
  w.driver.submit([{ op: 'CFGI_STE', sid: 1 }])
  assert.equal(w.smmu.translate(1, 0x10_0000, 'read').fault, EventId.C_BAD_STE)
  // forceCacheMiss sees memory at once.
  w.driver.writeSte(2, makeBypassSte())
  assert.equal(w.smmu.translate(2, 0, 'read').pa, 0)
  w.port.store64(w.driver.stePa(2), 0n)
  assert.equal(w.smmu.translate(2, 0, 'read').pa, 0)
  w.smmu.forceCacheMiss(true)
  assert.equal(w.smmu.translate(2, 0, 'read').fault, EventId.C_BAD_STE)
})

test('TLBI_S12_VMALL drops stage-2 entries of the VMID only', () => {
  const w = createSmmuWorld()
  const a = w.attachS2(1, 1).tables
  const b = w.attachS2(2, 2).tables
  a.map(0, 0x10_0000, SIZE_4K, RW)
  b.map(0, 0x20_0000, SIZE_4K, RW)
  w.smmu.translate(1, 0, 'read')
  w.smmu.translate(2, 0, 'read')
  a.unmap(0, SIZE_4K)
  b.unmap(0, SIZE_4K)
  w.driver.tlbiVmall(1)
  assert.equal(w.smmu.translate(1, 0, 'read').fault, EventId.F_TRANSLATION)
  assert.equal(w.smmu.translate(2, 0, 'read').pa, 0x20_0000)
})

test('BBML0: splitting a live 2 MiB block without break-before-make → F_TLB_CONFLICT and hazards', () => {
  const w = createSmmuWorld({ bbml: 0 })
  assert.equal(Number((BigInt(w.smmu.read32(REG.IDR3)) & IDR3.BBML.mask) >> 11n), 0)
  const { tables } = w.attachS1(1, 1)
  tables.map(0x4000_0000, 0x8000_0000, SIZE_2M, RW)
  assert.equal(w.smmu.translate(1, 0x4000_1000, 'read').pa, 0x8000_1000) // 2 MiB entry cached
  tables.splitBlock(0x4000_0000, SIZE_2M) // same addresses, 4 KiB pages, no BBM
  // A miss (cold) walks the new table: right address, but the IOTLB now holds both sizes.
  w.smmu.forceCacheMiss(true)
  const cold = w.smmu.translate(1, 0x4000_1000, 'read')
  assert.equal(cold.pa, 0x8000_1000)
  assert.equal(cold.hazard, true)
  w.smmu.forceCacheMiss(false)
  const warm = w.smmu.translate(1, 0x4000_1000, 'read')
  assert.equal(warm.fault, EventId.F_TLB_CONFLICT)
  assert.equal(warm.hazard, true)
  assert.deepEqual(events(w), [EventId.F_TLB_CONFLICT])
  // TLBI restores order.
  w.driver.tlbiAsid(1)
  const after = w.smmu.translate(1, 0x4000_1000, 'read')
  assert.equal(after.pa, 0x8000_1000)
  assert.equal(after.hazard, false)
})

test('BBML2: the same split uses either translation, without conflict', () => {
  const w = createSmmuWorld({ bbml: 2 })
  const { tables } = w.attachS1(1, 1)
  tables.map(0x4000_0000, 0x8000_0000, SIZE_2M, RW)
  w.smmu.translate(1, 0x4000_1000, 'read')
  tables.splitBlock(0x4000_0000, SIZE_2M)
  w.smmu.forceCacheMiss(true)
  assert.equal(w.smmu.translate(1, 0x4000_1000, 'read').hazard, false)
  w.smmu.forceCacheMiss(false)
  const o = w.smmu.translate(1, 0x4000_1000, 'read')
  assert.equal(o.fault, 0)
  assert.equal(o.pa, 0x8000_1000)
})

test('event queue overflow: a full queue loses events, counts them, and sets OVFLG once', () => {
  const w = createSmmuWorld({ evtqLog2: 2 }) // 4 records
  for (let i = 0; i < 10; i++) {
    const o = w.smmu.translate(3, i * 4096, 'read')
    assert.equal(o.pa, -1)
  }
  // Probe left SID 3 as abort: no events. Make it V=0.
  w.driver.writeSte(3, new Array(8).fill(0n))
  const recorded: boolean[] = []
  for (let i = 0; i < 10; i++) recorded.push(w.smmu.translate(3, i * 4096, 'read').recorded as boolean)
  assert.deepEqual(recorded, [true, true, true, true, false, false, false, false, false, false])
  assert.equal(w.smmu.events.lost, 6)
  // The counts are in the register file: what a driver on any thread reads by MMIO.
  assert.equal(w.driver.mmio.read32(REG.IMPDEF_EVENTS_RECORDED), 4)
  assert.equal(w.driver.mmio.read32(REG.IMPDEF_EVENTS_LOST), 6)
  assert.equal(w.smmu.events.lostBySid.get(3), 6)
  assert.equal(w.smmu.events.overflows, 1)
  const drained = w.driver.drainEvents()
  assert.equal(drained.events.length, 4)
  assert.equal(drained.overflowed, true)
  assert.equal(w.smmu.translate(3, 0, 'read').recorded, true)
})

test('commands: round trip, and an illegal opcode stops the queue with CERROR_ILL', () => {
  const cmds: SmmuCommand[] = [
    { op: 'CFGI_STE', sid: 0x1234, leaf: true },
    { op: 'CFGI_CD', sid: 7, ssid: 0x9_8765, leaf: false },
    { op: 'TLBI_NH_ASID', vmid: 3, asid: 0xbeef },
    { op: 'TLBI_NH_VA', vmid: 0, asid: 5, addr: 0xffff_ffff_f000, leaf: true },
    { op: 'TLBI_S12_VMALL', vmid: 0x42 },
    { op: 'CMD_SYNC' },
  ]
  for (const c of cmds) {
    const [w0, w1] = encodeCommand(c)
    assert.deepEqual(decodeCommand(w0, w1), c)
  }
  // CMDQ_OP_TLBI_NH_ASID with ASID 0xbeef, VMID 3: 0xbeef_0003_0000_0011 (kernel field layout).
  assert.equal(encodeCommand(cmds[2])[0], 0xbeef_0003_0000_0011n)
  const w = createSmmuWorld()
  const slot = w.driver.cmdq.base + (w.smmu.read32(REG.CMDQ_PROD) % 256) * CMDQ_ENT_SIZE
  w.port.store64(slot, 0xffn)
  w.smmu.write32(REG.CMDQ_PROD, w.smmu.read32(REG.CMDQ_PROD) + 1)
  assert.throws(() => w.smmu.waitCmdqConsumed(w.smmu.read32(REG.CMDQ_PROD)), /command queue error/)
  assert.equal(w.smmu.cmdq.errors, 1)
})

test('event records round trip', () => {
  const e = {
    id: EventId.F_TRANSLATION,
    sid: 0xabcd,
    ssv: true,
    ssid: 0x1_2345,
    pnu: false,
    ind: false,
    rnw: true,
    s2: true,
    class: 2,
    addr: 0xffff_1234_5678,
    ipa: 0x1234_5000,
  }
  assert.deepEqual(decodeEvent(encodeEvent(e)), e)
})

test('SubstreamIDs: linear CD table, C_BAD_SUBSTREAMID beyond S1CDMax', () => {
  const w = createSmmuWorld()
  const cdTable = w.driver.allocCdTable(2)
  const t = [0, 1, 2, 3].map(() => w.attachS1(100, 100).tables) // reuse helper for tables only
  for (let ssid = 0; ssid < 4; ssid++) {
    t[ssid].map(0, (ssid + 1) * 0x10_0000, SIZE_4K, RW)
    w.driver.writeCd([1], cdTable, ssid, makeS1Cd({ asid: 20 + ssid, ttb0: t[ssid].root }))
  }
  w.driver.writeSte(1, makeCdTableSte(cdTable, { s1CdMax: 2 }))
  for (let ssid = 0; ssid < 4; ssid++)
    assert.equal(w.smmu.translate(1, 8, 'read', ssid).pa, (ssid + 1) * 0x10_0000 + 8)
  assert.equal(w.smmu.translate(1, 8, 'read').pa, 0x10_0008) // S1DSS = SSID0
  assert.equal(w.smmu.translate(1, 8, 'read', 4).fault, EventId.C_BAD_SUBSTREAMID)
})

test('stage-2 STE with inconsistent S2SL0/S2T0SZ is ILLEGAL → C_BAD_STE', () => {
  const w = createSmmuWorld()
  w.driver.writeSte(1, makeS2DomainSte({ vmid: 1, s2ttb: 0x1000, s2t0sz: 16, startLevel: 2 }))
  assert.equal(w.smmu.translate(1, 0, 'read').fault, EventId.C_BAD_STE)
})
