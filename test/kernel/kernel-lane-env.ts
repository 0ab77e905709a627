// What every real-kernel test file shares: where the lane's build is, why the tests skip without
// it, and how a guest is started (bounded: QEMU is killed after runTimeoutMs whatever happens).
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { QemuGuest } from '../../packages/real-iommufd/src/qemu-guest.js'

export const kernelDir = process.env.HITLESS_KERNEL_DIR

/** Why the real-kernel tests cannot run here, or false when they can. */
export const skipReason: string | false = !kernelDir
  ? 'HITLESS_KERNEL_DIR is not set: the real-kernel lane runs through `npm run test:kernel`'
  : !existsSync(join(kernelDir, 'bzImage')) || !existsSync(join(kernelDir, 'initramfs.cpio.gz'))
    ? `no kernel built in ${kernelDir} (bzImage, initramfs.cpio.gz): run \`npm run test:kernel\``
    : false

/** Boots the lane's kernel with the helper as /init; the console goes to <run>/qemu-<name>/console.log. */
export async function startGuest(name: string, runTimeoutMs = 300_000) {
  return QemuGuest.start({
    kernel: join(kernelDir!, 'bzImage'),
    initramfs: join(kernelDir!, 'initramfs.cpio.gz'),
    workDir: join(kernelDir!, `qemu-${name}`),
    runTimeoutMs,
  })
}

/**
 * Runs a kexec round trip; when it fails because the post-kexec kernel panicked at boot, restarts
 * the guest and runs it once more, loudly. Linux 7.2 under TCG has been seen (rarely) to panic
 * early in the post-kexec boot ("Fatal exception in interrupt", a NULL dereference before
 * userspace): a kernel failure, not one of ours. A second panic, or any other failure, is thrown.
 * Returns the number of retries (0 or 1) for the test's timings.
 */
export async function retryOncePastKernelPanic(
  run: () => Promise<void>,
  restart: () => Promise<void>,
): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    try {
      await run()
      return attempt - 1
    } catch (e) {
      const msg = String((e as Error).message)
      if (attempt >= 2 || !/Kernel panic/.test(msg)) throw e
      console.log(`RETRY: the post-kexec kernel panicked during boot; rerunning once:\n${msg.slice(-600)}`)
      await restart()
    }
  }
}
