import assert from 'node:assert/strict'
import { test } from 'node:test'
import { PhysicalMemory } from '../../memory/physical-memory.js'
import { type TranslationStage, encodeLeaf, encodeTable, fromBigInt } from './descriptor.js'
import { PERM_EXEC, PERM_READ, PERM_WRITE, Vmsav8Walker, WalkFault } from './walk.js'

// Hand-computed example: iova 0xC0_4060_3ABC with the 4 KiB granule.
//   L0 index = iova >> 39 = 1                 → descriptor at 0x1000 + 1*8   = 0x1008
//   L1 index = (iova >> 30) & 511 = 0x101     → descriptor at 0x2000 + 257*8 = 0x2808
//   L2 index = (iova >> 21) & 511 = 3         → descriptor at 0x3000 + 3*8   = 0x3018
//   L3 index = (iova >> 12) & 511 = 3         → descriptor at 0x4000 + 3*8   = 0x4018
//   page offset 0xABC; 2 MiB offset 0x3ABC; 1 GiB offset 0x0060_3ABC
const IOVA = 0xc0_4060_3abc

function put(mem: PhysicalMemory, pa: number, d: { lo: number; hi: number }) {
  mem.u32[pa / 4] = d.lo
  mem.u32[pa / 4 + 1] = d.hi
}

function tree(stage: TranslationStage, leafLevel: number, leafPa: number) {
  const mem = new PhysicalMemory(64 * 1024)
  put(mem, 0x1008, encodeTable(0x2000))
  const rw = { read: true, write: true }
  if (leafLevel === 1) put(mem, 0x2808, encodeLeaf(stage, 1, leafPa, rw))
  else {
    put(mem, 0x2808, encodeTable(0x3000))
    if (leafLevel === 2) put(mem, 0x3018, encodeLeaf(stage, 2, leafPa, rw))
    else {
      put(mem, 0x3018, encodeTable(0x4000))
      put(mem, 0x4018, encodeLeaf(stage, 3, leafPa, rw))
    }
  }
  return mem
}

for (const stage of [1, 2] as const) {
  const cases = [
    { level: 3, leaf: 0x8_7654_3000, pa: 0x8_7654_3abc, size: 4096, descriptor: 0x4018 },
    { level: 2, leaf: 0x1_2340_0000, pa: 0x1_2340_3abc, size: 2 * 1024 * 1024, descriptor: 0x3018 },
    { level: 1, leaf: 0x40_c000_0000, pa: 0x40_c060_3abc, size: 1024 * 1024 * 1024, descriptor: 0x2808 },
  ]
  for (const c of cases) {
    test(`stage ${stage} walk: level ${c.level} leaf of ${c.size} bytes, hand-computed`, () => {
      const mem = tree(stage, c.level, c.leaf)
      const w = new Vmsav8Walker(mem)
      assert.equal(w.walkRaw(stage, 0x1000, 0, 48, 48, false, IOVA), WalkFault.None)
      assert.equal(w.outputAddress + (IOVA % w.leafSize), c.pa)
      assert.equal(w.leafSize, c.size)
      assert.equal(w.level, c.level)
      assert.equal(w.descriptorPa, c.descriptor)
      assert.equal(w.reads, c.level + 1)
      assert.equal(w.perm, PERM_READ | PERM_WRITE)
      // The same walk through Atomics (concurrent mode) agrees.
      const a = new Vmsav8Walker(mem, true)
      assert.equal(a.walkRaw(stage, 0x1000, 0, 48, 48, false, IOVA), WalkFault.None)
      assert.equal(a.outputAddress, w.outputAddress)
    })
  }
}

test('stage 2 start level 1 with two concatenated tables (40-bit IPA)', () => {
  // S2T0SZ = 24 → 40-bit input; SL0 = 1 → start at level 1, 2^(40-30) = 1024 entries = 2 tables.
  // IPA 0xC0_4060_3ABC: L1 index = iova >> 30 = 0x301 = 769 → 0x1000 + 769*8 = 0x2808 (second table).
  const mem = new PhysicalMemory(64 * 1024)
  put(mem, 0x2808, encodeLeaf(2, 1, 0x40_c000_0000, { read: true, write: false }))
  const w = new Vmsav8Walker(mem)
  assert.equal(w.walkRaw(2, 0x1000, 1, 40, 48, false, IOVA), WalkFault.None)
  assert.equal(w.outputAddress + (IOVA % w.leafSize), 0x40_c060_3abc)
  assert.equal(w.perm, PERM_READ)
  assert.equal(w.walkRaw(2, 0x1000, 1, 40, 48, false, 2 ** 40), WalkFault.Translation)
})

