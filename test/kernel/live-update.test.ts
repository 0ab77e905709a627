// A real live update through the real backend, judged by the verifier.
//
// Generation 1 (the first kernel): RealIommufdBackend builds an IOAS of memfd mappings with a mock
// device attached, takes the `pre` snapshot, records the IOAS into a handover blob, and LUO
// preserves the blob and the memfds. kexec_file_load + reboot(KEXEC), with every fd held open.
// Generation 2 (the new kernel): LUO gives the blob and the memfds back; the IOAS is replayed in a
// fresh context and verified against the record and with MD_CHECK_MAP; the `post` snapshot goes
// to @hitless/verify with the `pre` one. No kernel preserves iommufd state or can show DMA
// continuity, so a correct update is `consistent`, never `hitless`. Then the replay is done again
// with `drop-mapping` injected, and the verdict must be `diverged`.
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { decodeSnapshot, encodeSnapshot, type Snapshot } from '@hitless/protocol'
import { MockDevices } from '../../packages/real-iommufd/src/devices/mock-devices.js'
import { retrieveSession, preserveInSession } from '../../packages/real-iommufd/src/handover/luo-session.js'
import {
  decodeHandover,
  encodeHandover,
  type RealHandover,
} from '../../packages/real-iommufd/src/handover/real-handover.js'
import { recordHandover, replayAndVerify } from '../../packages/real-iommufd/src/handover/replay-verify.js'
import { num } from '../../packages/real-iommufd/src/helper-protocol.js'
import type { QemuGuest } from '../../packages/real-iommufd/src/qemu-guest.js'
import { RealIommufdBackend } from '../../packages/real-iommufd/src/real-iommufd-backend.js'
import { verifySnapshots } from '../../packages/verify/src/verify-snapshots.js'
import { kernelDir, retryOncePastKernelPanic, skipReason, startGuest } from './kernel-lane-env.js'

const PAGE = 0x1000
const SESSION = 'hitless-real'

/** What the host verifier gets: the snapshot as bytes on the wire, decoded again. */
const wire = (s: Snapshot) => decodeSnapshot(encodeSnapshot(s))

