import { CpuStorePort } from '../cpu/cpu-store-port.js'
import { FrameAllocator } from '../memory/frame-allocator.js'
import { PhysicalMemory } from '../memory/physical-memory.js'
import { PageTableBuilder } from '../pagetable/vmsav8/builder.js'
import { makeS1Cd } from './context-descriptor.js'
import { SmmuDriver, type SmmuDriverOptions } from './driver/smmu-driver.js'
import { type SmmuV3Options, SmmuV3 } from './smmuv3.js'
import { makeCdTableSte, makeS2DomainSte } from './stream-table-entry.js'

export interface SmmuWorldOptions extends Partial<Omit<SmmuV3Options, 'memory'>> {
  /** Emulated RAM in bytes (default 16 MiB). */
  memoryBytes?: number
  format?: SmmuDriverOptions['format']
  sidBits?: number
  evtqLog2?: number
}

/**
 * One emulated host with an SMMUv3 in deterministic mode: RAM, frame allocator, CPU store port,
 * the SMMU, and a probed driver. The quickest way to a working setup (tests, benchmarks, the
 * iommufd model); each piece stays reachable for finer control.
 */
export function createSmmuWorld(opts: SmmuWorldOptions = {}) {
  const memory = new PhysicalMemory(opts.memoryBytes ?? 16 * 1024 * 1024)
  const allocator = new FrameAllocator(memory)
  const port = new CpuStorePort(memory)
  const smmu = new SmmuV3({ ...opts, memory })
  const driver = SmmuDriver.probe({
    port,
    allocator,
    mmio: smmu,
    sidBits: opts.sidBits ?? 8,
    format: opts.format,
    evtqLog2: opts.evtqLog2,
  })
  /** A stage-1 domain: tables, a one-entry CD table, and the STE of `sid` pointing at it. */
  const attachS1 = (sid: number, asid: number) => {
    const tables = PageTableBuilder.create(port, allocator, { stage: 1 })
    const cdTable = driver.allocCdTable(0)
    driver.writeCd([sid], cdTable, 0, makeS1Cd({ asid, ttb0: tables.root }))
    driver.writeSte(sid, makeCdTableSte(cdTable))
    return { tables, cdTable }
  }
  /** A stage-2 domain: tables and the STE of `sid`. */
  const attachS2 = (sid: number, vmid: number) => {
    const tables = PageTableBuilder.create(port, allocator, { stage: 2 })
    driver.writeSte(sid, makeS2DomainSte({ vmid, s2ttb: tables.root }))
    return { tables }
  }
  return { memory, allocator, port, smmu, driver, attachS1, attachS2 }
}

export type SmmuWorld = ReturnType<typeof createSmmuWorld>
