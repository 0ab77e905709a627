import type { PhysicalMemory } from '../memory/physical-memory.js'
import { SmmuRegisters } from './registers.js'
import { SmmuV3 } from './smmuv3.js'

/** Options the concurrent DMA worker passes through to `createConcurrentTranslator`. */
export interface SmmuConcurrentOptions {
  /** The register file shared with the CPU thread (SmmuRegisters.buffer). */
  registers: SharedArrayBuffer
  bbml?: 0 | 1 | 2
  oasBits?: number
  iotlbCapacity?: number
}

/** URL of this module, for ConcurrentDma's `translatorModule`. */
export const SMMU_CONCURRENT_TRANSLATOR = import.meta.url

/**
 * Builds the SMMU inside the DMA worker (concurrent mode): the worker owns the whole SMMU (caches,
 * queues' consumer side, translation unit) and reads every structure word with Atomics; the CPU
 * thread only writes memory and rings doorbells through the shared register file.
 */
export function createConcurrentTranslator(options: SmmuConcurrentOptions, memory: PhysicalMemory) {
  const smmu = new SmmuV3({
    memory,
    registers: new SmmuRegisters(options.registers),
    reset: false,
    atomic: true,
    bbml: options.bbml,
    oasBits: options.oasBits,
    iotlbCapacity: options.iotlbCapacity,
  })
  return {
    translator: smmu,
    poll: () => smmu.pollDoorbellIfRung(),
    stats: () => ({
      eventsRecorded: smmu.events.recorded,
      eventsLost: smmu.events.lost,
      walks: smmu.translator.walks,
      commandsConsumed: smmu.cmdq.consumed,
    }),
  }
}
