// The real kexec executor's ports (@hitless/live-update RealKexecExecutor) served by the static
// helper: its LUO ioctls (the helper opens /dev/liveupdate and holds every fd into the reboot),
// and, in the lane's guest, its kexec_file_load and reboot(LINUX_REBOOT_CMD_KEXEC). On a real host
// the loader is kexec-tools (kexecToolsLoader) and only the LUO port is the helper's.
import {
  type KexecHost,
  type KexecLoader,
  type KexecTarget,
  kexecRefused,
  type LuoPort,
} from '@hitless/live-update'
import { HelperError, num } from '../helper-protocol.js'
import { closingOnFailure, type HelperTransport } from '../helper-transport.js'

/** The largest chunk of a file moved per request: the helper's lines are at most 4 MiB of hex. */
const CHUNK = 512 * 1024

/** The image the lane's guest can kexec: the helper rebuilds its own initramfs around it. */
export const GUEST_KEXEC_IMAGE = '/kexec/bzImage'

/** LUO through the helper. The EBUSY of a second opener keeps its errno (`errno: 'EBUSY'`). */
export function helperLuo(helper: HelperTransport): LuoPort {
  return {
    open: async () => num(await helper.call('luo_open'), 'fd'),
    createSession: async (name) => num(await helper.call('luo_create_session', name), 'fd'),
    async preserve(sessionFd, token, bytes) {
      const fd = num(await helper.call('memfd_create', `luo-${token}`, Math.max(bytes.length, 1)), 'fd')
      await closingOnFailure(helper, [fd], async () => {
        for (let off = 0; off < bytes.length; off += CHUNK)
          await helper.call(
            'fd_write',
            fd,
            off,
            Buffer.from(bytes.subarray(off, off + CHUNK)).toString('hex'),
          )
        await helper.call('luo_preserve', sessionFd, fd, token)
      })
    },
    retrieveSession: async (name) => num(await helper.call('luo_retrieve_session', name), 'fd'),
    async retrieve(sessionFd, token) {
      const fd = num(await helper.call('luo_retrieve_fd', sessionFd, token), 'fd')
      const size = num(await helper.call('fd_size', fd), 'size')
      const out = new Uint8Array(size)
      for (let off = 0; off < size; off += CHUNK) {
        const n = Math.min(CHUNK, size - off)
        out.set(Buffer.from((await helper.call('fd_read', fd, off, n)).values.hex, 'hex'), off)
      }
      return out
    },
    finish: async (sessionFd) => {
      await helper.call('luo_finish', sessionFd)
    },
  }
}

/**
 * The guest's kexec through the helper: kexec_file_load of /kexec/bzImage with an initramfs the
 * helper builds from itself (a target naming another image or its own initrd is refused, not
 * ignored), the target's command line appended; the reboot answers, then goes.
 */
export function helperKexecLoader(helper: HelperTransport): KexecLoader {
  return {
    async load(t: KexecTarget) {
      if (t.image !== GUEST_KEXEC_IMAGE)
        throw kexecRefused('target', `the guest's helper can kexec only ${GUEST_KEXEC_IMAGE}, not ${t.image}`)
      if (t.initrd)
        throw kexecRefused(
          'target',
          `the guest's helper builds the initramfs itself; ${t.initrd} cannot be loaded`,
        )
      await helper.call('kexec_load', ...t.cmdline.split(/\s+/).filter(Boolean))
    },
    async reboot() {
      await helper.call('kexec_reboot')
    },
  }
}

/** The helper's side as the place of the kexec: its `ping` tells its euid and whether /dev/liveupdate exists. */
export function helperKexecHost(helper: HelperTransport): KexecHost {
  return {
    isRoot: async () => (await helper.call('ping')).values.euid === '0',
    async hasDevice(path) {
      if (path !== '/dev/liveupdate')
        throw kexecRefused('luo-device', `the helper reports only /dev/liveupdate, not ${path}`)
      return (await helper.call('ping')).values.liveupdate === 'yes'
    },
  }
}

/** True when `e` is the helper's answer `errno` (for callers that branch on the kernel's errno). */
export const isErrno = (e: unknown, errno: string) => e instanceof HelperError && e.errno === errno
