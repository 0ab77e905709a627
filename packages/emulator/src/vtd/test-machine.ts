import { CpuStorePort } from '../cpu/cpu-store-port.js'
import { FrameAllocator } from '../memory/frame-allocator.js'
import { PhysicalMemory } from '../memory/physical-memory.js'
import { SlPageTableBuilder } from '../pagetable/vtd-sl/builder.js'
import type { VtdConfig } from './config.js'
import type { VtdDriver } from './driver-ops.js'
import type { VtdIommu } from './translate.js'
import { createVtd, type Vtd } from './vtd.js'

/**
 * One deterministic machine for tests: memory, frame allocator, CPU store port, a VT-d unit
 * brought up by the driver in legacy or scalable mode. Shared by the VT-d unit tests.
 */
export interface TestMachine {
  memory: PhysicalMemory
  frames: FrameAllocator
  port: CpuStorePort
  vtd: Vtd
  iommu: VtdIommu
  driver: VtdDriver
  /** A fresh 4-level second-level table. */
  table(levels?: 3 | 4): SlPageTableBuilder
}

export function makeTestMachine(
  opts: VtdConfig & { scalable?: boolean; memoryBytes?: number } = {},
): TestMachine {
  const memory = new PhysicalMemory(opts.memoryBytes ?? 16 * 1024 * 1024)
  const frames = new FrameAllocator(memory, 16)
  const port = new CpuStorePort(memory)
  const vtd = createVtd(memory, opts)
  const driver = vtd.driver(port, frames, opts.scalable ?? false)
  driver.enable()
  return {
    memory,
    frames,
    port,
    vtd,
    iommu: vtd.iommu!,
    driver,
    table: (levels = 4) => SlPageTableBuilder.create(port, frames, levels),
  }
}

/** Source-id of bus:dev.fn. */
export const sidOf = (bus: number, dev: number, fn: number): number => (bus << 8) | (dev << 3) | fn
