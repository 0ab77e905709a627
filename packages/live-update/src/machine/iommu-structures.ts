import { PAGE_SIZE } from '@hitless/emulator'
import { DMAR_IQA_REG, IQA } from '@hitless/emulator/vtd/index'
import { Smmuv3IommuDriver } from '@hitless/iommufd'
import type { Kernel } from './kernel.js'

/**
 * Every frame of IOMMU configuration the hardware reads that is not a page table: SMMUv3 stream
 * table, command and event queues, CD tables; VT-d root and context tables, PASID directories and
 * tables, the invalidation queue. A live update preserves them in place (upstream's "preserve the
 * HW page table in place"): the hardware keeps reading them through the kexec.
 */
export function iommuStructureFrames(k: Kernel): number[] {
  const out = new Set<number>()
  const add = (pa: number, bytes = PAGE_SIZE) => {
    for (let o = 0; o < bytes; o += PAGE_SIZE) out.add(pa - (pa % PAGE_SIZE) + o)
  }
  const d = k.driver
  if (d instanceof Smmuv3IommuDriver) {
    for (const s of d.smmuDriver.structureFrames) add(s.pa, s.bytes)
    for (const t of d.cdTables.values()) add(t)
  } else {
    const low = d.vtdDriver
    add(low.rootTable)
    const iqa = low.mmio.read64(DMAR_IQA_REG)
    add(Number(iqa & ~0xfffn), PAGE_SIZE * 2 ** Number(iqa & BigInt(IQA.QS_MASK)))
    for (const dev of d.devices) {
      const ce = low.contextEntryAddress(dev.requesterId, false)
      if (ce < 0) continue
      add(ce)
      const dir = d.pasidDirs.get(dev.requesterId)
      if (dir === undefined) continue
      add(dir)
      const pe = low.pasidEntryAddress(dir, 0, false)
      if (pe >= 0) add(pe)
    }
  }
  return [...out].sort((a, b) => a - b)
}
