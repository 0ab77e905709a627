import {
  type DmaDeviceConfig,
  PhysicalMemory,
  SharedRegisterMmio,
  type SmmuMmio,
  SmmuRegisters,
} from '@hitless/emulator'
import type { DmaCounterSource, IommuDevice } from '@hitless/iommufd'
import { pciDevices } from '@hitless/iommufd/drivers/pci-devices'
import { SMMU_SW_MSI } from '@hitless/iommufd/drivers/smmuv3-domain'
import type { Hardware } from '@hitless/protocol'
import type { Kernel } from '../machine/kernel.js'
import type { KernelPlatform } from '../machine/kernel-platform.js'
import type { DmaDeviceSpec, DmaReading, KernelWorkerData } from './kernel-syscalls.js'

/** The DMA counters as the agent last read them (see DmaReading). */
export class DmaReadings implements DmaCounterSource {
  groundTruthTotal = 0
  accessTotal = 0

  update(r: DmaReading): void {
    this.groundTruthTotal = r.groundTruth
    this.accessTotal = r.accesses
  }
}

/**
 * The host as a kernel worker sees it (concurrent mode), built from its workerData alone: shared
 * physical memory, the SMMU's shared register file (the SMMU itself runs on the DMA worker: the
 * driver rings its doorbell and waits for CMD_SYNC through the registers), the KHO map and the
 * PCI devices firmware lists. Stores are atomic: the SMMU walks the tables while the kernel writes.
 */
export class SharedMachine implements KernelPlatform {
  readonly hardware: Hardware
  readonly memory: PhysicalMemory
  readonly khoMap: Uint8Array
  readonly devices: IommuDevice[]
  readonly smmuMmio: SmmuMmio
  readonly smmu = undefined
  readonly vtd = undefined
  readonly atomicStores = true
  readonly dmaRate: number
  readonly dmaCounters = new DmaReadings()
  /** Devices the VMM set up DMA for; the agent hands them to the DMA worker. */
  readonly dmaDevices: DmaDeviceSpec[] = []
  kernel: Kernel | undefined

  constructor(data: KernelWorkerData) {
    const o = data.options
    if (!o.hardware.startsWith('smmuv3'))
      throw new Error(`concurrent mode has no kernel for ${o.hardware}: only SMMUv3 runs on the DMA worker`)
    this.hardware = o.hardware
    this.memory = new PhysicalMemory(data.memory)
    this.khoMap = data.khoMap
    this.smmuMmio = new SharedRegisterMmio(new SmmuRegisters(data.registers))
    this.devices = pciDevices(o.devices, [SMMU_SW_MSI])
    this.dmaRate = o.dmaRate
  }

  addDmaDevice(c: DmaDeviceConfig): void {
    const ws = c.workingSet
    this.dmaDevices.push({
      name: c.name ?? `dev-${c.requesterId.toString(16)}`,
      requesterId: c.requesterId,
      rate: c.rate ?? 1,
      iova: Float64Array.from(ws.iova),
      pa: Float64Array.from(ws.pa),
      perm: Uint8Array.from(ws.perm),
    })
  }

  kernelBooted(k: Kernel): void {
    this.kernel = k
  }
}
