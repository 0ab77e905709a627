import assert from 'node:assert/strict'
import { test } from 'node:test'
import { CpuStorePort } from '../../cpu/cpu-store-port.js'
import { FrameAllocator } from '../../memory/frame-allocator.js'
import { PhysicalMemory } from '../../memory/physical-memory.js'
import { SlPageTableBuilder } from './builder.js'
import { slReservedMasks } from './sl-pte.js'
import {
  SL_WALK_ACCESS_ERROR,
  SL_WALK_OK,
  SL_WALK_PERMISSION,
  SL_WALK_RESERVED,
  SlWalkResult,
  slWalk,
} from './walk.js'

function setup(levels: 3 | 4 = 4) {
  const memory = new PhysicalMemory(4 * 1024 * 1024)
  const frames = new FrameAllocator(memory, 1)
  const port = new CpuStorePort(memory)
  const b = SlPageTableBuilder.create(port, frames, levels)
  const rsvd = slReservedMasks(46)
  const out = new SlWalkResult()
  const walk = (iova: number, access = 1) => slWalk(memory, false, b.root, levels, iova, access, rsvd, out)
  return { memory, frames, port, b, out, walk }
}

test('4 KiB leaf: hand-computed indices at every level of a 4-level table', () => {
  const { b, out, walk, memory } = setup()
  // IOVA 0x80_4030_1abc = 1 << 39 | 1 << 30 | 1 << 21 | 0x101 << 12 | 0xabc: L4 index 1, L3 1,
  // L2 1, L1 0x101, offset 0xabc.
  const iova = 0x80_4030_1abc
  assert.equal(Math.floor(iova / 2 ** 39) % 512, 1)
  assert.equal(Math.floor(iova / 2 ** 30) % 512, 1)
  assert.equal(Math.floor(iova / 2 ** 21) % 512, 1)
  assert.equal(Math.floor(iova / 2 ** 12) % 512, 0x101)
  b.map(iova - 0xabc, 0x7_6543_2000, 4096, { r: true, w: false })
  assert.equal(walk(iova), SL_WALK_OK)
  assert.equal(out.pa, 0x7_6543_2abc)
  assert.equal(out.leafLevel, 1)
  assert.equal(out.perms, 1)
  assert.equal(out.entriesRead, 4)
  // The L4 entry sits at root + 1 * 8 and points at an L3 table with R|W.
  const l4 = memory.u32[(b.root + 8) >>> 2]
  assert.equal(l4 & 3, 3)
  assert.equal(walk(iova, 2), SL_WALK_PERMISSION)
  assert.equal(out.faultLevel, 1)
})

test('2 MiB and 1 GiB superpages end the walk at levels 2 and 3', () => {
  const { b, out, walk } = setup()
  b.map(0x4020_0000, 0x1_0000_0000, 2 * 1024 * 1024, { r: true, w: true })
  assert.equal(walk(0x4020_0000 + 0x12_3456, 2), SL_WALK_OK)
  assert.equal(out.pa, 0x1_0012_3456)
  assert.equal(out.leafLevel, 2)
  assert.equal(out.entriesRead, 3)
  b.map(0x80_0000_0000, 0x2_4000_0000, 1024 * 1024 * 1024, { r: true, w: true })
  assert.equal(walk(0x80_0000_0000 + 0x3fff_fffc), SL_WALK_OK)
  assert.equal(out.pa, 0x2_4000_0000 + 0x3fff_fffc)
  assert.equal(out.leafLevel, 3)
  assert.equal(out.entriesRead, 2)
})

test('3-level (39-bit) table starts at level 3', () => {
  const { b, out, walk } = setup(3)
  b.map(0x7f_ffff_f000, 0x5000, 4096, { r: true, w: true })
  assert.equal(walk(0x7f_ffff_f010), SL_WALK_OK)
  assert.equal(out.pa, 0x5010)
  assert.equal(out.entriesRead, 3)
})

