import assert from 'node:assert/strict'
import { test } from 'node:test'
import { CpuStorePort } from '../cpu/cpu-store-port.js'
import { FrameAllocator } from '../memory/frame-allocator.js'
import { PhysicalMemory } from '../memory/physical-memory.js'
import { SIZE_4K } from '../pagetable/vmsav8/descriptor.js'
import { PageTableBuilder } from '../pagetable/vmsav8/builder.js'
import { SMMU_CONCURRENT_TRANSLATOR } from '../smmuv3/concurrent-translator.js'
import { makeS1Cd } from '../smmuv3/context-descriptor.js'
import { SmmuDriver } from '../smmuv3/driver/smmu-driver.js'
import { EventId } from '../smmuv3/events.js'
import { SmmuRegisters } from '../smmuv3/registers.js'
import { SharedRegisterMmio } from '../smmuv3/shared-register-mmio.js'
import { createSmmuWorld } from '../smmuv3/smmu-world.js'
import { resetSmmuRegisters } from '../smmuv3/smmuv3.js'
import { makeCdTableSte } from '../smmuv3/stream-table-entry.js'
import { ConcurrentDma } from './concurrent-dma.js'
import { DmaEngine } from './dma-engine.js'
import { enumerateInterleavings } from './interleavings.js'
import { SeededRandom } from './seeded-random.js'
import { WorkingSet } from './working-set.js'

const RW = { read: true, write: true }
const SID = 0x21
const ASID = 9
const ENTRIES = Array.from({ length: 16 }, (_, i) => ({
  iova: 0x200_0000 + i * SIZE_4K,
  pa: 0x90_0000 + i * 0x5000,
  perm: 'rw' as const,
}))

/** The scenario both modes run: attach, then `swaps` CD updates to fresh identical tables. */
function domain(port: CpuStorePort, allocator: FrameAllocator) {
  const t = PageTableBuilder.create(port, allocator, { stage: 1 })
  for (const e of ENTRIES) t.map(e.iova, e.pa, SIZE_4K, RW)
  return t
}

function swap(
  driver: SmmuDriver,
  port: CpuStorePort,
  allocator: FrameAllocator,
  cdTable: number,
  asid: number,
) {
  const t = domain(port, allocator)
  driver.writeCd([SID], cdTable, 0, makeS1Cd({ asid, ttb0: t.root }))
  driver.tlbiAsid(asid)
}

function deterministicPrediction(newAsid: number) {
  return enumerateInterleavings(
    () => {
      const w = createSmmuWorld()
      const cdTable = w.driver.allocCdTable(0)
      w.driver.writeCd([SID], cdTable, 0, makeS1Cd({ asid: ASID, ttb0: domain(w.port, w.allocator).root }))
      w.driver.writeSte(SID, makeCdTableSte(cdTable))
      const engine = new DmaEngine(w.smmu, new SeededRandom(5))
      engine.addDevice({ requesterId: SID, workingSet: WorkingSet.from(ENTRIES) })
      engine.probeAll()
      return { ...w, engine, cdTable }
    },
    (w) => swap(w.driver, w.port, w.allocator, w.cdTable, newAsid),
  )
}

async function concurrentRun(newAsid: (i: number) => number, swaps: number) {
  const memory = new PhysicalMemory(32 * 1024 * 1024)
  const allocator = new FrameAllocator(memory)
  const port = new CpuStorePort(memory, true)
  const regs = new SmmuRegisters()
  resetSmmuRegisters(regs)
  const dma = await ConcurrentDma.start({
    memory,
    seed: 77,
    coldProbability: 0.3,
    devices: [{ requesterId: SID, workingSet: WorkingSet.from(ENTRIES), rate: 4 }],
    translatorModule: SMMU_CONCURRENT_TRANSLATOR,
    translatorOptions: { registers: regs.buffer },
  })
  try {
    const driver = SmmuDriver.probe({ port, allocator, mmio: new SharedRegisterMmio(regs) })
    const cdTable = driver.allocCdTable(0)
    driver.writeCd([SID], cdTable, 0, makeS1Cd({ asid: ASID, ttb0: domain(port, allocator).root }))
    driver.writeSte(SID, makeCdTableSte(cdTable))
    dma.run(true)
    await dma.waitForAccesses(2000)
    for (let i = 0; i < swaps; i++) {
      swap(driver, port, allocator, cdTable, newAsid(i))
      await dma.waitForAccesses(dma.accesses + 50)
    }
  } catch (e) {
    // Stopped on failure too: a DMA worker left running keeps this test file from ever exiting.
    await dma.stop().catch(() => {})
    throw e
  }
  dma.run(false)
  return dma.stop()
}

