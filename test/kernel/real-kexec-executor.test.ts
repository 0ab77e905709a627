// The host agent's real kexec executor (@hitless/live-update RealKexecExecutor) on the real kernel:
// its LUO port and its loader are the static helper's (packages/real-iommufd/src/kexec), the same
// ports a real host uses for LUO. The executor preserves the handover under its name in a LUO
// session, stages the next kernel, reboots with the session's holder alive; the new kernel's agent
// finds the bytes again by the same name. The real rules are checked on the real kernel: one
// opener of /dev/liveupdate, nothing preserved without a session, a staged kernel first.
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { HANDOVER_NAME } from '../../packages/live-update/src/kexec/kexec-executor.js'
import {
  RealKexecExecutor,
  retrievePreserved,
} from '../../packages/live-update/src/kexec/real-kexec-executor.js'
import { isHitlessError } from '../../packages/protocol/src/index.js'
import { decodeText } from '../../packages/real-iommufd/src/helper-protocol.js'
import {
  GUEST_KEXEC_IMAGE,
  helperKexecHost,
  helperKexecLoader,
  helperLuo,
} from '../../packages/real-iommufd/src/kexec/helper-kexec-ports.js'
import type { QemuGuest } from '../../packages/real-iommufd/src/qemu-guest.js'
import { kernelDir, retryOncePastKernelPanic, skipReason, startGuest } from './kernel-lane-env.js'

const SESSION = 'hitless-exec'
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')

/** A handover-sized blob (1.25 MiB: more than one 512 KiB chunk each way), seeded. */
function blob(): Uint8Array {
  const b = new Uint8Array(1_310_720 + 17)
  let x = 0x9e3779b9
  for (let i = 0; i < b.length; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    b[i] = x & 0xff
  }
  return b
}

describe('the real kexec executor on the real kernel: LUO through the helper, kexec, retrieve', {
  skip: skipReason,
}, () => {
  let guest: QemuGuest
  const timings: Record<string, number> = {}
  const bytes = blob()

  const executor = () =>
    new RealKexecExecutor({
      host: helperKexecHost(guest),
      loader: helperKexecLoader(guest),
      luo: helperLuo(guest),
      session: SESSION,
    })

  before(async () => {
    guest = (await startGuest('real-kexec-executor')).guest
  })

  after(async () => {
    await guest?.close()
    console.log(`real kexec executor timings: ${JSON.stringify(timings)}`)
    if (kernelDir)
      writeFileSync(
        join(kernelDir, 'real-kexec-executor-timings.json'),
        `${JSON.stringify(timings, null, 2)}\n`,
      )
  })

  test('refusals before anything irreversible: no staged kernel, a target the guest cannot load', async () => {
    const ex = executor()
    await assert.rejects(ex.reboot(), (e) => isHitlessError(e) && e.details?.check === 'not-staged')
    await assert.rejects(
      ex.stage({ image: '/boot/vmlinuz-other', cmdline: '' }),
      /can kexec only \/kexec\/bzImage/,
    )
    // Nothing was loaded: the helper's own reboot refuses (ENOEXEC: no kexec image loaded).
    assert.equal(await guest.fails('kexec_reboot'), 'ENOEXEC')
  })

  test('preserve, stage, reboot with the session held; the new kernel gives the bytes back by name', async () => {
    const retries = await retryOncePastKernelPanic(
      async () => {
        const ex = executor()
        let t = Date.now()
        await ex.preserve(HANDOVER_NAME, bytes)
        timings.preserveMs = Date.now() - t
        const fds = ex.fds
        assert.ok(fds.liveupdate !== undefined && fds.session !== undefined, 'both fds held')
        // The kernel's rule, for real: /dev/liveupdate has a single opener, and the helper holds it.
        assert.equal(await guest.fails('read_file', '/dev/liveupdate'), 'EBUSY')

        t = Date.now()
        await ex.stage({ image: GUEST_KEXEC_IMAGE, cmdline: 'hitless.executor=1' })
        timings.stageMs = Date.now() - t
        t = Date.now()
        await ex.reboot()
        await guest.waitForGeneration(2, 120_000)
        timings.rebootToReadyMs = Date.now() - t
      },
      async () => {
        await guest.close()
        guest = (await startGuest('real-kexec-executor-retry')).guest
      },
    )
    if (retries) timings.kexecPanicRetries = retries

    const cmdline = decodeText((await guest.call('read_file', '/proc/cmdline')).values.text)
    assert.match(cmdline, /hitless\.executor=1/, 'the staged command line is the one booted')

    const t = Date.now()
    const luo = helperLuo(guest)
    const session = await retrievePreserved(luo, SESSION)
    const got = await session.get(HANDOVER_NAME)
    timings.retrieveMs = Date.now() - t
    assert.equal(got.length, bytes.length)
    assert.equal(sha(got), sha(bytes), 'the same bytes, byte for byte')
    await assert.rejects(
      session.get('never-preserved'),
      (e) => isHitlessError(e) && e.details?.check === 'luo-file' && /ENOENT/.test(e.message),
    )
    // The kernel's rule: a session is retrieved once per boot.
    await assert.rejects(
      retrievePreserved(luo, SESSION),
      (e) => isHitlessError(e) && e.details?.check === 'luo-session' && /EINVAL/.test(e.message),
    )
    await session.finish()
  })

  test('a session that was not preserved across this kexec is refused by name', async () => {
    await assert.rejects(
      retrievePreserved(helperLuo(guest), 'no-such-session'),
      (e) => isHitlessError(e) && e.details?.check === 'luo-session' && /ENOENT/.test(e.message),
    )
  })
})
