import { CpuStorePort, FrameAllocator, PhysicalMemory } from '@hitless/emulator'
import { createVtd } from '@hitless/emulator/vtd/index'
import { pciDevices } from '../drivers/pci-devices.js'
import { VTD_IOAPIC_RANGE, VtdIommuDriver } from '../drivers/vtd-domain.js'
import { EmulatedBackend, type EmulatedBackendOptions } from './emulated-backend.js'

export interface EmulatedVtdOptions extends EmulatedBackendOptions {
  /** Scalable mode (context entries → PASID tables) instead of legacy. Default false. */
  scalable?: boolean
  /** PCI devices behind the unit. Default 4. */
  devices?: number
  /** Emulated RAM (at most 4 GiB for the VT-d model). Default 64 MiB. */
  memoryBytes?: number
  /** Fault recording registers. Default 8. */
  nfr?: number
}

/** The emulated-vtd backend: a VT-d unit brought up by its driver (queued invalidation, translation on). */
export function createEmulatedVtd(
  opts: EmulatedVtdOptions = {},
): EmulatedBackend & { driver: VtdIommuDriver } {
  const memory = new PhysicalMemory(opts.memoryBytes ?? 64 * 1024 * 1024)
  const allocator = new FrameAllocator(memory, 16)
  const port = new CpuStorePort(memory)
  const vtd = createVtd(memory, { scalableMode: true, nfr: opts.nfr })
  const low = vtd.driver(port, allocator, opts.scalable ?? false)
  low.enable()
  const driver = new VtdIommuDriver({
    vtd,
    driver: low,
    port,
    frames: allocator,
    devices: pciDevices(opts.devices ?? 4, [VTD_IOAPIC_RANGE]),
  })
  return new EmulatedBackend('emulated-vtd', { memory, allocator, port }, driver, opts) as EmulatedBackend & {
    driver: VtdIommuDriver
  }
}
