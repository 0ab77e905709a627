// The backend's mapping of the contract onto helper commands, without a kernel (the contract
// itself runs on a real kernel in test/kernel/contract.test.ts).
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { errnoOf, IommufdError } from '@hitless/iommufd/errno'
import { MockDevices } from './devices/mock-devices.js'
import { VfioCdevDevices } from './devices/vfio-cdev-devices.js'
import { type FakeHandler, fakeHelper } from './fake-helper.test-support.js'
import { PipeHelper } from './pipe-helper.js'
import { RealIommufdBackend } from './real-iommufd-backend.js'

function hostKernel(extra: Record<string, FakeHandler>) {
  let nextId = 1
  let nextFd = 10
  const f = fakeHelper({
    ping: () => 'gen=1 release=7.2.13 iommufd_fd=3',
    read_file: ([path]) =>
      path === '/proc/sys/kernel/random/boot_id'
        ? 'text=5d0c%0a'
        : 'text=%20%20%20CPU0%0a%2024:%20%207%20DMAR-MSI%200-edge%20dmar0%0a',
    ioas_alloc: () => `id=${nextId++}`,
    ioas_iova_ranges: () => 'alignment=0x1000 ranges=0x0-0xfedfffff,0xfef00000-0xffffffffffffffff',
    vfio_open: ([path]) => (path.startsWith('/dev/vfio/devices/') ? `fd=${nextFd++}` : { err: 'ENOENT' }),
    vfio_bind: () => `devid=${nextId++}`,
    vfio_attach: ([, pt]) => `pt=${pt === '0x1' ? nextId++ : Number(pt)}`,
    vfio_detach: () => '',
    close: () => '',
    destroy: ([id]) => (id === '0x3e7' ? { err: 'ENOENT', what: 'IOMMU_DESTROY' } : ''),
    ...extra,
  })
  return { helper: new PipeHelper(f.stdout, f.stdin), seen: f.seen }
}

test('VFIO cdev devices: bind, attach, replace, detach, unbind are the VFIO calls', async () => {
  const { helper, seen } = hostKernel({})
  const b = new RealIommufdBackend({
    helper,
    hardware: 'vtd-scalable',
    devices: new VfioCdevDevices(helper, [
      { name: 'pci:0000:03:00.0', path: '/dev/vfio/devices/vfio0' },
      { name: 'pci:0000:04:00.0', path: '/dev/vfio/devices/vfio1' },
    ]),
  })
  const ioas = await b.ioasAlloc()
  const dev = await b.deviceBind('pci:0000:03:00.0')
  const hwpt = await b.deviceAttach(dev, ioas)
  assert.deepEqual(await b.objects(), [
    { id: ioas, type: 'ioas' },
    { id: dev, type: 'device' },
    { id: hwpt, type: 'hwpt_paging', ioasId: ioas, auto: true },
  ])
  assert.equal(await errnoOf(b.deviceBind('pci:0000:03:00.0')), 'EBUSY')
  assert.equal(await errnoOf(b.deviceBind('pci:0000:09:00.0')), 'ENOENT')
  assert.equal(await errnoOf(b.deviceAttach(dev, ioas)), 'EINVAL', 'attach is for detached devices')
  await b.deviceDetach(dev)
  assert.deepEqual(
    (await b.objects()).map((o) => o.type),
    ['ioas', 'device'],
    'the automatic HWPT went with its last device',
  )
  await b.deviceUnbind(dev)
  assert.deepEqual(seen.slice(1), [
    'vfio_open /dev/vfio/devices/vfio0',
    'vfio_bind 0xa',
    'vfio_attach 0xa 0x1',
    'vfio_detach 0xa',
    'close 0xa',
  ])
})

test('without an oracle: no leaf view, checkMap is EOPNOTSUPP, and kernel errnos come back typed', async () => {
  const { helper } = hostKernel({})
  const b = new RealIommufdBackend({
    helper,
    hardware: 'vtd-scalable',
    devices: new VfioCdevDevices(helper, []),
  })
  assert.deepEqual(b.capabilities, {
    leafView: false,
    physicalAddresses: false,
    backing: false,
    configEntries: false,
    hardwareFaultCounters: false,
    groundTruthFaults: false,
    dmaContinuity: false,
  })
  assert.equal(await errnoOf(b.checkMap(1, 0, 0x1000, 0)), 'EOPNOTSUPP')
  const e = await b.destroy(999).catch((x: unknown) => x)
  assert.ok(e instanceof IommufdError)
  assert.equal(e.errno, 'ENOENT')
  assert.match(e.message, /^IOMMU_DESTROY: the kernel answered ENOENT/)
  const ioas = await b.ioasAlloc()
  const s = await b.state()
  assert.deepEqual(s.kernel, { version: '7.2.13', bootId: '5d0c' })
  assert.deepEqual(s.faults, { groundTruth: 0, recorded: 7, lost: 0 }, 'dmar0 fault interrupts since boot')
  assert.equal(s.ioas[0].id, ioas)
  assert.equal(s.ioas[0].ranges, '0x0-0xfedfffff,0xfef00000-0xffffffffffffffff')
  const snap = await b.snapshot({ phase: 'pre' })
  assert.equal(snap.header.hardware, 'vtd-scalable')
  assert.deepEqual(snap.header.faults.kernel, { groundTruth: 0, recorded: 7, lost: 0 })
  assert.equal(snap.header.faults.hardware, undefined)
})

test('mock devices: bind is MOCK_DOMAIN onto a hidden parking IOAS, detach replaces back onto it', async () => {
  let id = 1
  const { helper, seen } = hostKernel({
    mock_domain: () => `stdev=${id++} hwpt=${id++} idev=${id++}`,
    mock_domain_replace: ([, pt]) => `pt=${pt === '0x1' ? 1000 : id++}`,
    ioas_alloc: () => `id=${id++}`,
  })
  const mock = new MockDevices(helper, 2)
  const b = new RealIommufdBackend({ helper, devices: mock })
  assert.equal(b.hardware, 'iommufd-mock')
  assert.equal(b.capabilities.leafView, true)
  assert.deepEqual(
    (await b.devices()).map((d) => d.name),
    ['mock:0', 'mock:1'],
  )
  const dev = await b.deviceBind('mock:0')
  const ioas = await b.ioasAlloc()
  await b.deviceAttach(dev, ioas)
  await b.deviceDetach(dev)
  await b.deviceUnbind(dev)
  assert.equal(mock.parkingIoas, 1)
  assert.deepEqual(seen, [
    'ioas_alloc',
    'mock_domain 0x1',
    'ioas_alloc',
    'mock_domain_replace 0x2 0x5',
    'mock_domain_replace 0x2 0x1',
    'destroy 0x2',
  ])
  assert.deepEqual(
    (await b.objects()).map((o) => o.id),
    [ioas],
    'the parking IOAS is not listed',
  )
})