describe('live update on the real kernel: record, LUO, kexec, replay, verify, verdict', {
  skip: skipReason,
}, () => {
  let guest: QemuGuest
  const timings: Record<string, number> = {}
  let release = ''
  let pre: Snapshot
  let handover: RealHandover
  let session: Awaited<ReturnType<typeof retrieveSession>>
  const fds = new Map<number, number>()

  before(async () => {
    const started = await startGuest('live-update')
    guest = started.guest
    timings.bootHostMs = started.timings.bootMs
    release = (await guest.call('ping')).values.release
  })

  after(async () => {
    await guest?.close()
    console.log(`live update timings: ${JSON.stringify(timings)}`)
    if (kernelDir)
      writeFileSync(join(kernelDir, 'live-update-timings.json'), JSON.stringify(timings, null, 2) + '\n')
  })

  test('generation 1: an IOAS of memfd mappings, the pre snapshot, the record in LUO, kexec', async () => {
    const retries = await retryOncePastKernelPanic(generationOne, async () => {
      await guest.close()
      const started = await startGuest('live-update-retry')
      guest = started.guest
      release = (await guest.call('ping')).values.release
    })
    if (retries) timings.kexecPanicRetries = retries
  })

  async function generationOne(): Promise<void> {
    const b = new RealIommufdBackend({ helper: guest, devices: new MockDevices(guest) })
    const memfds = []
    for (const [i, pages] of [16, 8, 32].entries()) {
      const m = await b.memfdCreate(`guest-ram-${i}`, pages * PAGE, `guest-ram-${i}`)
      await guest.call('mem_fill', m.uptr, pages * PAGE, 1000 + i)
      memfds.push(m)
    }
    const ioas = await b.ioasAlloc()
    b.label(ioas, 'vm1')
    const dev = await b.deviceBind('mock:0')
    const hwpt = await b.deviceAttach(dev, ioas)
    b.label(hwpt, 'vm1/hwpt')
    const R = { read: true, write: false }
    await b.ioasMapFile(ioas, { fd: memfds[0].fd, start: 0, length: 16 * PAGE, iova: 0x1000000 })
    await b.ioasMapFile(ioas, { fd: memfds[1].fd, start: 4 * PAGE, length: 4 * PAGE, iova: 0x1100000 })
    await b.ioasMapFile(ioas, { fd: memfds[2].fd, start: 0, length: 32 * PAGE, iova: 0x1200000, prot: R })
    await b.ioasMapFile(ioas, { fd: memfds[0].fd, start: 2 * PAGE, length: 2 * PAGE, iova: 0x1300000 })

    let t = Date.now()
    pre = await b.snapshot({ phase: 'pre' })
    timings.preSnapshotMs = Date.now() - t
    assert.equal(pre.hwpts[0].leaves.count, 16 + 4 + 32 + 2, 'the oracle confirms every recorded page')
    assert.deepEqual(pre.header.capabilities, {
      leafView: true,
      physicalAddresses: false,
      backing: true,
      configEntries: false,
      hardwareFaultCounters: false,
      groundTruthFaults: false,
      dmaContinuity: false,
    })

    const rec = await recordHandover(b, guest, { ioasId: ioas, hwptId: hwpt })
    handover = rec.handover
    assert.equal(handover.ioas.mappings.length, 4)
    const { sessionFd } = await preserveInSession(guest, SESSION, encodeHandover(handover), rec.memfds)
    // What no kernel can do yet: LUO refuses to preserve the iommufd itself.
    const iommufdFd = Number((await guest.call('ping')).values.iommufd_fd)
    assert.equal(await guest.fails('luo_preserve', sessionFd, iommufdFd, 99), 'ENOENT')

    t = Date.now()
    const load = await guest.call('kexec_load')
    timings.kexecLoadGuestMs = num(load, 'ms')
    await guest.call('kexec_reboot')
    const second = await guest.waitForGeneration(2, 120_000)
    timings.kexecToReadyHostMs = Date.now() - t
    assert.equal(second.values.release, release)
  }

  test('generation 2: LUO gives back the blob and the memfds', async () => {
    const t = Date.now()
    session = await retrieveSession(guest, SESSION)
    assert.deepEqual(decodeHandover(session.blob), handover)
    for (const m of handover.memfds) fds.set(m.luoToken, await session.retrieveFd(m.luoToken))
    timings.retrieveMs = Date.now() - t
  })

  test('a correct replay verifies against the record and the oracle, and the verdict is consistent', async () => {
    const b = new RealIommufdBackend({ helper: guest, devices: new MockDevices(guest) })
    const report = await replayAndVerify(b, guest, handover, fds)
    timings.replayVerifyMs = report.ms
    assert.deepEqual(report.againstRecord, [])
    assert.deepEqual(report.oracle, [])
    assert.equal(report.replayed, 4)

    let t = Date.now()
    const post = await b.snapshot({ phase: 'post' })
    timings.postSnapshotMs = Date.now() - t
    assert.notEqual(post.header.kernel.bootId, pre.header.kernel.bootId, 'a new boot after the kexec')
    t = Date.now()
    const v = verifySnapshots(wire(pre), wire(post), { targetKernel: release })
    timings.verifyMs = Date.now() - t
    console.log(`verdict (correct replay): ${v.verdict}\n  ${v.reasons.join('\n  ')}`)
    assert.equal(v.verdict, 'consistent', v.reasons.join('; '))
    assert.ok(v.reasons.some((r) => r.startsWith('not observed: configuration entries')))
    assert.ok(v.reasons.some((r) => r.startsWith('not observed: faults between the snapshots')))
    assert.equal(v.diff.leafViews['vm1/hwpt']?.path, 'equal-root', 'equal leaf views: equal Merkle roots')
  })

  test('drop-mapping injected into the replay: verification sees it, and the verdict is diverged', async () => {
    await guest.call('iommufd_reopen') // a fresh context in the same new kernel, memfds kept
    const b = new RealIommufdBackend({ helper: guest, devices: new MockDevices(guest) })
    const report = await replayAndVerify(b, guest, handover, fds, { inject: 'drop-mapping' })
    assert.equal(report.replayed, 3)
    assert.deepEqual(report.againstRecord, [
      'mapping 0x1300000+0x2000 rw guest-ram-0@0x2000 recorded, missing now',
    ])
    assert.equal(report.oracle.length, 1)
    assert.match(report.oracle[0], /^MD_CHECK_MAP 0x1300000\+0x2000: .*EINVAL/)

    const post = await b.snapshot({ phase: 'post' })
    const v = verifySnapshots(wire(pre), wire(post), { targetKernel: release })
    console.log(`verdict (drop-mapping): ${v.verdict}\n  ${v.reasons.join('\n  ')}`)
    assert.equal(v.verdict, 'diverged')
    assert.ok(v.reasons.some((r) => r.startsWith('area.missing')))
    assert.ok(v.reasons.some((r) => r.startsWith('leaf.missing')))
    await session.finish()
  })
})
