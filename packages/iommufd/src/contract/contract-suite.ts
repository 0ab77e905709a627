import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { decodeSnapshot, encodeSnapshot, NO_FILE, PAGE_SHIFT } from '@hitless/protocol'
import { type Errno, errnoOf } from '../errno.js'
import { U64_MAX } from '../kernel/iova-ranges.js'
import type { IommufdBackend } from './iommufd-backend.js'

const PAGE = 0x1000
const R = { read: true, write: false }

export interface ContractSuiteOptions {
  /** The backend has the MD_CHECK_MAP oracle (emulated backends, the real kernel's mock). */
  oracle?: boolean
  /**
   * Runs once before the suite (start something expensive that every test's backend shares: the
   * real backend's QEMU guest). The factory is still called once per test and must give a backend
   * with a fresh context (the real one reopens /dev/iommu).
   */
  before?: () => Promise<void> | void
  /** Runs once after the suite (stop what `before` started), whatever the tests did. */
  after?: () => Promise<void> | void
  /** Skips the whole suite, with this reason (e.g. no kernel was built). */
  skip?: string | false
  /** Bound on each test, in ms (node:test's default is none). */
  timeout?: number
}

/** A backend with one IOAS, a device bound and attached to it, and 4 pages mapped at 0x1000000. */
async function fixture(b: IommufdBackend) {
  const ioas = await b.ioasAlloc()
  const devs = await b.devices()
  assert.ok(devs.length >= 2, 'the contract needs a backend with at least two devices')
  const dev = await b.deviceBind(devs[0].name)
  const hwpt = await b.deviceAttach(dev, ioas)
  const mapped = await b.ioasMap(ioas, { iova: 0x1000000, length: 4 * PAGE })
  const mfd = await b.memfdCreate('errors', PAGE)
  return { ioas, dev, hwpt, uptr: mapped.uptr, mfd, devs }
}

/**
 * The contract every IommufdBackend passes: the iommufd smoke sequence of the real-kernel lane,
 * and the errno of every bad call in test/kernel/lane.test.ts (the real kernel's answers), each
 * checked to change nothing (a snapshot before and after). Register it from a test file:
 *
 *   runContractSuite('emulated-smmuv3', () => createEmulatedSmmuv3())
 */
