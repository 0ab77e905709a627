import {
  type DmaDeviceConfig,
  PhysicalMemory,
  SharedRegisterMmio,
  type SmmuMmio,
  SmmuRegisters,
} from '@hitless/emulator'
import { attachVtdSoftware, type Vtd } from '@hitless/emulator/vtd/index'
import type { DmaCounterSource, IommuDevice } from '@hitless/iommufd'
import { pciDevices } from '@hitless/iommufd/drivers/pci-devices'
import { SMMU_SW_MSI } from '@hitless/iommufd/drivers/smmuv3-domain'
import { VTD_IOAPIC_RANGE } from '@hitless/iommufd/drivers/vtd-domain'
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
 * physical memory, the IOMMU's shared registers (the unit itself runs on the DMA worker: the
 * driver rings its doorbells and waits for CMD_SYNC, GSTS or a wait descriptor through them), the
 * KHO map and the PCI devices firmware lists. Stores are atomic: the IOMMU walks the tables while
 * the kernel writes.
 */
export class SharedMachine implements KernelPlatform {
  readonly hardware: Hardware
  readonly memory: PhysicalMemory
  readonly khoMap: Uint8Array
  readonly devices: IommuDevice[]
  readonly smmuMmio: SmmuMmio | undefined
  readonly smmu = undefined
  /** VT-d: software's side only (registers, seqlock, driver factory). */
  readonly vtd: Vtd | undefined
  readonly atomicStores = true
  readonly dmaRate: number
  readonly dmaCounters = new DmaReadings()
  /** Devices the VMM set up DMA for; the agent hands them to the DMA worker. */
  readonly dmaDevices: DmaDeviceSpec[] = []
  kernel: Kernel | undefined

  constructor(data: KernelWorkerData) {
    const o = data.options
    const regs = data.registers
    this.hardware = o.hardware
    this.memory = new PhysicalMemory(data.memory)
    this.khoMap = data.khoMap
    if (o.hardware.startsWith('smmuv3') && regs instanceof SharedArrayBuffer) {
      this.smmuMmio = new SharedRegisterMmio(new SmmuRegisters(regs))
      this.devices = pciDevices(o.devices, [SMMU_SW_MSI])
    } else if (o.hardware.startsWith('vtd') && !(regs instanceof SharedArrayBuffer)) {
      this.vtd = attachVtdSoftware(regs)
      this.devices = pciDevices(o.devices, [VTD_IOAPIC_RANGE])
    } else throw new Error(`concurrent mode has no kernel for ${o.hardware} with these registers`)
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
