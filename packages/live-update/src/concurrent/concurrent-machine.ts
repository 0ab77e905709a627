import {
  ConcurrentDma,
  type ConcurrentDmaResult,
  PAGE_SIZE,
  PhysicalMemory,
  REG,
  resetSmmuRegisters,
  SMMU_CONCURRENT_TRANSLATOR,
  type SmmuConcurrentOptions,
  SmmuRegisters,
  WorkingSet,
} from '@hitless/emulator'
import { createVtd, faultLogTotals, VTD_CONCURRENT_TRANSLATOR, type Vtd } from '@hitless/emulator/vtd/index'
import type { Hardware } from '@hitless/protocol'
import { poisonUnpreserved } from '../machine/kexec-memory.js'
import type {
  DmaDeviceSpec,
  DmaReading,
  IommuRegisters,
  KernelBootOptions,
  KernelWorkerData,
} from './kernel-syscalls.js'

export interface ConcurrentMachineOptions {
  hardware: Hardware
  memoryBytes: number
  /** PCI devices behind the IOMMU. */
  devices: number
  /** Seed of the DMA worker's choices (the interleaving with the kernel is the OS's). */
  seed: number
  /** DMA accesses per device per loop turn. Default 1. */
  dmaRate?: number
}

/**
 * The emulated host of concurrent mode, as the agent's thread holds it: the hardware only.
 * Physical memory and the IOMMU's registers (SMMUv3 register file; VT-d register file and entry
 * seqlock) are SharedArrayBuffers; the IOMMU model and the devices' DMA run on the DMA worker
 * (emulator's ConcurrentDma) for the whole run, across every kexec. Kernels run on kernel workers
 * started from `bootData` — this object never holds one.
 * Like EmulatedMachine it keeps what crosses a kexec by design: the KHO map (the handover blob is
 * the agent's to carry).
 */
export class ConcurrentMachine {
  readonly memory: PhysicalMemory
  /** SMMUv3: the register file. */
  readonly smmu: SmmuRegisters | undefined
  /** VT-d: software's side of the unit (registers, seqlock); its hardware is on the DMA worker. */
  readonly vtd: Vtd | undefined
  /** KHO's preserved-memory map the next kernel boots with. */
  khoMap: Uint8Array

  private constructor(
    readonly o: ConcurrentMachineOptions,
    memory: PhysicalMemory,
    iommu: { smmu: SmmuRegisters } | { vtd: Vtd },
    readonly dma: ConcurrentDma,
  ) {
    this.memory = memory
    this.smmu = 'smmu' in iommu ? iommu.smmu : undefined
    this.vtd = 'vtd' in iommu ? iommu.vtd : undefined
    this.khoMap = new Uint8Array(memory.frameCount)
  }

  /** Power on: memory, the IOMMU's registers at their reset values, the DMA worker with the IOMMU in it. */
  static async start(o: ConcurrentMachineOptions): Promise<ConcurrentMachine> {
    const memory = new PhysicalMemory(o.memoryBytes)
    const start = (translatorModule: string, translatorOptions: unknown) =>
      ConcurrentDma.start({ memory, devices: [], seed: o.seed, translatorModule, translatorOptions })
    if (o.hardware.startsWith('smmuv3')) {
      const registers = new SmmuRegisters()
      const bbml = o.hardware === 'smmuv3-bbml2' ? 2 : 0
      resetSmmuRegisters(registers, { bbml })
      const options: SmmuConcurrentOptions = { registers: registers.buffer, bbml }
      const dma = await start(SMMU_CONCURRENT_TRANSLATOR, options)
      return new ConcurrentMachine(o, memory, { smmu: registers }, dma)
    }
    // As EmulatedMachine: a unit capable of scalable mode; the kernel picks legacy or scalable.
    const vtd = createVtd(memory, { scalableMode: true, concurrent: true })
    const dma = await start(VTD_CONCURRENT_TRANSLATOR, vtd.shared)
    return new ConcurrentMachine(o, memory, { vtd }, dma)
  }

  /** The IOMMU's registers as a kernel worker gets them. */
  get registers(): IommuRegisters {
    return this.smmu ? this.smmu.buffer : this.vtd!.shared
  }

  /** A kernel worker's whole start (see KernelWorkerData): nothing of any earlier kernel. */
  bootData(
    options: Omit<KernelBootOptions, 'hardware' | 'devices' | 'dmaRate'>,
    handover: Uint8Array | null,
  ): KernelWorkerData {
    return {
      memory: this.memory.buffer,
      registers: this.registers,
      khoMap: this.khoMap,
      handover,
      options: {
        ...options,
        hardware: this.o.hardware,
        devices: this.o.devices,
        dmaRate: this.o.dmaRate ?? 1,
      },
    }
  }

  /** The VMM's devices start DMA on the DMA worker. */
  async startDma(devices: readonly DmaDeviceSpec[]): Promise<void> {
    await this.dma.addDevices(
      devices.map((d) => {
        const workingSet = new WorkingSet(d.iova.length)
        workingSet.iova.set(d.iova)
        workingSet.pa.set(d.pa)
        workingSet.perm.set(d.perm)
        return { name: d.name, requesterId: d.requesterId, rate: d.rate, workingSet }
      }),
    )
    this.dma.run(true)
  }

  get dmaAccesses(): number {
    return this.dma.accesses
  }

  dmaReading(): DmaReading {
    return { accesses: this.dma.accesses, groundTruth: this.dma.groundTruth }
  }

  /**
   * Faults so far, from what outlives every kernel: the DMA engines' ground truth and the IOMMU's
   * own count of faults recorded and lost (its registers).
   */
  faultCounters(): { groundTruth: number; recorded: number; lost: number } {
    const groundTruth = this.dma.groundTruth
    if (this.smmu)
      return {
        groundTruth,
        recorded: this.smmu.read32(REG.IMPDEF_EVENTS_RECORDED),
        lost: this.smmu.read32(REG.IMPDEF_EVENTS_LOST),
      }
    return { groundTruth, ...faultLogTotals(this.vtd!.registers) }
  }

  /**
   * The kexec, once the old kernel's thread is gone: the KHO map from the frames it marked, and
   * every other frame but firmware's poisoned (0xdeadbeef), while the DMA worker runs on. A new
   * kernel that leaned on anything not preserved would find poison.
   */
  kexec(preservedFrames: Float64Array): void {
    const kho = new Uint8Array(this.memory.frameCount)
    for (const pa of preservedFrames) kho[pa / PAGE_SIZE] = 1
    this.khoMap = kho
    poisonUnpreserved(this.memory, kho)
  }

  /** LUO session finish: the new kernel owns everything; nothing is marked preserved any more. */
  finishHandover(): void {
    this.khoMap = new Uint8Array(this.memory.frameCount)
  }

  /** Stops DMA and the DMA worker; its per-device counters and first violations. */
  async stop(): Promise<ConcurrentDmaResult> {
    this.dma.run(false)
    return this.dma.stop()
  }
}
