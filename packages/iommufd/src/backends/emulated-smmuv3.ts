import { createSmmuWorld } from '@hitless/emulator'
import { pciDevices } from '../drivers/pci-devices.js'
import { SMMU_SW_MSI, Smmuv3IommuDriver } from '../drivers/smmuv3-domain.js'
import { EmulatedBackend, type EmulatedBackendOptions } from './emulated-backend.js'

export interface EmulatedSmmuv3Options extends EmulatedBackendOptions {
  /** IDR3.BBML: 0 or 2 (1 behaves as 0 for leaf-size changes). Default 0. */
  bbml?: 0 | 1 | 2
  /** PCI devices behind the SMMU (`pci:0000:00:03.0` onwards). Default 4. */
  devices?: number
  /** Emulated RAM. Default 64 MiB. */
  memoryBytes?: number
  /** Event queue entries, log2. Default 7. */
  evtqLog2?: number
}

/** The emulated-smmuv3 backend: an SMMUv3 (linear stream table, 8-bit StreamIDs) and its driver. */
export function createEmulatedSmmuv3(opts: EmulatedSmmuv3Options = {}): EmulatedBackend & {
  driver: Smmuv3IommuDriver
} {
  const w = createSmmuWorld({
    bbml: opts.bbml ?? 0,
    memoryBytes: opts.memoryBytes ?? 64 * 1024 * 1024,
    sidBits: 8,
    evtqLog2: opts.evtqLog2,
  })
  const driver = new Smmuv3IommuDriver({
    smmu: w.smmu,
    driver: w.driver,
    port: w.port,
    allocator: w.allocator,
    devices: pciDevices(opts.devices ?? 4, [SMMU_SW_MSI]),
    hardware: (opts.bbml ?? 0) >= 2 ? 'smmuv3-bbml2' : 'smmuv3-bbml0',
  })
  return new EmulatedBackend('emulated-smmuv3', w, driver, opts) as EmulatedBackend & {
    driver: Smmuv3IommuDriver
  }
}
