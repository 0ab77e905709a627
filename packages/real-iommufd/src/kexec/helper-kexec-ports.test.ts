import assert from 'node:assert/strict'
import { test } from 'node:test'
import { isHitlessError } from '@hitless/protocol'
import type { HelperArg, HelperOk } from '../helper-protocol.js'
import type { HelperTransport } from '../helper-transport.js'
import { GUEST_KEXEC_IMAGE, helperKexecHost, helperKexecLoader } from './helper-kexec-ports.js'

/** A helper that records its requests and answers every one `ok` with no values. */
function recordingHelper(): HelperTransport & { calls: string[][] } {
  const calls: string[][] = []
  return {
    calls,
    async call(command: string, ...args: HelperArg[]) {
      calls.push([command, ...args.map(String)])
      const answer: HelperOk = { tag: command, ok: true, values: {} }
      return answer
    },
  }
}

const refused = (check: string, re: RegExp) => (e: unknown) =>
  isHitlessError(e) &&
  e.code === 'HITLESS_E_UNPROCESSABLE' &&
  e.details?.check === check &&
  re.test(e.message)

test("the guest's loader refuses a target it cannot load, as a kexec refusal, before asking the helper", async () => {
  const helper = recordingHelper()
  const loader = helperKexecLoader(helper)
  await assert.rejects(
    loader.load({ image: '/boot/vmlinuz-other', cmdline: '' }),
    refused('target', /can kexec only \/kexec\/bzImage, not \/boot\/vmlinuz-other/),
  )
  await assert.rejects(
    loader.load({ image: GUEST_KEXEC_IMAGE, initrd: '/boot/initrd.img', cmdline: '' }),
    refused('target', /builds the initramfs itself; \/boot\/initrd.img cannot be loaded/),
  )
  assert.deepEqual(helper.calls, [])
  await loader.load({ image: GUEST_KEXEC_IMAGE, cmdline: ' hitless.executor=1  quiet ' })
  assert.deepEqual(helper.calls, [['kexec_load', 'hitless.executor=1', 'quiet']])
})

test('the helper host refuses a LUO device other than /dev/liveupdate (a configuration error)', async () => {
  const helper = recordingHelper()
  await assert.rejects(helperKexecHost(helper).hasDevice('/dev/liveupdate0'), (e: unknown) => {
    assert.ok(isHitlessError(e))
    assert.equal(e.code, 'HITLESS_E_CONFIG')
    assert.equal(e.details?.check, 'luo-device')
    return true
  })
  assert.deepEqual(helper.calls, [])
})
