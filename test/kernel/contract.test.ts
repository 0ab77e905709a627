// The backend contract (packages/iommufd/src/contract/contract-suite.ts, every case the emulated
// backends pass, error cases included) on the real kernel: RealIommufdBackend over the helper in
// one QEMU guest, the selftest mock as the IOMMU. Each test gets a fresh iommufd context (the
// helper reopens /dev/iommu, which destroys every object of the last test).
import { runContractSuite } from '../../packages/iommufd/src/contract/contract-suite.js'
import { MockDevices } from '../../packages/real-iommufd/src/devices/mock-devices.js'
import type { QemuGuest } from '../../packages/real-iommufd/src/qemu-guest.js'
import { RealIommufdBackend } from '../../packages/real-iommufd/src/real-iommufd-backend.js'
import { skipReason, startGuest } from './kernel-lane-env.js'

let guest: QemuGuest | undefined

runContractSuite(
  'real-iommufd (Linux in QEMU, selftest mock IOMMU)',
  async () => {
    await guest!.call('iommufd_reopen')
    return new RealIommufdBackend({ helper: guest!, devices: new MockDevices(guest!) })
  },
  {
    oracle: true,
    skip: skipReason,
    timeout: 60_000,
    before: async () => {
      const started = await startGuest('contract')
      guest = started.guest
      console.log(`contract guest booted in ${started.timings.bootMs} ms`)
    },
    after: async () => {
      await guest?.close()
    },
  },
)
