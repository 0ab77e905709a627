// The helper the lane built, as a real host runs it: a child process spoken to over its
// stdin/stdout (PipeHelper), on this machine. This host has no /dev/iommu, so iommufd commands
// answer ENODEV; memory commands work, which shows the transport end to end with the real binary.
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { test } from 'node:test'
import { HelperError, num } from '../../packages/real-iommufd/src/helper-protocol.js'
import { PipeHelper } from '../../packages/real-iommufd/src/pipe-helper.js'
import { kernelDir, skipReason } from './kernel-lane-env.js'

test('the helper binary over a pipe on the host', { skip: skipReason, timeout: 30_000 }, async () => {
  const { helper, child } = PipeHelper.spawn(join(kernelDir!, 'iommufd-helper'), { requestTimeoutMs: 10_000 })
  try {
    const ping = await helper.call('ping')
    assert.equal(ping.values.gen, '1')
    const m = await helper.call('memfd_create', 'pipe-test', 0x2000)
    await helper.call('mem_fill', num(m, 'uptr'), 0x2000, 7)
    assert.match((await helper.call('mem_hash', num(m, 'uptr'), 0x2000)).values.fnv1a, /^0x[0-9a-f]{16}$/)
    if (ping.values.iommufd_fd === '-1') {
      const e = await helper.call('ioas_alloc').catch((x: unknown) => x)
      assert.ok(e instanceof HelperError)
      assert.equal(e.errno, 'ENODEV')
    }
  } finally {
    helper.close()
    await new Promise<void>((r) => (child.exitCode !== null ? r() : child.once('exit', () => r())))
  }
})