test('modes agree: a hitless CD swap is predicted hitless and shows zero faults on a real thread', async () => {
  const prediction = deterministicPrediction(ASID)
  assert.equal(prediction.hitless, true)
  const r = await concurrentRun(() => ASID, 40)
  const c = r.devices[0].counters
  assert.ok(c.accesses > 3000, `only ${c.accesses} accesses`)
  assert.equal(c.faults, 0)
  assert.equal(c.groundTruth.total, 0)
  assert.deepEqual(r.violations, [])
})

test('modes agree: a breaking swap is predicted to fault; on a thread its faults are C_BAD_CD only', async () => {
  const prediction = deterministicPrediction(ASID + 1)
  assert.equal(prediction.hitless, false)
  const r = await concurrentRun((i) => ASID + 1 + (i % 2), 40)
  const c = r.devices[0].counters
  // The window is real but narrow on a thread: count, do not require, faults here.
  for (const id of Object.keys(c.faultsByType)) assert.equal(Number(id), EventId.C_BAD_CD)
  assert.equal(c.groundTruth.total, c.faults)
  console.log(`concurrent breaking swaps: ${c.accesses} accesses, ${c.faults} faults (C_BAD_CD)`)
})

test('devices added to a running worker do DMA; the shared ground-truth total matches their counters', async () => {
  const memory = new PhysicalMemory(32 * 1024 * 1024)
  const allocator = new FrameAllocator(memory)
  const port = new CpuStorePort(memory, true)
  const regs = new SmmuRegisters()
  resetSmmuRegisters(regs)
  const dma = await ConcurrentDma.start({
    memory,
    seed: 5,
    devices: [],
    translatorModule: SMMU_CONCURRENT_TRANSLATOR,
    translatorOptions: { registers: regs.buffer },
  })
  try {
    // The driver probes while no device exists yet: the worker serves the command queue anyway.
    const driver = SmmuDriver.probe({ port, allocator, mmio: new SharedRegisterMmio(regs) })
    const cdTable = driver.allocCdTable(0)
    driver.writeCd([SID], cdTable, 0, makeS1Cd({ asid: ASID, ttb0: domain(port, allocator).root }))
    driver.writeSte(SID, makeCdTableSte(cdTable))
    // SID is mapped; SID + 1 has an abort STE (linear stream table), so each of its accesses is a
    // ground-truth violation (the working set says it must reach its page).
    await dma.addDevices([
      { requesterId: SID, workingSet: WorkingSet.from(ENTRIES) },
      { requesterId: SID + 1, workingSet: WorkingSet.from(ENTRIES) },
    ])
    dma.run(true)
    await dma.waitForAccesses(2000)
  } catch (e) {
    // Stopped on failure too: a DMA worker left running keeps this test file from ever exiting.
    await dma.stop().catch(() => {})
    throw e
  }
  dma.run(false)
  const r = await dma.stop()
  const shared = dma.groundTruth
  const [ok, blocked] = r.devices
  assert.ok(ok.counters.accesses > 500 && blocked.counters.accesses > 500)
  assert.equal(ok.counters.groundTruth.total, 0)
  assert.equal(blocked.counters.groundTruth.total, blocked.counters.accesses)
  assert.equal(shared, blocked.counters.groundTruth.total)
})
