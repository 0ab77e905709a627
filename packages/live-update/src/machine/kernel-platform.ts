import type { DmaDeviceConfig, PhysicalMemory, SmmuMmio, SmmuV3 } from '@hitless/emulator'
import type { Vtd } from '@hitless/emulator/vtd/index'
import type { DmaCounterSource, IommuDevice } from '@hitless/iommufd'
import type { Hardware } from '@hitless/protocol'
import type { Kernel } from './kernel.js'

/**
 * What a kernel boots on: the hardware it can reach and what crossed the kexec to it. Two
 * implementations: `EmulatedMachine` (deterministic mode — the IOMMU model, the DMA engines and
 * the kernel share one thread) and `SharedMachine` (concurrent mode — a kernel worker's view of
 * shared memory and the SMMU's shared register file; the SMMU and DMA run on the DMA worker).
 * `Kernel.boot` reads nothing else.
 */
export interface KernelPlatform {
  readonly hardware: Hardware
  readonly memory: PhysicalMemory
  /** KHO's preserved-memory map as the booting kernel finds it (one byte per frame). */
  readonly khoMap: Uint8Array
  /** PCI devices behind the IOMMU, as firmware and PCI enumeration present them. */
  readonly devices: IommuDevice[]
  /** SMMUv3: the registers the driver programs (the model itself, or the shared register file). */
  readonly smmuMmio: SmmuMmio | undefined
  /** SMMUv3 model on this thread (deterministic mode only). */
  readonly smmu: SmmuV3 | undefined
  /** VT-d (deterministic mode only). */
  readonly vtd: Vtd | undefined
  /** CPU stores must be single-copy atomic: another thread walks the tables meanwhile. */
  readonly atomicStores: boolean
  /** DMA accesses per device per tick / loop turn the VMM's devices are set up with. */
  readonly dmaRate: number
  /** The DMA the kernel's backend counts (ground truth, accesses). */
  readonly dmaCounters: DmaCounterSource
  /** The VMM started a device's DMA (its working set is the ground truth). */
  addDmaDevice(config: DmaDeviceConfig): void
  /** `k` now runs here (deterministic mode: the scheduler runs DMA at its store boundaries). */
  kernelBooted(k: Kernel): void
}
