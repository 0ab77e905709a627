import { randomUUID } from 'node:crypto'
import { CpuStorePort, FrameAllocator, PAGE_SIZE, REG, SmmuDriver } from '@hitless/emulator'
import { EmulatedBackend, type IommuDriver, Smmuv3IommuDriver, VtdIommuDriver } from '@hitless/iommufd'
import { FIRMWARE_FRAMES } from './kexec-memory.js'
import type { KernelPlatform } from './kernel-platform.js'

export interface BootOptions {
  version: string
  /**
   * `adopt`: take over the running IOMMU as it is (after a live-update kexec: no reset, the
   * hardware keeps walking the preserved tables). `reset`: probe it from scratch (a cold boot,
   * or what a plain kexec does today).
   */
  iommu: 'adopt' | 'reset'
}

/**
 * One kernel instance on an emulated machine: its frame allocator (built from the KHO map), its
 * CPU store port, the IOMMU driver and the iommufd context behind an EmulatedBackend. Everything
 * here is dropped at kexec; the next instance is built by `Kernel.boot` from the machine's memory,
 * its KHO map and the handover blob, nothing else. The machine is a KernelPlatform: the whole
 * emulated host on this thread (deterministic mode), or a kernel worker's view of shared memory
 * and registers (concurrent mode, src/concurrent/).
 */
export class Kernel {
  /** Set once RESTORE has rebuilt the IOMMU state (a resumed agent asks before redoing it). */
  restored = false
  /** The agent's LUO session of preserved memfds, by token (its fds stay open into the reboot). */
  readonly session = new Set<string>()

  private constructor(
    readonly machine: KernelPlatform,
    readonly version: string,
    readonly bootId: string,
    readonly allocator: FrameAllocator,
    readonly port: CpuStorePort,
    readonly driver: IommuDriver & (Smmuv3IommuDriver | VtdIommuDriver),
    readonly backend: EmulatedBackend,
  ) {}

  static boot(machine: KernelPlatform, o: BootOptions): Kernel {
    const allocator = new FrameAllocator(machine.memory, FIRMWARE_FRAMES)
    // KHO: the new kernel's memblock never hands out a preserved frame.
    for (let f = FIRMWARE_FRAMES; f < machine.khoMap.length; f++)
      if (machine.khoMap[f]) allocator.reserve(f * PAGE_SIZE)
    const port = new CpuStorePort(machine.memory, machine.atomicStores)
    const devices = machine.devices
    let driver: Smmuv3IommuDriver | VtdIommuDriver
    const mmio = machine.smmuMmio
    if (mmio) {
      const low =
        o.iommu === 'adopt'
          ? SmmuDriver.adopt({ port, allocator, mmio })
          : SmmuDriver.probe({ port, allocator, mmio, sidBits: 8 })
      driver = new Smmuv3IommuDriver({
        ...(machine.smmu ? { smmu: machine.smmu } : {}),
        driver: low,
        port,
        allocator,
        devices,
        hardware: machine.hardware,
      })
    } else {
      const vtd = machine.vtd
      if (!vtd) throw new Error(`no IOMMU this kernel can drive on ${machine.hardware}`)
      const low = vtd.driver(port, allocator, machine.hardware === 'vtd-scalable')
      if (o.iommu === 'adopt') low.adopt()
      else {
        // A booting intel-iommu finding the unit enabled by the previous kernel turns it off
        // (translation and queued invalidation) before init_dmars.
        low.disable()
        low.enable()
      }
      driver = new VtdIommuDriver({ vtd, driver: low, port, frames: allocator, devices })
    }
    const bootId = randomUUID()
    const backend = new EmulatedBackend(
      mmio ? 'emulated-smmuv3' : 'emulated-vtd',
      { memory: machine.memory, allocator, port },
      driver,
      { kernelVersion: o.version, bootId },
    )
    backend.addDmaEngine(machine.dmaCounters)
    const k = new Kernel(machine, o.version, bootId, allocator, port, driver, backend)
    machine.kernelBooted(k)
    return k
  }

  /**
   * The old kernel's shutdown as a plain kexec does it today (device_shutdown →
   * arm_smmu_device_shutdown / intel_disable_iommus): translation off. With SMMUEN=0 and
   * GBPA.ABORT every transaction aborts; with VT-d TE=0 DMA goes untranslated to whatever
   * physical address it names.
   */
  shutdownIommu(): void {
    if (this.driver instanceof Smmuv3IommuDriver) this.driver.smmuDriver.mmio.write32(REG.CR0, 0)
    else this.driver.vtdDriver.disableTranslation()
  }
}
