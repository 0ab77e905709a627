// Devices of a real host through the VFIO device cdev (/dev/vfio/devices/vfioN, CONFIG_VFIO_DEVICE_CDEV),
// include/uapi/linux/vfio.h:
//
//   bind    = open(cdev) + VFIO_DEVICE_BIND_IOMMUFD
//   attach  = VFIO_DEVICE_ATTACH_IOMMUFD_PT
//   replace = VFIO_DEVICE_ATTACH_IOMMUFD_PT again: on an attached device the kernel replaces
//             (vfio_iommufd_physical_attach_ioas → iommufd_device_replace)
//   detach  = VFIO_DEVICE_DETACH_IOMMUFD_PT
//   unbind  = close(cdev)
//
// Not exercised against a kernel yet: the lane's guest has no VFIO device (see docs/real-kernel-lane.md).
import type { HelperTransport } from '../helper-transport.js'
import { HelperError, num } from '../helper-protocol.js'
import type { BoundDevice, DevicePort } from './device-port.js'

export interface VfioCdev {
  /** Stable name, e.g. `pci:0000:03:00.0`. */
  name: string
  /** The device's cdev, e.g. `/dev/vfio/devices/vfio0` (/sys/bus/pci/devices/<bdf>/vfio-dev/vfioN). */
  path: string
}

export class VfioCdevDevices implements DevicePort {
  readonly kind = 'vfio-cdev'
  readonly oracle = false

  constructor(
    private readonly helper: HelperTransport,
    private readonly devices: readonly VfioCdev[],
  ) {}

  names(): string[] {
    return this.devices.map((d) => d.name)
  }

  async bind(name: string): Promise<BoundDevice> {
    const dev = this.devices.find((d) => d.name === name)
    if (!dev) throw new HelperError('vfio_open', 'ENOENT', `no VFIO cdev for ${name}`)
    const fd = num(await this.helper.call('vfio_open', dev.path), 'fd')
    try {
      return { devId: num(await this.helper.call('vfio_bind', fd), 'devid'), handle: fd }
    } catch (e) {
      await this.helper.call('close', fd).catch(() => undefined)
      throw e
    }
  }

  async attach(dev: BoundDevice, ptId: number): Promise<number> {
    return num(await this.helper.call('vfio_attach', dev.handle, ptId), 'pt')
  }

  async replace(dev: BoundDevice, ptId: number): Promise<number> {
    return this.attach(dev, ptId)
  }

  async detach(dev: BoundDevice): Promise<void> {
    await this.helper.call('vfio_detach', dev.handle)
  }

  async unbind(dev: BoundDevice): Promise<void> {
    await this.helper.call('close', dev.handle)
  }
}
