/** A device bound to the helper's iommufd: its device object id and the handle the helper knows it by. */
export interface BoundDevice {
  /** The iommufd device object id (IOMMU_HWPT_ALLOC's dev_id). */
  devId: number
  /** The helper-side handle: the selftest object id (mock) or the VFIO cdev fd (real host). */
  handle: number
}

/**
 * How the real backend binds, attaches and detaches devices: VFIO cdev calls on a real host
 * (VfioCdevDevices), the selftest's mock devices in the lane's guest (MockDevices). The backend
 * keeps the device state (attached or not, to what) and checks the contract's preconditions; a
 * port only issues the calls.
 */
export interface DevicePort {
  /** `iommufd-mock` or `vfio-cdev`. */
  readonly kind: string
  /** The MD_CHECK_MAP oracle exists (the selftest mock only). */
  readonly oracle: boolean
  /** Stable device names, bound or not. */
  names(): string[]
  /** Binds the named device to the iommufd; it ends up detached (DMA blocked). */
  bind(name: string): Promise<BoundDevice>
  /** Attaches a detached device to an IOAS or HWPT; returns the HWPT id the kernel chose. */
  attach(dev: BoundDevice, ptId: number): Promise<number>
  /** Moves an attached device to another IOAS or HWPT without blocking in between; returns the HWPT id. */
  replace(dev: BoundDevice, ptId: number): Promise<number>
  /** Blocks the device's DMA. */
  detach(dev: BoundDevice): Promise<void>
  /** Unbinds (the kernel detaches first). */
  unbind(dev: BoundDevice): Promise<void>
}
