import assert from 'node:assert/strict'
import { test } from 'node:test'
import { SIZE_4K } from '../../pagetable/vmsav8/descriptor.js'
import { REG } from '../registers.js'
import { createSmmuWorld } from '../smmu-world.js'
import { SmmuDriver } from './smmu-driver.js'

test('adopt takes over a translating unit from its registers: same layout, nothing reset, commands go on', () => {
  const w = createSmmuWorld({ sidBits: 6 })
  const { tables } = w.attachS1(5, 3)
  tables.map(0x4000_0000, 0x20_0000, SIZE_4K, { read: true, write: true })
  const ok = () => w.smmu.translate(5, 0x4000_0123, 'read')
  assert.equal(ok().fault, 0)
  assert.equal(ok().pa, 0x20_0123)
  const strtabBytes = w.memory.u8.slice(w.driver.strtab, w.driver.strtab + 64 * 64)
  const cr0 = w.smmu.read32(REG.CR0)
  const prod = w.smmu.read32(REG.CMDQ_PROD)
  assert.ok(prod > 0)

  // What the old kernel's driver knew is gone; the new one reads it back from the registers.
  const adopted = SmmuDriver.adopt({ port: w.port, allocator: w.allocator, mmio: w.smmu })
  assert.equal(adopted.strtab, w.driver.strtab)
  assert.equal(adopted.evtqBase, w.driver.evtqBase)
  assert.equal(adopted.sidBits, 6)
  // The structures the registers point at (CD tables are found through the STEs, by the caller).
  assert.deepEqual(adopted.structureFrames, w.driver.structureFrames.slice(0, 3))
  assert.deepEqual(
    adopted.structureFrames.map((f) => f.what),
    ['stream table', 'command queue', 'event queue'],
  )
  // No reset: CR0 and every STE as they were, and the device still translates.
  assert.equal(w.smmu.read32(REG.CR0), cr0)
  assert.deepEqual(w.memory.u8.slice(w.driver.strtab, w.driver.strtab + 64 * 64), strtabBytes)
  assert.equal(ok().pa, 0x20_0123)
  // Its commands continue at the hardware's CMDQ_PROD and are consumed.
  tables.unmap(0x4000_0000, SIZE_4K)
  adopted.tlbiAsid(3)
  assert.ok(w.smmu.read32(REG.CMDQ_PROD) > prod)
  assert.equal(w.smmu.read32(REG.CMDQ_CONS), w.smmu.read32(REG.CMDQ_PROD))
  assert.notEqual(ok().fault, 0, 'the invalidation reached the IOTLB')
})

test('adopt refuses a 2-level stream table (not modelled), before touching anything', () => {
  const w = createSmmuWorld({ sidBits: 10, format: '2lvl' })
  const prod = w.smmu.read32(REG.CMDQ_PROD)
  assert.throws(
    () => SmmuDriver.adopt({ port: w.port, allocator: w.allocator, mmio: w.smmu }),
    /2-level stream table is not modelled/,
  )
  assert.equal(w.smmu.read32(REG.CMDQ_PROD), prod)
})

test('adopt reads bases at or above 2 GiB as the unsigned addresses they are', () => {
  const w = createSmmuWorld({ sidBits: 6 })
  // The registers of a unit whose structures sit high in a large memory (the layout only: adopt
  // reads it and touches nothing).
  const regs = new Map<number, number>([
    [REG.STRTAB_BASE_CFG, w.smmu.read32(REG.STRTAB_BASE_CFG)],
    [REG.STRTAB_BASE, 0x8000_0000 | 0x3f],
    [REG.STRTAB_BASE_HI, 1],
    [REG.CMDQ_BASE, 0xc000_0000 | 8],
    [REG.CMDQ_BASE_HI, 0],
    [REG.EVTQ_BASE, 0xfffff000 | 7],
    [REG.EVTQ_BASE_HI, 0],
    [REG.CMDQ_PROD, 0],
  ])
  const mmio = { read32: (r: number) => regs.get(r) ?? 0, write32: () => assert.fail('adopt must not write') }
  const d = SmmuDriver.adopt({ port: w.port, allocator: w.allocator, mmio: mmio as never })
  assert.equal(d.strtab, 2 ** 32 + 0x8000_0000)
  assert.equal(d.structureFrames[1].pa, 0xc000_0000)
  assert.equal(d.evtqBase, 0xfffff000)
})
