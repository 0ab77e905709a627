// Devices of the kernel's selftest mock IOMMU (CONFIG_IOMMUFD_TEST), as the lane's guest has them.
//
// The mock has no separate bind, attach or detach: IOMMU_TEST_OP_MOCK_DOMAIN creates a mock
// device, binds it to the iommufd and attaches it to a pt in one call, IOMMU_TEST_OP_MOCK_DOMAIN_
// REPLACE moves it (iommufd_device_replace), and destroying the selftest object unbinds it. So:
//
//   bind    = MOCK_DOMAIN onto a private, empty "parking" IOAS (created on first bind; never
//             listed by the backend). An empty domain translates nothing, which is what a
//             detached, DMA-blocked device sees.
//   attach  = MOCK_DOMAIN_REPLACE from the parking IOAS onto the pt
//   replace = MOCK_DOMAIN_REPLACE
//   detach  = MOCK_DOMAIN_REPLACE back onto the parking IOAS
//   unbind  = IOMMU_DESTROY of the selftest object (the kernel detaches and unbinds)
//
// The parking IOAS and its automatic HWPT are real kernel objects: they take object ids, and they
// are the one difference from VFIO, where a detached device holds no HWPT at all.
import type { HelperTransport } from '../helper-transport.js'
import { num } from '../helper-protocol.js'
import type { BoundDevice, DevicePort } from './device-port.js'

export class MockDevices implements DevicePort {
  readonly kind = 'iommufd-mock'
  readonly oracle = true
  private parking: number | undefined

  /** `count` mock devices named `mock:0` ... (the mock makes as many as asked). */
  constructor(
    private readonly helper: HelperTransport,
    private readonly count = 4,
  ) {}

  names(): string[] {
    return Array.from({ length: this.count }, (_, i) => `mock:${i}`)
  }

  /** The parking IOAS's id once a device was bound (the backend never lists it). */
  get parkingIoas(): number | undefined {
    return this.parking
  }

  async bind(_name: string): Promise<BoundDevice> {
    this.parking ??= num(await this.helper.call('ioas_alloc'), 'id')
    const r = await this.helper.call('mock_domain', this.parking)
    return { devId: num(r, 'idev'), handle: num(r, 'stdev') }
  }

  async attach(dev: BoundDevice, ptId: number): Promise<number> {
    return this.replace(dev, ptId)
  }

  async replace(dev: BoundDevice, ptId: number): Promise<number> {
    return num(await this.helper.call('mock_domain_replace', dev.handle, ptId), 'pt')
  }

  async detach(dev: BoundDevice): Promise<void> {
    await this.helper.call('mock_domain_replace', dev.handle, this.parking!)
  }

  async unbind(dev: BoundDevice): Promise<void> {
    await this.helper.call('destroy', dev.handle)
  }
}
