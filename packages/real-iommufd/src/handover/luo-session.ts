// The blob and its memfds in a LUO session (/dev/liveupdate, include/uapi/linux/liveupdate.h):
// created and preserved before the kexec, retrieved after it. The session fd must stay open into
// the kexec reboot (the helper holds it), or LUO drops the session.

import { num } from '../helper-protocol.js'
import { closingOnFailure, type HelperTransport } from '../helper-transport.js'

/** LUO token of the blob; memfds take their own tokens (1, 2, ...). */
export const BLOB_TOKEN = 0

/** Writes `blob` into a fresh memfd and preserves it and `memfds` (fd → LUO token) in a new session. */
export async function preserveInSession(
  helper: HelperTransport,
  session: string,
  blob: Uint8Array,
  memfds: { fd: number; luoToken: number }[],
): Promise<{ sessionFd: number; blobFd: number }> {
  const blobFd = num(await helper.call('memfd_create', `${session}-blob`, blob.length), 'fd')
  await closingOnFailure(helper, [blobFd], () =>
    helper.call('fd_write', blobFd, 0, Buffer.from(blob).toString('hex')),
  )
  const sessionFd = await closingOnFailure(helper, [blobFd], async () =>
    num(await helper.call('luo_create_session', session), 'fd'),
  )
  // Closing a session fd before the kexec drops the session: a failed preserve leaves none behind
  // to block a retry under the same name.
  await closingOnFailure(helper, [sessionFd, blobFd], async () => {
    await helper.call('luo_preserve', sessionFd, blobFd, BLOB_TOKEN)
    for (const m of memfds) await helper.call('luo_preserve', sessionFd, m.fd, m.luoToken)
  })
  return { sessionFd, blobFd }
}

/** After the kexec: the session, the blob's bytes, and a retriever for the other files. */
export async function retrieveSession(helper: HelperTransport, session: string) {
  const sessionFd = num(await helper.call('luo_retrieve_session', session), 'fd')
  const blobFd = num(await helper.call('luo_retrieve_fd', sessionFd, BLOB_TOKEN), 'fd')
  const size = num(await helper.call('fd_size', blobFd), 'size')
  const hex = (await helper.call('fd_read', blobFd, 0, size)).values.hex
  return {
    sessionFd,
    blob: new Uint8Array(Buffer.from(hex, 'hex')),
    retrieveFd: async (luoToken: number) =>
      num(await helper.call('luo_retrieve_fd', sessionFd, luoToken), 'fd'),
    /** LUO_SESSION_FINISH: the files return to the kernel's normal rules. */
    finish: async () => {
      await helper.call('luo_finish', sessionFd)
    },
  }
}
