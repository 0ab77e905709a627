import type { CpuStorePort } from '../cpu/cpu-store-port.js'
import type { FrameAllocator } from '../memory/frame-allocator.js'
import type { PhysicalMemory } from '../memory/physical-memory.js'
import type { VtdConfig } from './config.js'
import { VtdDriver } from './driver-ops.js'
import { VtdMmio, VtdRegisterFile } from './register-file.js'
import { EntrySeqlock } from './seqlock.js'
import { VtdIommu } from './translate.js'

/**
 * A VT-d remapping unit as a machine has it: the hardware (VtdIommu, with its register file and
 * caches) and, for concurrent mode, what must cross to the DMA worker thread.
 *
 * Deterministic mode: `createVtd(memory)`; software uses `vtd.mmio`, which carries out commands
 * synchronously; the DMA engine calls `vtd.iommu.translate` between CPU stores.
 *
 * Concurrent mode: `createVtd(memory, {concurrent: true})` on the CPU thread creates the register
 * file and the entry seqlock; post `vtd.shared` to the worker, which builds the hardware with
 * `attachVtdHardware(memory, shared)` and calls `translate` (and `service()` when idle). The CPU
 * thread's `vtd.mmio` only writes registers and rings the doorbell; the driver waits for the
 * hardware as a real one does (GSTS bits, wait-descriptor status).
 */
export interface VtdShared {
  registers: SharedArrayBuffer
  seqlock: SharedArrayBuffer
  haw: number
}

export interface Vtd {
  mmio: VtdMmio
  registers: VtdRegisterFile
  /** The hardware, in deterministic mode (in concurrent mode it lives on the worker). */
  iommu: VtdIommu | undefined
  seqlock: EntrySeqlock | undefined
  shared: VtdShared
  /** The kernel driver's low-level operations over this unit. */
  driver(port: CpuStorePort, frames: FrameAllocator, scalable?: boolean): VtdDriver
}

export function createVtd(memory: PhysicalMemory, opts: VtdConfig & { concurrent?: boolean } = {}): Vtd {
  const haw = opts.haw ?? 46
  const seqlock = opts.concurrent ? new EntrySeqlock(memory.frameCount) : undefined
  // The hardware object initialises CAP/ECAP in the register file; in concurrent mode it is only
  // used for that, and the worker attaches its own.
  const hw = new VtdIommu({ memory, config: opts, haw, seqlock })
  const registers = hw.registers
  const mmio = opts.concurrent ? new VtdMmio(registers) : hw.mmio
  return {
    mmio,
    registers,
    iommu: opts.concurrent ? undefined : hw,
    seqlock,
    shared: { registers: registers.buffer, seqlock: (seqlock ?? new EntrySeqlock(1)).buffer, haw },
    driver: (port, frames, scalable) => new VtdDriver({ port, frames, mmio, seqlock, scalable }),
  }
}

/** The DMA worker's side of a concurrent-mode unit: the hardware over shared registers. */
export function attachVtdHardware(memory: PhysicalMemory, shared: VtdShared): VtdIommu {
  return new VtdIommu({
    memory,
    haw: shared.haw,
    registers: new VtdRegisterFile(shared.registers),
    seqlock: new EntrySeqlock(shared.seqlock),
  })
}

/**
 * Software's side of a concurrent-mode unit from its shared state alone — what a kernel booting
 * on its own thread after a kexec has, while the hardware runs on the DMA worker: the register
 * file, the entry seqlock and the driver factory over them. No hardware object, nothing created:
 * the registers keep whatever the unit and the previous kernel left in them.
 */
export function attachVtdSoftware(shared: VtdShared): Vtd {
  const registers = new VtdRegisterFile(shared.registers)
  const seqlock = new EntrySeqlock(shared.seqlock)
  const mmio = new VtdMmio(registers)
  return {
    mmio,
    registers,
    iommu: undefined,
    seqlock,
    shared,
    driver: (port, frames, scalable) => new VtdDriver({ port, frames, mmio, seqlock, scalable }),
  }
}
