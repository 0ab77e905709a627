// The real-kernel lane: a real Linux (Debian's linux-source-7.*, built by scripts/kernel/lane.sh)
// in QEMU, the iommufd selftest mock as the IOMMU, LUO to carry a blob across a real kexec.
// Run through `npm run test:kernel` (which builds the kernel and sets HITLESS_KERNEL_DIR);
// without it every test here is skipped with the reason.
//
// One QEMU run serves all tests, in order: boot → iommufd smoke → errno of bad calls → record an
// IOAS backed by memfds, put the recording in a LUO-preserved memfd, kexec → in the new kernel
// retrieve it, replay it, verify it against the recording and with the mock's MD_CHECK_MAP oracle.
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { type HelperOk, big, num, parseRanges } from '../../packages/real-iommufd/src/helper-protocol.js'
import { QemuGuest } from '../../packages/real-iommufd/src/qemu-guest.js'
import { kernelDir, retryOncePastKernelPanic, skipReason, startGuest } from './kernel-lane-env.js'

const dir = kernelDir
const skip = skipReason

/** What the first kernel records and carries across the kexec (JSON in a LUO-preserved memfd). */
interface Recording {
  format: 'hitless-replay-v1'
  kernelRelease: string
  /** IOMMU_IOAS_IOVA_RANGES of the IOAS with its mock device attached. */
  iovaRanges: { alignment: string; ranges: string }
  /** The memfds backing the mappings, by LUO token: size, contents hash, frame of the first page. */
  memfds: { token: number; size: number; fnv1a: string; pfn0: string }[]
  mappings: { iova: number; length: number; token: number; start: number; prot: 'rw' | 'r' }[]
}

const BLOB_TOKEN = 0
const SESSION = 'hitless'
const PAGE = 0x1000

const toHex = (s: string) => Buffer.from(s, 'utf8').toString('hex')
const fromHex = (h: string) => Buffer.from(h, 'hex').toString('utf8')

