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
