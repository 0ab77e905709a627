import type { IovaRange } from '../kernel/iova-ranges.js'
import type { IommuDevice } from './iommu-driver.js'

/** `pci:0000:BB:DD.F` → requester ID (bus << 8 | dev << 3 | fn). */
export function requesterIdOf(name: string): number {
  const m = /^pci:[0-9a-f]{4}:([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])$/i.exec(name)
  if (!m) throw new RangeError(`not a PCI device name: ${name}`)
  return (Number.parseInt(m[1], 16) << 8) | (Number.parseInt(m[2], 16) << 3) | Number(m[3])
}

/** The platform's PCI devices, named `pci:0000:00:03.0` onwards, with the IOMMU's reserved regions. */
export function pciDevices(count: number, reserved: readonly IovaRange[]): IommuDevice[] {
  return Array.from({ length: count }, (_, i) => {
    const name = `pci:0000:00:${(3 + i).toString(16).padStart(2, '0')}.0`
    return { name, requesterId: requesterIdOf(name), reserved }
  })
}