describe('real kernel lane (QEMU, iommufd mock, LUO, kexec)', { skip }, () => {
  let guest: QemuGuest
  const timings: Record<string, number> = {}
  const runStarted = Date.now()
  let firstBoot: HelperOk

  before(async () => {
    const started = await QemuGuest.start({
      kernel: join(dir!, 'bzImage'),
      initramfs: join(dir!, 'initramfs.cpio.gz'),
      workDir: join(dir!, 'qemu'),
      runTimeoutMs: 300_000,
    })
    guest = started.guest
    timings.bootHostMs = started.timings.bootMs
    timings.bootGuestUptimeMs = started.timings.guestUptimeMs
    firstBoot = await guest.call('ping')
  })

  after(async () => {
    await guest?.close()
    timings.qemuRunHostMs = Date.now() - runStarted
    const line = Object.entries(timings)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')
    console.log(`kernel lane timings: ${line}`)
    if (dir) writeFileSync(join(dir, 'timings.json'), JSON.stringify(timings, null, 2) + '\n')
  })

  test('the guest runs the helper on /dev/iommu and /dev/liveupdate', () => {
    assert.equal(firstBoot.values.gen, '1')
    assert.notEqual(firstBoot.values.iommufd_fd, '-1', 'helper could not open /dev/iommu')
    assert.equal(firstBoot.values.liveupdate, 'yes', '/dev/liveupdate missing (liveupdate=on? LIVEUPDATE=y?)')
    const lane = JSON.parse(readFileSync(join(dir!, 'lane.json'), 'utf8')) as { kernelRelease: string }
    assert.equal(firstBoot.values.release, lane.kernelRelease)
  })

  test('iommufd smoke: alloc, map, map_file, copy, iova ranges, HWPT alloc and replace, unmap, destroy', async () => {
    const ioas = num(await guest.call('ioas_alloc'), 'id')
    const open = await guest.call('ioas_iova_ranges', ioas)
    assert.deepEqual(parseRanges(open.values.ranges), [{ start: 0n, last: 0xffffffffffffffffn }])
    const dev = await guest.call('mock_domain', ioas)
    const hwpt = num(dev, 'hwpt')
    // The mock device narrows the IOAS to its aperture [1<<24, (1<<31)-1], 2 KiB pages.
    const narrowed = await guest.call('ioas_iova_ranges', ioas)
    assert.deepEqual(parseRanges(narrowed.values.ranges), [{ start: 0x1000000n, last: 0x7fffffffn }])
    assert.equal(big(narrowed, 'alignment'), 0x800n)

    const anon = await guest.call('ioas_map', ioas, 0x1000000, 4 * PAGE)
    assert.equal(num(anon, 'iova'), 0x1000000)
    await guest.call('md_check_map', hwpt, 0x1000000, 4 * PAGE, num(anon, 'uptr'))

    const auto = await guest.call('ioas_map', ioas, 'auto', PAGE)
    const autoIova = num(auto, 'iova')
    assert.ok(autoIova >= 0x1000000 && autoIova + PAGE - 1 <= 0x7fffffff && autoIova % 0x800 === 0)
    await guest.call('md_check_map', hwpt, autoIova, PAGE, num(auto, 'uptr'))

    const mfd = await guest.call('memfd_create', 'smoke', 4 * PAGE)
    await guest.call('mem_fill', num(mfd, 'uptr'), 4 * PAGE, 7)
    const fileMap = await guest.call(
      'ioas_map_file',
      ioas,
      num(mfd, 'fd'),
      PAGE,
      2 * PAGE,
      0x3000000,
      'prot=r',
    )
    assert.equal(num(fileMap, 'iova'), 0x3000000)
    await guest.call('md_check_map', hwpt, 0x3000000, 2 * PAGE, num(mfd, 'uptr') + PAGE)

    // IOAS_COPY shares the pages: the second mock domain maps the same physical pages.
    const ioas2 = num(await guest.call('ioas_alloc'), 'id')
    const dev2 = await guest.call('mock_domain', ioas2)
    await guest.call('ioas_copy', ioas2, ioas, 0x1000000, 4 * PAGE, 0x5000000)
    await guest.call('md_check_map', num(dev2, 'hwpt'), 0x5000000, 4 * PAGE, num(anon, 'uptr'))

    // A new HWPT from the IOAS, the device replaced onto it (no detach in between). The HWPT the
    // kernel made automatically at attach goes away with its last device: its id is gone.
    const hwpt2 = num(await guest.call('hwpt_alloc', num(dev, 'idev'), ioas), 'id')
    const replaced = await guest.call('mock_domain_replace', num(dev, 'stdev'), hwpt2)
    assert.equal(num(replaced, 'pt'), hwpt2)
    await guest.call('md_check_map', hwpt2, 0x1000000, 4 * PAGE, num(anon, 'uptr'))
    assert.equal(await guest.fails('md_check_map', hwpt, 0x1000000, 4 * PAGE, num(anon, 'uptr')), 'ENOENT')
    assert.equal(await guest.fails('mock_domain_replace', num(dev, 'stdev'), hwpt), 'ENOENT')
    // Replacing onto the IOAS again makes a fresh automatic HWPT (iommufd reuses freed ids, so it
    // may well get the old number back: ids name objects, not histories).
    const back = num(await guest.call('mock_domain_replace', num(dev, 'stdev'), ioas), 'pt')
    assert.notEqual(back, hwpt2)
    await guest.call('md_check_map', back, 0x3000000, 2 * PAGE, num(mfd, 'uptr') + PAGE)
    // A user-allocated HWPT outlives its last device and must be destroyed explicitly.
    await guest.call('destroy', hwpt2)

    // Unmap exactly what was mapped; the oracle then sees nothing there.
    assert.equal(num(await guest.call('ioas_unmap', ioas, 0x1000000, 4 * PAGE), 'length'), 4 * PAGE)
    assert.equal(await guest.fails('md_check_map', back, 0x1000000, PAGE, num(anon, 'uptr')), 'EINVAL')
    // 0..U64_MAX unmaps everything left.
    const all = await guest.call('ioas_unmap', ioas, 0, 0xffffffffffffffffn)
    assert.equal(num(all, 'length'), PAGE + 2 * PAGE)

    await guest.call('destroy', num(dev2, 'stdev'))
    await guest.call('destroy', num(dev, 'stdev'))
    await guest.call('destroy', ioas2)
    await guest.call('destroy', ioas)
    await guest.call('close', num(mfd, 'fd'))
  })

  test('bad calls answer the kernel errno (what the emulated backends must match)', async () => {
    const ioas = num(await guest.call('ioas_alloc'), 'id')
    const dev = await guest.call('mock_domain', ioas)
    const hwpt = num(dev, 'hwpt')
    const mapped = await guest.call('ioas_map', ioas, 0x1000000, 4 * PAGE)
    const uptr = num(mapped, 'uptr')
    const mfd = await guest.call('memfd_create', 'errors', PAGE)
    const errnos: Record<string, string> = {
      'unmap of a range never mapped': await guest.fails('ioas_unmap', ioas, 0x2000000, PAGE),
      'unmap splitting a mapping': await guest.fails('ioas_unmap', ioas, 0x1000000, PAGE),
      'unmap of an unknown IOAS': await guest.fails('ioas_unmap', 999, 0x1000000, PAGE),
      'map at a misaligned IOVA': await guest.fails('ioas_map', ioas, 0x1000001, PAGE),
      'map overlapping a mapping': await guest.fails('ioas_map', ioas, 0x1001000, PAGE),
      'map of length 0': await guest.fails('ioas_map', ioas, 0x2000000, 0),
      'map outside the device aperture': await guest.fails('ioas_map', ioas, 0x100000000, PAGE),
      'map straddling the aperture end': await guest.fails('ioas_map', ioas, 0x7ffff000, 2 * PAGE),
      'map with neither read nor write': await guest.fails('ioas_map', ioas, 0x2000000, PAGE, 'prot=-'),
      'map into an unknown IOAS': await guest.fails('ioas_map', 999, 0x2000000, PAGE),
      'map_file of a bad fd': await guest.fails('ioas_map_file', ioas, 999, 0, PAGE, 0x2000000),
      'map_file beyond the end of the file': await guest.fails(
        'ioas_map_file',
        ioas,
        num(mfd, 'fd'),
        0,
        2 * PAGE,
        0x2000000,
      ),
      'copy from an unmapped source': await guest.fails('ioas_copy', ioas, ioas, 0x6000000, PAGE, 0x2000000),
      'copy onto a mapped destination': await guest.fails(
        'ioas_copy',
        ioas,
        ioas,
        0x1000000,
        4 * PAGE,
        0x1000000,
      ),
      'iova_ranges of an unknown IOAS': await guest.fails('ioas_iova_ranges', 999),
      'destroy of an unknown id': await guest.fails('destroy', 999),
      'destroy of an IOAS a device is attached to': await guest.fails('destroy', ioas),
      'hwpt_alloc for an unknown device': await guest.fails('hwpt_alloc', 999, ioas),
      'hwpt_alloc from an unknown pt': await guest.fails('hwpt_alloc', num(dev, 'idev'), 999),
      'replace onto an unknown pt': await guest.fails('mock_domain_replace', num(dev, 'stdev'), 999),
      'mock device on an unknown IOAS': await guest.fails('mock_domain', 999),
      'MD_CHECK_MAP of an unmapped IOVA': await guest.fails('md_check_map', hwpt, 0x2000000, PAGE, uptr),
      'MD_CHECK_MAP against other pages': await guest.fails(
        'md_check_map',
        hwpt,
        0x1000000,
        PAGE,
        uptr + PAGE,
      ),
      'MD_CHECK_MAP of an unknown HWPT': await guest.fails('md_check_map', 999, 0x1000000, PAGE, uptr),
      'LUO retrieve_session before any kexec': await guest.fails('luo_retrieve_session', 'nothing-here'),
      'LUO preserve of a bad fd': await guest.fails('luo_preserve', 999, num(mfd, 'fd'), 1),
      'kexec_reboot with no image loaded': await guest.fails('kexec_reboot'),
    }
    console.log(`kernel errnos: ${JSON.stringify(errnos, null, 1)}`)
    assert.deepEqual(errnos, {
      'unmap of a range never mapped': 'ENOENT',
      'unmap splitting a mapping': 'ENOENT',
      'unmap of an unknown IOAS': 'ENOENT',
      'map at a misaligned IOVA': 'EINVAL',
      'map overlapping a mapping': 'EEXIST',
      'map of length 0': 'EINVAL',
      'map outside the device aperture': 'EINVAL',
      'map straddling the aperture end': 'EINVAL',
      'map with neither read nor write': 'EINVAL',
      'map into an unknown IOAS': 'ENOENT',
      'map_file of a bad fd': 'EBADF',
      'map_file beyond the end of the file': 'EINVAL',
      'copy from an unmapped source': 'ENOENT',
      'copy onto a mapped destination': 'EEXIST',
      'iova_ranges of an unknown IOAS': 'ENOENT',
      'destroy of an unknown id': 'ENOENT',
      'destroy of an IOAS a device is attached to': 'EBUSY',
      'hwpt_alloc for an unknown device': 'ENOENT',
      'hwpt_alloc from an unknown pt': 'EINVAL',
      'replace onto an unknown pt': 'ENOENT',
      'mock device on an unknown IOAS': 'ENOENT',
      'MD_CHECK_MAP of an unmapped IOVA': 'EINVAL',
      'MD_CHECK_MAP against other pages': 'EINVAL',
      'MD_CHECK_MAP of an unknown HWPT': 'ENOENT',
      'LUO retrieve_session before any kexec': 'ENOENT',
      'LUO preserve of a bad fd': 'EBADF',
      'kexec_reboot with no image loaded': 'ENOEXEC',
    })
    await guest.call('ioas_unmap', ioas, 0, 0xffffffffffffffffn)
    await guest.call('destroy', num(dev, 'stdev'))
    await guest.call('destroy', ioas)
    await guest.call('close', num(mfd, 'fd'))
  })

  test('live update: record an IOAS, carry it in LUO across a real kexec, replay and verify it', async () => {
    const retries = await retryOncePastKernelPanic(kexecRoundTrip, async () => {
      await guest.close()
      const started = await startGuest('retry')
      guest = started.guest
      firstBoot = await guest.call('ping')
    })
    if (retries) timings.kexecPanicRetries = retries
  })

  async function kexecRoundTrip(): Promise<void> {
    // ---- generation 1: build the state to carry ----
    const ioas = num(await guest.call('ioas_alloc'), 'id')
    const dev = await guest.call('mock_domain', ioas)
    const sizes = [16 * PAGE, 8 * PAGE, 32 * PAGE]
    const memfds: { fd: number; uptr: number; size: number; token: number }[] = []
    for (const [i, size] of sizes.entries()) {
      const m = await guest.call('memfd_create', `guest-ram-${i}`, size)
      await guest.call('mem_fill', num(m, 'uptr'), size, 1000 + i)
      memfds.push({ fd: num(m, 'fd'), uptr: num(m, 'uptr'), size, token: i + 1 })
    }
    const plan: Recording['mappings'] = [
      { iova: 0x1000000, length: 16 * PAGE, token: 1, start: 0, prot: 'rw' },
      { iova: 0x1100000, length: 4 * PAGE, token: 2, start: 4 * PAGE, prot: 'rw' },
      { iova: 0x1200000, length: 32 * PAGE, token: 3, start: 0, prot: 'r' },
      { iova: 0x1300000, length: 2 * PAGE, token: 1, start: 2 * PAGE, prot: 'rw' },
    ]
    for (const m of plan) {
      const f = memfds[m.token - 1]
      const r = await guest.call('ioas_map_file', ioas, f.fd, m.start, m.length, m.iova, `prot=${m.prot}`)
      assert.equal(num(r, 'iova'), m.iova)
      await guest.call('md_check_map', num(dev, 'hwpt'), m.iova, m.length, f.uptr + m.start)
    }
    const ranges = await guest.call('ioas_iova_ranges', ioas)
    const recording: Recording = {
      format: 'hitless-replay-v1',
      kernelRelease: firstBoot.values.release,
      iovaRanges: { alignment: ranges.values.alignment, ranges: ranges.values.ranges },
      memfds: [],
      mappings: plan,
    }
    for (const f of memfds) {
      const h = await guest.call('mem_hash', f.uptr, f.size)
      const pfn = await guest.call('pfn', f.uptr)
      recording.memfds.push({ token: f.token, size: f.size, fnv1a: h.values.fnv1a, pfn0: pfn.values.pfn })
    }

    // ---- the handover blob, in a memfd preserved by LUO together with the backing memfds ----
    const blob = JSON.stringify(recording)
    const blobFd = await guest.call('memfd_create', 'hitless-blob', blob.length)
    await guest.call('fd_write', num(blobFd, 'fd'), 0, toHex(blob))
    const session = num(await guest.call('luo_create_session', SESSION), 'fd')
    await guest.call('luo_preserve', session, num(blobFd, 'fd'), BLOB_TOKEN)
    for (const f of memfds) await guest.call('luo_preserve', session, f.fd, f.token)
    // What userspace can honestly say today: LUO does not preserve an iommufd.
    const iommufdFd = Number(firstBoot.values.iommufd_fd)
    const refused = await guest.fails('luo_preserve', session, iommufdFd, 99)
    console.log(`LUO preserve of the iommufd itself: ${refused} (no kernel preserves iommufd state yet)`)
    assert.ok(['ENOENT', 'EOPNOTSUPP', 'EINVAL', 'EBADF'].includes(refused))

    // ---- kexec for real: kexec_file_load of the same kernel, then reboot(LINUX_REBOOT_CMD_KEXEC) ----
    const load = await guest.call('kexec_load')
    timings.kexecLoadGuestMs = num(load, 'ms')
    timings.kexecInitrdBytes = num(load, 'initrd_bytes')
    const kexecStarted = Date.now()
    await guest.call('kexec_reboot')
    const second = await guest.waitForGeneration(2, 120_000)
    timings.kexecToReadyHostMs = Date.now() - kexecStarted
    timings.secondBootGuestUptimeMs = num(second, 'uptime_ms')
    assert.equal(second.values.release, recording.kernelRelease)
    assert.match(guest.console(), /iommufd-helper: generation 2 ready/)

    // ---- generation 2: retrieve the blob and the memfds ----
    const replayStarted = Date.now()
    const s2 = num(await guest.call('luo_retrieve_session', SESSION), 'fd')
    const b2 = num(await guest.call('luo_retrieve_fd', s2, BLOB_TOKEN), 'fd')
    const size = num(await guest.call('fd_size', b2), 'size')
    assert.equal(size, blob.length)
    const carried = JSON.parse(fromHex((await guest.call('fd_read', b2, 0, size)).values.hex)) as Recording
    assert.deepEqual(carried, recording, 'the blob read back after kexec differs from the one written')

    const fds = new Map<number, { fd: number; uptr: number }>()
    const observedMemfds: Recording['memfds'] = []
    for (const m of carried.memfds) {
      const fd = num(await guest.call('luo_retrieve_fd', s2, m.token), 'fd')
      const sz = num(await guest.call('fd_size', fd), 'size')
      const uptr = num(await guest.call('mmap', fd, 0, sz), 'uptr')
      fds.set(m.token, { fd, uptr })
      const h = await guest.call('mem_hash', uptr, sz)
      const pfn = await guest.call('pfn', uptr)
      observedMemfds.push({ token: m.token, size: sz, fnv1a: h.values.fnv1a, pfn0: pfn.values.pfn })
    }

    // ---- replay the recorded ioctls into a fresh IOAS with a fresh mock device ----
    const ioas2 = num(await guest.call('ioas_alloc'), 'id')
    const dev2 = await guest.call('mock_domain', ioas2)
    const replayed: Recording['mappings'] = []
    for (const m of carried.mappings) {
      const f = fds.get(m.token)!
      const r = await guest.call('ioas_map_file', ioas2, f.fd, m.start, m.length, m.iova, `prot=${m.prot}`)
      replayed.push({ ...m, iova: num(r, 'iova') })
    }
    const ranges2 = await guest.call('ioas_iova_ranges', ioas2)

    // Verified against the recording: what the kernel reports back equals what was recorded.
    const snapshot: Recording = {
      format: 'hitless-replay-v1',
      kernelRelease: second.values.release,
      iovaRanges: { alignment: ranges2.values.alignment, ranges: ranges2.values.ranges },
      memfds: observedMemfds,
      mappings: replayed,
    }
    assert.deepEqual(snapshot, carried, 'replayed state differs from the recorded state')

    // Verified with the oracle: the mock "hardware" domain maps every IOVA to the preserved page,
    // and nothing in the gaps between mappings.
    for (const m of carried.mappings) {
      await guest.call('md_check_map', num(dev2, 'hwpt'), m.iova, m.length, fds.get(m.token)!.uptr + m.start)
      const gap = m.iova + m.length
      if (!carried.mappings.some((o) => o.iova <= gap && gap < o.iova + o.length)) {
        assert.equal(
          await guest.fails('md_check_map', num(dev2, 'hwpt'), gap, 0x800, fds.get(m.token)!.uptr),
          'EINVAL',
        )
      }
    }
    timings.replayVerifyHostMs = Date.now() - replayStarted

    // Done with the handover: FINISH gives the preserved files back to the kernel's normal rules.
    await guest.call('luo_finish', s2)
    console.log(
      `live update: ${carried.mappings.length} mappings over ${carried.memfds.length} memfds replayed and verified after kexec ` +
        `(first-page frames ${recording.memfds.map((m) => m.pfn0).join(',')} kept in place: ` +
        `${observedMemfds.every((m, i) => m.pfn0 === recording.memfds[i].pfn0)})`,
    )
  }
})
