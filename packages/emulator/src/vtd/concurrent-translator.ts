import type { PhysicalMemory } from '../memory/physical-memory.js'
import { LATCH } from './register-file.js'
import { attachVtdHardware, type VtdShared } from './vtd.js'

/** URL of this module, for ConcurrentDma's `translatorModule` (options: `createVtd(..., {concurrent: true}).shared`). */
export const VTD_CONCURRENT_TRANSLATOR = import.meta.url

/**
 * Builds the VT-d remapping unit inside the DMA worker (concurrent mode): the worker owns the
 * hardware — context/PASID caches, IOTLB, the invalidation queue's consumer side, fault recording
 * — over the register file and entry seqlock shared with the CPU thread, which only stores to
 * memory and rings the doorbell (GCMD, IQT) through its VtdMmio.
 */
export function createConcurrentTranslator(options: VtdShared, memory: PhysicalMemory) {
  const hw = attachVtdHardware(memory, options)
  const i32 = hw.registers.i32
  let seen = -1
  return {
    translator: hw,
    // The worker polls between DMA turns; service() only when software rang since the last look
    // (a driver waiting for GSTS or a wait descriptor spins until then).
    poll: () => {
      const bell = Atomics.load(i32, LATCH.DOORBELL >>> 2)
      if (bell !== seen) {
        seen = bell
        hw.service()
      }
    },
    stats: () => ({
      translations: hw.stats.translations,
      walks: hw.stats.walks,
      faults: hw.stats.faults,
      faultsByReason: Object.fromEntries(hw.stats.faultsByReason),
      recording: { ...hw.faults.stats },
    }),
  }
}