test('stage 1 three-level walk from T0SZ=25 (39-bit VA, start level 1)', () => {
  const mem = new PhysicalMemory(64 * 1024)
  // iova 0x40_2030_5000: L1 index 0x100 → 0x1000 + 0x800; L2 index 0x101 → 0x2808; L3 index 0x305 & 511 = 0x105
  const iova = 0x40_2030_5000
  put(mem, 0x1800, encodeTable(0x2000))
  put(mem, 0x2808, encodeTable(0x3000))
  put(mem, 0x3000 + 0x105 * 8, encodeLeaf(1, 3, 0x7000, { read: true, write: false, exec: true }))
  const w = new Vmsav8Walker(mem)
  assert.equal(w.walkRaw(1, 0x1000, 1, 39, 48, false, iova + 0x10), WalkFault.None)
  assert.equal(w.outputAddress, 0x7000)
  assert.equal(w.perm, PERM_READ | PERM_EXEC)
})

test('faults: invalid, reserved, out of range, address size, access flag, external abort', () => {
  const mem = tree(1, 3, 0x8_7654_3000)
  const w = new Vmsav8Walker(mem)
  assert.equal(w.walkRaw(1, 0x1000, 0, 48, 48, false, IOVA + 4096), WalkFault.Translation)
  assert.equal(w.level, 3)
  assert.equal(w.walkRaw(1, 0x1000, 0, 48, 48, false, 2 ** 48), WalkFault.Translation)
  // Output 0x8_7654_3000 needs 36 bits: with a 32-bit output size it is an address-size fault.
  assert.equal(w.walkRaw(1, 0x1000, 0, 48, 32, false, IOVA), WalkFault.AddressSize)
  assert.equal(w.walkRaw(1, 0x1000, 0, 48, 36, false, IOVA), WalkFault.None)
  // 0b01 (block) at level 3 is reserved.
  put(mem, 0x4018, { lo: 0x8765_3000 | 0x401, hi: 0 })
  assert.equal(w.walkRaw(1, 0x1000, 0, 48, 48, false, IOVA), WalkFault.Translation)
  // AF = 0: access fault unless AFFD.
  put(mem, 0x4018, encodeLeaf(1, 3, 0x3000, { read: true, write: true }, { af: false }))
  assert.equal(w.walkRaw(1, 0x1000, 0, 48, 48, false, IOVA), WalkFault.Access)
  assert.equal(w.walkRaw(1, 0x1000, 0, 48, 48, true, IOVA), WalkFault.None)
  // A table pointer outside emulated RAM.
  put(mem, 0x3018, encodeTable(0x10_0000))
  assert.equal(w.walkRaw(1, 0x1000, 0, 48, 48, false, IOVA), WalkFault.WalkExternalAbort)
  // Block at level 0 is reserved with the 4 KiB granule.
  put(mem, 0x1008, { lo: 0x401, hi: 0 })
  assert.equal(w.walkRaw(1, 0x1000, 0, 48, 48, false, IOVA), WalkFault.Translation)
})

test('encodings match io-pgtable-arm values', () => {
  // io-pgtable-arm, stage 1, IOMMU_READ|IOMMU_WRITE, cacheable: PAGE | AF | SH_IS | nG | AP_UNPRIV
  // | XN(3<<53) with AttrIndx 0 here → 0x0060_0000_1234_5f43 for pa 0x1234_5000.
  assert.deepEqual(
    encodeLeaf(1, 3, 0x1234_5000, { read: true, write: true }),
    fromBigInt(0x0060_0000_1234_5f43n),
  )
  // Read-only adds AP_RDONLY (bit 7).
  assert.deepEqual(
    encodeLeaf(1, 3, 0x1234_5000, { read: true, write: false }),
    fromBigInt(0x0060_0000_1234_5fc3n),
  )
  // Stage 2 rw: PAGE | AF | SH_IS | S2AP_R | S2AP_W | XN(bit 54).
  assert.deepEqual(
    encodeLeaf(2, 3, 0x1234_5000, { read: true, write: true }),
    fromBigInt(0x0040_0000_1234_57c3n),
  )
  // 2 MiB block at level 2: type 0b01.
  assert.deepEqual(
    encodeLeaf(2, 2, 0x4020_0000, { read: true, write: true }),
    fromBigInt(0x0040_0000_4020_07c1n),
  )
  assert.deepEqual(encodeTable(0x8_1234_5000), fromBigInt(0x0000_0008_1234_5003n))
})
