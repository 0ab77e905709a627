import type { IommuDomain } from '../drivers/iommu-driver.js'
import type { Device } from './device.js'
import type { Ioas } from './ioas.js'
import type { IommufdObject } from './object-table.js'

/**
 * HWPT (`struct iommufd_hwpt_paging`): one hardware domain filled from one IOAS. `auto` marks the
 * HWPT the kernel made when a device was attached to an IOAS directly; it goes away with its last
 * device, whereas a user-allocated one (IOMMU_HWPT_ALLOC) lives until IOMMU_DESTROY.
 */
export class Hwpt implements IommufdObject {
  readonly type = 'hwpt_paging' as const
  users = 0
  readonly devices = new Set<Device>()

  constructor(
    readonly id: number,
    readonly ioas: Ioas,
    readonly domain: IommuDomain,
    readonly auto: boolean,
  ) {}

  /** The owner name of the IOVA reservations made for this domain's aperture. */
  get reservationOwner(): string {
    return `hwpt:${this.id}`
  }
}