export function runContractSuite(
  name: string,
  factory: () => Promise<IommufdBackend> | IommufdBackend,
  opts: ContractSuiteOptions = { oracle: true },
): void {
  const { skip = false, timeout } = opts
  const check = (title: string, fn: () => Promise<void>) => test(title, timeout ? { timeout } : {}, fn)
  describe(`iommufd backend contract: ${name}`, { skip, ...(timeout ? { timeout } : {}) }, () => {
    if (opts.before) before(opts.before)
    if (opts.after) after(opts.after)

    check(
      'a fresh IOAS spans the whole IOVA space; an attached device narrows it to its aperture',
      async () => {
        const b = await factory()
        const ioas = await b.ioasAlloc()
        assert.deepEqual((await b.ioasIovaRanges(ioas)).ranges, [{ start: 0n, last: U64_MAX }])
        const dev = await b.deviceBind((await b.devices())[0].name)
        await b.deviceAttach(dev, ioas)
        const { alignment, ranges } = await b.ioasIovaRanges(ioas)
        // A power of two: 4 KiB on the emulated IOMMUs, 2 KiB on the kernel's selftest mock (MOCK_PAGE_SIZE).
        assert.ok(alignment >= 0x800 && (alignment & (alignment - 1)) === 0)
        assert.ok(ranges.length >= 1)
        assert.ok(ranges[ranges.length - 1].last < U64_MAX, 'the aperture end is reserved')
        assert.ok(
          ranges.some((r) => r.start <= 0x1000000n && r.last >= 0x6ffffffn),
          '0x1000000-0x6ffffff usable',
        )
      },
    )

    check('smoke: map, map_file, copy, HWPT alloc and replace, unmap, destroy', async () => {
      const b = await factory()
      const [d0, d1] = await b.devices()
      const ioas = await b.ioasAlloc()
      const dev = await b.deviceBind(d0.name)
      const hwpt = await b.deviceAttach(dev, ioas)
      const anon = await b.ioasMap(ioas, { iova: 0x1000000, length: 4 * PAGE })
      assert.equal(anon.iova, 0x1000000)
      if (opts.oracle) await b.checkMap(hwpt, 0x1000000, 4 * PAGE, anon.uptr)

      const { alignment } = await b.ioasIovaRanges(ioas)
      const auto = await b.ioasMap(ioas, { iova: 'auto', length: PAGE })
      assert.equal(auto.iova % alignment, 0)
      assert.ok(auto.iova + PAGE <= 0x1000000 || auto.iova >= 0x1004000, 'auto IOVA avoids the mapping')
      if (opts.oracle) await b.checkMap(hwpt, auto.iova, PAGE, auto.uptr)

      const mfd = await b.memfdCreate('smoke', 4 * PAGE)
      const fileMap = await b.ioasMapFile(ioas, {
        fd: mfd.fd,
        start: PAGE,
        length: 2 * PAGE,
        iova: 0x3000000,
        prot: R,
      })
      assert.equal(fileMap.iova, 0x3000000)
      if (opts.oracle) await b.checkMap(hwpt, 0x3000000, 2 * PAGE, mfd.uptr + PAGE)

      // IOAS_COPY shares the pages: a second device's domain maps the same pages.
      const ioas2 = await b.ioasAlloc()
      const dev2 = await b.deviceBind(d1.name)
      const hwptB = await b.deviceAttach(dev2, ioas2)
      const copied = await b.ioasCopy(ioas2, ioas, 0x1000000, { length: 4 * PAGE, iova: 0x5000000 })
      assert.equal(copied.iova, 0x5000000)
      if (opts.oracle) await b.checkMap(hwptB, 0x5000000, 4 * PAGE, anon.uptr)

      // A user HWPT from the IOAS; the device replaced onto it; the automatic one goes with its device.
      const hwpt2 = await b.hwptAlloc(dev, ioas)
      assert.equal(await b.deviceReplace(dev, hwpt2), hwpt2)
      if (opts.oracle) {
        await b.checkMap(hwpt2, 0x1000000, 4 * PAGE, anon.uptr)
        assert.equal(await errnoOf(b.checkMap(hwpt, 0x1000000, 4 * PAGE, anon.uptr)), 'ENOENT')
      }
      assert.equal(await errnoOf(b.deviceReplace(dev, hwpt)), 'ENOENT')
      const back = await b.deviceReplace(dev, ioas)
      assert.notEqual(back, hwpt2)
      if (opts.oracle) await b.checkMap(back, 0x3000000, 2 * PAGE, mfd.uptr + PAGE)
      const objs = await b.objects()
      assert.equal(objs.find((o) => o.id === back)?.auto, true)
      assert.equal(objs.find((o) => o.id === hwpt2)?.auto, false)
      await b.destroy(hwpt2)

      assert.equal(await b.ioasUnmap(ioas, 0x1000000, 4 * PAGE), 4 * PAGE)
      if (opts.oracle) assert.equal(await errnoOf(b.checkMap(back, 0x1000000, PAGE, anon.uptr)), 'EINVAL')
      assert.equal(await b.ioasUnmap(ioas, 0, U64_MAX), PAGE + 2 * PAGE)

      await b.deviceUnbind(dev2)
      await b.deviceUnbind(dev)
      await b.destroy(ioas2)
      await b.destroy(ioas)
      await b.close(mfd.fd)
      assert.deepEqual(await b.objects(), [])
    })

    check('devices and objects are listed as the kernel holds them', async () => {
      const b = await factory()
      const { ioas, dev, hwpt, devs } = await fixture(b)
      const listed = await b.devices()
      assert.equal(listed.length, devs.length)
      assert.deepEqual(
        listed.filter((d) => d.devId !== undefined).map((d) => [d.name, d.devId, d.hwptId]),
        [[devs[0].name, dev, hwpt]],
      )
      const objs = await b.objects()
      assert.deepEqual(
        objs.map((o) => [o.id, o.type]).sort((a, c) => Number(a[0]) - Number(c[0])),
        [
          [ioas, 'ioas'],
          [dev, 'device'],
          [hwpt, 'hwpt_paging'],
        ].sort((a, c) => Number(a[0]) - Number(c[0])),
      )
      assert.equal(objs.find((o) => o.id === hwpt)?.ioasId, ioas)
    })

    check('snapshot: areas, per-IOVA leaves with their backing, attachments, capabilities', async () => {
      const b = await factory()
      const { ioas, hwpt } = await fixture(b)
      b.label(ioas, 'vm1')
      b.label(hwpt, 'vm1/hwpt')
      const mfd = await b.memfdCreate('guest-ram', 8 * PAGE, 'guest-ram-0')
      await b.ioasMapFile(ioas, { fd: mfd.fd, start: 2 * PAGE, length: 4 * PAGE, iova: 0x2000000 })
      const s = await b.state()
      assert.equal(s.backend, b.backend)
      assert.equal(s.hardware, b.hardware)
      assert.ok(s.kernel.bootId && s.kernel.version)
      assert.deepEqual(s.capabilities, b.capabilities)
      assert.deepEqual(s.files, ['guest-ram-0'])
      const io = s.ioas.find((x) => x.key === 'vm1')!
      assert.deepEqual(
        io.areas.map((a) => [a.iova, a.length, a.file]),
        [
          [0x1000000, 4 * PAGE, null],
          [0x2000000, 4 * PAGE, 'guest-ram-0'],
        ],
      )
      assert.deepEqual(s.attachments, [{ device: (await b.devices())[0].name, hwpt: 'vm1/hwpt' }])
      const h = s.hwpts.find((x) => x.key === 'vm1/hwpt')!
      assert.equal(h.ioas, 'vm1')
      if (b.capabilities.leafView) {
        const fileLeaves = h.leaves!.filter((l) => l.file === 'guest-ram-0')
        assert.deepEqual(
          fileLeaves.map((l) => [l.iova, l.size, l.offset]),
          [0, 1, 2, 3].map((i) => [0x2000000 + i * PAGE, PAGE, (2 + i) * PAGE]),
        )
        const covered = h.leaves!.reduce((n, l) => n + l.size, 0)
        assert.equal(covered, 8 * PAGE)
      }
      if (b.capabilities.configEntries) assert.ok(s.config.length > 0)
      assert.deepEqual(s.faults, { groundTruth: 0, recorded: 0, lost: 0 })
    })

    check('snapshot() in the shared format: encodes, decodes, and says what the backend saw', async () => {
      const b = await factory()
      const { ioas, hwpt } = await fixture(b)
      b.label(ioas, 'vm1')
      b.label(hwpt, 'vm1/hwpt')
      const mfd = await b.memfdCreate('guest-ram', 8 * PAGE, 'guest-ram-0')
      await b.ioasMapFile(ioas, { fd: mfd.fd, start: 2 * PAGE, length: 4 * PAGE, iova: 0x2000000 })
      const snap = decodeSnapshot(encodeSnapshot(await b.snapshot({ phase: 'pre' })))
      const h = snap.header
      assert.equal(h.phase, 'pre')
      assert.equal(h.backend, b.backend)
      assert.equal(h.hardware, b.hardware)
      assert.deepEqual(h.capabilities, b.capabilities)
      assert.deepEqual(h.kernel, await b.kernel())
      assert.deepEqual(h.files, ['guest-ram-0'])
      assert.deepEqual(h.attachments, [{ device: (await b.devices())[0].name, hwpt: 'vm1/hwpt' }])
      const areas = snap.ioas.find((x) => x.key === 'vm1')!.areas
      assert.deepEqual([...areas.iova], [0x1000000 >> PAGE_SHIFT, 0x2000000 >> PAGE_SHIFT])
      assert.deepEqual([...areas.file], [NO_FILE, 0])
      if (b.capabilities.leafView) {
        const leaves = snap.hwpts.find((x) => x.key === 'vm1/hwpt')!.leaves
        assert.equal(leaves.count, 8)
        if (b.capabilities.backing) assert.deepEqual([...leaves.offset!].slice(4), [2, 3, 4, 5])
        if (b.capabilities.physicalAddresses) assert.ok(leaves.pa!.every((p) => p > 0))
      }
      if (b.capabilities.configEntries) {
        assert.ok(h.config.length > 0)
        assert.ok(h.config.every((c) => Object.keys(c.fields).every((k) => /^[A-Z]+\./.test(k))))
      }
      if (b.capabilities.hardwareFaultCounters)
        assert.deepEqual([h.faults.hardware?.recorded, h.faults.hardware?.lost], [0, 0])
    })

    check('an automatic HWPT goes with its last device; a user HWPT stays until destroyed', async () => {
      const b = await factory()
      const { ioas, dev, hwpt } = await fixture(b)
      await b.deviceDetach(dev)
      assert.equal(await errnoOf(b.destroy(hwpt)), 'ENOENT')
      const user = await b.hwptAlloc(dev, ioas)
      await b.deviceAttach(dev, user)
      assert.equal(await errnoOf(b.destroy(user)), 'EBUSY')
      await b.deviceDetach(dev)
      await b.destroy(user)
      await b.destroy(ioas)
    })

    /** Each bad call: the kernel's errno, and a snapshot before and after that are equal. */
    async function expectErrno(b: IommufdBackend, call: () => Promise<unknown>, errno: Errno) {
      const at = { takenAt: '2026-01-01T00:00:00.000Z' }
      const before = encodeSnapshot(await b.snapshot(at))
      assert.equal(await errnoOf(call), errno)
      assert.deepEqual(encodeSnapshot(await b.snapshot(at)), before, 'a failed call changed the state')
    }

    describe('bad calls answer the kernel errno and change nothing (test/kernel/lane.test.ts)', () => {
      const cases: [
        string,
        Errno,
        (b: IommufdBackend, f: Awaited<ReturnType<typeof fixture>>) => Promise<unknown>,
      ][] = [
        ['unmap of a range never mapped', 'ENOENT', (b, f) => b.ioasUnmap(f.ioas, 0x2000000, PAGE)],
        ['unmap splitting a mapping', 'ENOENT', (b, f) => b.ioasUnmap(f.ioas, 0x1000000, PAGE)],
        ['unmap of an unknown IOAS', 'ENOENT', (b) => b.ioasUnmap(999, 0x1000000, PAGE)],
        [
          'map at a misaligned IOVA',
          'EINVAL',
          (b, f) => b.ioasMap(f.ioas, { iova: 0x1000001, length: PAGE }),
        ],
        [
          'map overlapping a mapping',
          'EEXIST',
          (b, f) => b.ioasMap(f.ioas, { iova: 0x1001000, length: PAGE }),
        ],
        ['map of length 0', 'EINVAL', (b, f) => b.ioasMap(f.ioas, { iova: 0x2000000, length: 0 })],
        [
          'map outside the device aperture',
          'EINVAL',
          async (b, f) => {
            const { ranges } = await b.ioasIovaRanges(f.ioas)
            const beyond = ranges[ranges.length - 1].last + 1n
            return b.ioasMap(f.ioas, { iova: Number(beyond), length: PAGE })
          },
        ],
        [
          'map straddling the aperture end',
          'EINVAL',
          async (b, f) => {
            const { ranges } = await b.ioasIovaRanges(f.ioas)
            const last = ranges[ranges.length - 1].last
            return b.ioasMap(f.ioas, { iova: Number(last + 1n) - PAGE, length: 2 * PAGE })
          },
        ],
        [
          'map with neither read nor write',
          'EINVAL',
          (b, f) => b.ioasMap(f.ioas, { iova: 0x2000000, length: PAGE, prot: { read: false, write: false } }),
        ],
        ['map into an unknown IOAS', 'ENOENT', (b) => b.ioasMap(999, { iova: 0x2000000, length: PAGE })],
        [
          'map_file of a bad fd',
          'EBADF',
          (b, f) => b.ioasMapFile(f.ioas, { fd: 999, start: 0, length: PAGE, iova: 0x2000000 }),
        ],
        [
          'map_file beyond the end of the file',
          'EINVAL',
          (b, f) => b.ioasMapFile(f.ioas, { fd: f.mfd.fd, start: 0, length: 2 * PAGE, iova: 0x2000000 }),
        ],
        [
          'copy from an unmapped source',
          'ENOENT',
          (b, f) => b.ioasCopy(f.ioas, f.ioas, 0x6000000, { length: PAGE, iova: 0x2000000 }),
        ],
        [
          'copy onto a mapped destination',
          'EEXIST',
          (b, f) => b.ioasCopy(f.ioas, f.ioas, 0x1000000, { length: 4 * PAGE, iova: 0x1000000 }),
        ],
        ['iova_ranges of an unknown IOAS', 'ENOENT', (b) => b.ioasIovaRanges(999)],
        ['destroy of an unknown id', 'ENOENT', (b) => b.destroy(999)],
        ['destroy of an IOAS a device is attached to', 'EBUSY', (b, f) => b.destroy(f.ioas)],
        ['hwpt_alloc for an unknown device', 'ENOENT', (b, f) => b.hwptAlloc(999, f.ioas)],
        ['hwpt_alloc from an unknown pt', 'EINVAL', (b, f) => b.hwptAlloc(f.dev, 999)],
        ['replace onto an unknown pt', 'ENOENT', (b, f) => b.deviceReplace(f.dev, 999)],
      ]
      for (const [what, errno, call] of cases)
        check(`${what}: ${errno}`, async () => {
          const b = await factory()
          const f = await fixture(b)
          await expectErrno(b, () => call(b, f), errno)
        })

      check('device attach to an unknown IOAS (mock device on an unknown IOAS): ENOENT', async () => {
        const b = await factory()
        const f = await fixture(b)
        const dev2 = await b.deviceBind(f.devs[1].name)
        await expectErrno(b, () => b.deviceAttach(dev2, 999), 'ENOENT')
      })

      if (opts.oracle) {
        const oracleCases: [
          string,
          Errno,
          (b: IommufdBackend, f: Awaited<ReturnType<typeof fixture>>) => Promise<unknown>,
        ][] = [
          [
            'MD_CHECK_MAP of an unmapped IOVA',
            'EINVAL',
            (b, f) => b.checkMap(f.hwpt, 0x2000000, PAGE, f.uptr),
          ],
          [
            'MD_CHECK_MAP against other pages',
            'EINVAL',
            (b, f) => b.checkMap(f.hwpt, 0x1000000, PAGE, f.uptr + PAGE),
          ],
          ['MD_CHECK_MAP of an unknown HWPT', 'ENOENT', (b, f) => b.checkMap(999, 0x1000000, PAGE, f.uptr)],
        ]
        for (const [what, errno, call] of oracleCases)
          check(`${what}: ${errno}`, async () => {
            const b = await factory()
            const f = await fixture(b)
            await expectErrno(b, () => call(b, f), errno)
          })
      }
    })

    describe('further bad calls (errnos from the kernel source; the lane does not pin these yet)', () => {
      const cases: [
        string,
        Errno,
        (b: IommufdBackend, f: Awaited<ReturnType<typeof fixture>>) => Promise<unknown>,
      ][] = [
        ['unmap of length 0', 'EINVAL', (b, f) => b.ioasUnmap(f.ioas, 0x1000000, 0)],
        [
          'copy of length 0',
          'EINVAL',
          (b, f) => b.ioasCopy(f.ioas, f.ioas, 0x1000000, { length: 0, iova: 0x2000000 }),
        ],
        [
          'copy into an unknown IOAS',
          'ENOENT',
          (b, f) => b.ioasCopy(999, f.ioas, 0x1000000, { length: PAGE, iova: 0x2000000 }),
        ],
        ['attach of an attached device', 'EINVAL', (b, f) => b.deviceAttach(f.dev, f.ioas)],
        ['destroy of an attached HWPT', 'EBUSY', (b, f) => b.destroy(f.hwpt)],
        [
          'map into the device reserved (MSI) window',
          'EINVAL',
          async (b, f) => {
            const { ranges } = await b.ioasIovaRanges(f.ioas)
            // The first hole between allowed ranges is a reserved region of the device.
            if (ranges.length < 2) return b.ioasMap(f.ioas, { iova: 0x1000001, length: PAGE })
            return b.ioasMap(f.ioas, { iova: Number(ranges[0].last + 1n), length: PAGE })
          },
        ],
        [
          'allow_iovas with overlapping ranges',
          'EINVAL',
          (b, f) =>
            b.ioasAllowIovas(f.ioas, [
              { start: 0x1000000n, last: 0x1ffffffn },
              { start: 0x1800000n, last: 0x2ffffffn },
            ]),
        ],
        [
          'allow_iovas over a reserved range',
          'EADDRINUSE',
          async (b, f) => {
            const { ranges } = await b.ioasIovaRanges(f.ioas)
            return b.ioasAllowIovas(f.ioas, [{ start: 0n, last: ranges[ranges.length - 1].last + 1n }])
          },
        ],
        [
          'map_file of a misaligned file offset',
          'EINVAL',
          (b, f) => b.ioasMapFile(f.ioas, { fd: f.mfd.fd, start: 1, length: PAGE, iova: 0x2000000 }),
        ],
      ]
      for (const [what, errno, call] of cases)
        check(`${what}: ${errno}`, async () => {
          const b = await factory()
          const f = await fixture(b)
          await expectErrno(b, () => call(b, f), errno)
        })
    })
  })
}
