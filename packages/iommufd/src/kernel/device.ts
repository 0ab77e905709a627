import type { IommuDevice } from '../drivers/iommu-driver.js'
import type { Hwpt } from './hwpt.js'
import type { IommufdObject } from './object-table.js'

/**
 * A device bound to the iommufd context (`struct iommufd_device`, VFIO_DEVICE_BIND_IOMMUFD) and
 * the HWPT it is attached to, if any.
 */
export class Device implements IommufdObject {
  readonly type = 'device' as const
  users = 0
  hwpt: Hwpt | undefined

  constructor(
    readonly id: number,
    readonly dev: IommuDevice,
  ) {}

  /** The owner name of the device's reserved regions in the IOAS it is attached to. */
  get reservationOwner(): string {
    return `dev:${this.id}`
  }
}