test('not-present, reserved and out-of-memory entries fault at the level they are met', () => {
  const { b, out, walk, memory, port } = setup()
  assert.equal(walk(0x1000), SL_WALK_PERMISSION)
  assert.equal(out.faultLevel, 4)
  b.map(0x1000, 0x9000, 4096, { r: true, w: true })
  // Non-leaf R=W=0 blocks everything below it, even a present leaf.
  const l4slot = b.root
  const l4 = memory.u32[l4slot >>> 2]
  port.store64Split(l4slot, l4 & ~3, memory.u32[(l4slot >>> 2) + 1])
  assert.equal(walk(0x1000), SL_WALK_PERMISSION)
  assert.equal(out.faultLevel, 4)
  // Read-only non-leaf: writes fault though the leaf allows them (AND over levels).
  port.store64Split(l4slot, (l4 & ~3) | 1, 0)
  assert.equal(walk(0x1000, 2), SL_WALK_PERMISSION)
  assert.equal(walk(0x1000, 1), SL_WALK_OK)
  port.store64Split(l4slot, l4, 0)
  // PS at level 4 is reserved.
  port.store64Split(l4slot, l4 | 0x80, 0)
  assert.equal(walk(0x1000), SL_WALK_RESERVED)
  assert.equal(out.faultLevel, 4)
  // Bit 11 (SNP without snoop control) and address bits above HAW are reserved.
  port.store64Split(l4slot, l4 | 0x800, 0)
  assert.equal(walk(0x1000), SL_WALK_RESERVED)
  port.store64Split(l4slot, l4, 1 << 20) // bit 52: ignored
  assert.equal(walk(0x1000), SL_WALK_OK)
  port.store64Split(l4slot, l4, 1 << 14) // bit 46: beyond HAW 46
  assert.equal(walk(0x1000), SL_WALK_RESERVED)
  // A next-table pointer outside memory: access error.
  port.store64Split(l4slot, 0x7ff0_0000 | 3, 0)
  assert.equal(walk(0x1000), SL_WALK_ACCESS_ERROR)
  assert.equal(out.faultLevel, 3)
  // Superpage with low address bits set: reserved (bits 20:12 for 2 MiB).
  port.store64Split(l4slot, l4, 0)
  b.map(0x20_0000, 0x40_0000, 2 * 1024 * 1024, { r: true, w: true })
  const pa = b.lookup(0x20_0000)!.pa
  assert.equal(pa, 0x40_0000)
})

test('atomic mode walks the same table with Atomics', () => {
  const { b, out, memory } = setup()
  b.map(0x3000, 0x8000, 4096, { r: true, w: true })
  assert.equal(slWalk(memory, true, b.root, 4, 0x3004, 2, slReservedMasks(46), out), SL_WALK_OK)
  assert.equal(out.pa, 0x8004)
})

test('the plain walk (with its 4 KiB fast path) answers as the atomic walk on entries with random bits', () => {
  const { b, out, memory, port } = setup()
  b.map(0x40_1000, 0x9000, 4096, { r: true, w: true })
  b.map(0x40_2000, 0xa000, 4096, { r: true, w: false })
  const rsvd = slReservedMasks(46)
  const atomicOut = new SlWalkResult()
  // The four entries on the path of 0x401000 (level 4 down to 1), found by walking them.
  const slots: number[] = []
  let table = b.root
  for (const shift of [39, 30, 21, 12]) {
    const slot = table + ((Math.floor(0x40_1000 / 2 ** shift) & 511) << 3)
    slots.push(slot)
    table = memory.u32[slot >>> 2] & 0xfffff000
  }
  let seed = 20261126
  const rand = () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0
    return seed >>> 16 // an LCG's low bits repeat with a short period
  }
  const bits = [0, 1, 7, 11, 12, 20, 30]
  const hiBits = [0, 14, 20, 30]
  let faults = 0
  let oks = 0
  for (let i = 0; i < 4000; i++) {
    const slot = slots[rand() % 4]
    const lo = memory.u32[slot >>> 2]
    const hi = memory.u32[(slot >>> 2) + 1]
    // One bit, sometimes none (the untouched walk must translate too).
    const flipLo = rand() % 4 === 0 ? 0 : 1 << bits[rand() % bits.length]
    const flipHi = rand() % 3 === 0 ? 1 << hiBits[rand() % hiBits.length] : 0
    port.store64Split(slot, (lo ^ flipLo) >>> 0, (hi ^ flipHi) >>> 0)
    for (const iova of [0x40_1000, 0x40_2abc, 0x40_0000])
      for (const access of [1, 2]) {
        const plain = slWalk(memory, false, b.root, 4, iova, access, rsvd, out)
        const atomic = slWalk(memory, true, b.root, 4, iova, access, rsvd, atomicOut)
        assert.equal(plain, atomic, `iova ${iova.toString(16)} access ${access} entry ${slot.toString(16)}`)
        if (plain === SL_WALK_OK) {
          oks++
          assert.deepEqual({ ...out }, { ...atomicOut })
        } else {
          faults++
          assert.equal(out.faultLevel, atomicOut.faultLevel)
        }
      }
    port.store64Split(slot, lo, hi)
  }
  assert.ok(faults > 1000 && oks > 500, `${faults} faulting walks, ${oks} translated`)
})
