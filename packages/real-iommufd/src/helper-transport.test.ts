// A failed preservation leaves no file open in the long-lived helper: the memfd it made (and the
// LUO session, whose fd closed drops it) is closed before the error goes up, and only then.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { fakeHelper } from './fake-helper.test-support.js'
import { preserveInSession } from './handover/luo-session.js'
import { HelperError } from './helper-protocol.js'
import { helperLuo } from './kexec/helper-kexec-ports.js'
import { PipeHelper } from './pipe-helper.js'

function helperWhere(fail: string) {
  let next = 10
  const f = fakeHelper({
    memfd_create: () => `fd=${next++}`,
    luo_create_session: () => `fd=${next++}`,
    fd_write: () => (fail === 'fd_write' ? { err: 'ENOSPC', what: 'write' } : ''),
    luo_preserve: () =>
      fail === 'luo_preserve' ? { err: 'EINVAL', what: 'LIVEUPDATE_SESSION_PRESERVE_FD' } : '',
    close: () => '',
  })
  return { f, helper: new PipeHelper(f.stdout, f.stdin) }
}

const closes = (seen: string[]) => seen.filter((l) => l.startsWith('close '))

test('helperLuo.preserve closes its memfd when a write or the preserve fails, and not when it succeeds', async () => {
  for (const fail of ['fd_write', 'luo_preserve']) {
    const { f, helper } = helperWhere(fail)
    // Two chunks: the write of the first already reached the helper when the failure is on a write.
    const e = await helperLuo(helper)
      .preserve(3, 7, new Uint8Array(600 * 1024))
      .catch((x: unknown) => x)
    assert.ok(e instanceof HelperError, `${fail}: ${e}`)
    assert.equal(e.errno, fail === 'fd_write' ? 'ENOSPC' : 'EINVAL')
    assert.deepEqual(closes(f.seen), ['close 0xa'], `${fail}: ${f.seen.join(' | ')}`)
  }
  const { f, helper } = helperWhere('none')
  await helperLuo(helper).preserve(3, 7, new Uint8Array(16))
  assert.deepEqual(closes(f.seen), [])
})

test('preserveInSession closes the blob memfd and the session when a preserve fails', async () => {
  const { f, helper } = helperWhere('luo_preserve')
  await assert.rejects(preserveInSession(helper, 's1', new Uint8Array(8), []), HelperError)
  assert.deepEqual(closes(f.seen), ['close 0xb', 'close 0xa']) // the session (11), then the blob (10)
  const w = helperWhere('fd_write')
  await assert.rejects(preserveInSession(w.helper, 's1', new Uint8Array(8), []), HelperError)
  assert.deepEqual(closes(w.f.seen), ['close 0xa'])
  assert.ok(!w.f.seen.some((l) => l.startsWith('luo_create_session')))
  const ok = helperWhere('none')
  const r = await preserveInSession(ok.helper, 's1', new Uint8Array(8), [{ fd: 4, luoToken: 1 }])
  assert.deepEqual(r, { sessionFd: 11, blobFd: 10 })
  assert.deepEqual(closes(ok.f.seen), [])
})
