import type { HelperArg, HelperOk } from './helper-protocol.js'

/**
 * Anything that carries helper requests to a running native/iommufd-helper and brings the answers
 * back: `QemuGuest` (virtio-serial into the lane's guest) or `PipeHelper` (the helper as a child
 * process on a real host, over its stdin/stdout). `call` resolves with the `ok` answer and rejects
 * with `HelperError` (errno by name, exactly as the kernel returned it) on an `err` answer; any
 * other rejection (timeout, transport gone) is not a kernel answer.
 */
export interface HelperTransport {
  call(command: string, ...args: HelperArg[]): Promise<HelperOk>
}

/**
 * Runs `fn`; when it fails, closes `fds` in the helper (best effort: the first error is the one
 * that matters) and rethrows, so a failed request leaves no file open in the long-lived helper.
 */
export async function closingOnFailure<T>(
  helper: HelperTransport,
  fds: number[],
  fn: () => Promise<T>,
): Promise<T> {
  try {
    return await fn()
  } catch (e) {
    for (const fd of fds) await helper.call('close', fd).catch(() => {})
    throw e
  }
}
