import {
  DeterministicScheduler,
  type DmaDeviceConfig,
  DmaEngine,
  type IommuTranslator,
  PAGE_SIZE,
  PhysicalMemory,
  SeededRandom,
  type SmmuMmio,
  SmmuV3,
} from '@hitless/emulator'
import { createVtd, faultLogTotals, type Vtd } from '@hitless/emulator/vtd/index'
import type { IommuDevice } from '@hitless/iommufd'
import { pciDevices } from '@hitless/iommufd/drivers/pci-devices'
import { SMMU_SW_MSI } from '@hitless/iommufd/drivers/smmuv3-domain'
import { VTD_IOAPIC_RANGE } from '@hitless/iommufd/drivers/vtd-domain'
import type { Hardware } from '@hitless/protocol'
import type { Kernel } from './kernel.js'
import type { KernelPlatform } from './kernel-platform.js'
import { poisonUnpreserved } from './kexec-memory.js'

export interface MachineOptions {
  hardware: Hardware
  /** Emulated RAM. Default 64 MiB. */
  memoryBytes?: number
  /** PCI devices behind the IOMMU. Default 2. */
  devices?: number
  /** Seed of every random choice (DMA, cache misses). Default 1. */
  seed?: number
  /** DMA accesses per device per store boundary / tick. Default 1. */
  dmaRate?: number
}

export { FIRMWARE_FRAMES } from './kexec-memory.js'

/**
 * An emulated host: what lives for the whole run, across any number of kexecs — physical memory,
 * the IOMMU hardware (registers, caches, walker), the DMA engines and their scheduler, and two
 * things that cross a kexec by design: the KHO preserved-memory map (which frames the old kernel
 * marked; everything else is poisoned at kexec) and the handover blob. The kernel (`kernel`) is
 * not the machine's: a kexec drops it and boots another from memory + map + blob only.
 */
export class EmulatedMachine implements KernelPlatform {
  readonly hardware: Hardware
  readonly memory: PhysicalMemory
  readonly smmu: SmmuV3 | undefined
  readonly vtd: Vtd | undefined
  readonly translator: IommuTranslator
  readonly devices: IommuDevice[]
  readonly engine: DmaEngine
  readonly scheduler: DeterministicScheduler
  /** KHO's preserved-memory map as the new kernel finds it (one byte per frame). */
  readonly khoMap: Uint8Array
  /** The handover blob passed to the next kernel (KHO FDT / LUO session data). */
  handover: Uint8Array | undefined
  /** The running kernel; undefined between a kexec's stop and the next boot. */
  kernel: Kernel | undefined
  /** Boots so far (a kexec is one). */
  boots = 0
  /** A disk: survives kexec and agent crashes (the agent's journal lives here). */
  readonly disk = new Map<string, unknown>()

  constructor(readonly opts: MachineOptions) {
    this.hardware = opts.hardware
    this.memory = new PhysicalMemory(opts.memoryBytes ?? 64 * 1024 * 1024)
    const n = opts.devices ?? 2
    if (opts.hardware.startsWith('smmuv3')) {
      this.smmu = new SmmuV3({ memory: this.memory, bbml: opts.hardware === 'smmuv3-bbml2' ? 2 : 0 })
      this.translator = this.smmu
      this.devices = pciDevices(n, [SMMU_SW_MSI])
    } else {
      this.vtd = createVtd(this.memory, { scalableMode: true })
      this.translator = this.vtd.iommu!
      this.devices = pciDevices(n, [VTD_IOAPIC_RANGE])
    }
    this.engine = new DmaEngine(this.translator, new SeededRandom(opts.seed ?? 1))
    this.scheduler = new DeterministicScheduler(this.engine)
    this.khoMap = new Uint8Array(this.memory.frameCount)
  }

  /** DMA accesses so far, every device. */
  get dmaAccesses(): number {
    return this.engine.accessTotal
  }

  // ---- KernelPlatform: what Kernel.boot reads ----

  get smmuMmio(): SmmuMmio | undefined {
    return this.smmu
  }

  /** One thread: a store is never seen half-done. */
  readonly atomicStores = false

  get dmaRate(): number {
    return this.opts.dmaRate ?? 1
  }

  get dmaCounters(): DmaEngine {
    return this.engine
  }

  addDmaDevice(config: DmaDeviceConfig): void {
    this.engine.addDevice(config)
  }

  /** DMA runs at the new kernel's store boundaries. */
  kernelBooted(k: Kernel): void {
    this.scheduler.attach(k.port)
    this.kernel = k
  }

  /**
   * Faults so far, from what outlives every kernel: the DMA engines' ground truth and the
   * hardware's own fault log (SMMUv3 event queue, VT-d fault recording).
   */
  faultCounters(): { groundTruth: number; recorded: number; lost: number } {
    const groundTruth = this.engine.groundTruthTotal
    if (this.smmu) return { groundTruth, recorded: this.smmu.events.recorded, lost: this.smmu.events.lost }
    return { groundTruth, ...faultLogTotals(this.vtd!.registers) }
  }

  /** Time passing with the CPU storing nothing: DMA for `boundaries` boundaries. */
  tick(boundaries: number): void {
    this.scheduler.idle(boundaries)
  }

  /**
   * The kexec itself: the running kernel stops and is dropped; DMA goes on for `bootTicks`
   * (the new kernel's boot); every frame the old kernel did not mark preserved is poisoned.
   * The caller then boots the next kernel (Kernel.boot), which may read only memory, the KHO
   * map and `handover`.
   */
  kexec(handover: Uint8Array | undefined, preservedFrames: Iterable<number>, bootTicks: number): void {
    this.scheduler.detach()
    this.kernel = undefined
    this.handover = handover ? Uint8Array.from(handover) : undefined
    this.khoMap.fill(0)
    for (const pa of preservedFrames) this.khoMap[pa / PAGE_SIZE] = 1
    this.tick(bootTicks)
    poisonUnpreserved(this.memory, this.khoMap)
    this.boots++
  }
}
