import assert from 'node:assert/strict'
import { test } from 'node:test'
import { UPDATE_STEPS } from '@hitless/protocol'
import { verifySnapshots } from '@hitless/verify'
import { decodeHandover } from '../handover/handover-codec.js'
import { handoverVersionFor } from '../handover/handover-format.js'
import type { KernelFiles } from '../kexec/kernel-artifact.js'
import { EmulatedKexecExecutor, type KexecTarget } from '../kexec/kexec-executor.js'
import { EmulatedMachine } from '../machine/emulated-machine.js'
import { GuestVmm, memoryFor } from '../machine/guest-vmm.js'
import { Kernel } from '../machine/kernel.js'
import { BASE_KERNEL, TARGET_KERNEL } from '../simulate.js'
import { LiveUpdate } from './live-update.js'

async function host(mappings = 256) {
  const machine = new EmulatedMachine({ hardware: 'smmuv3-bbml0', memoryBytes: memoryFor(mappings), seed: 5 })
  const kernel = Kernel.boot(machine, { version: BASE_KERNEL, iommu: 'reset' })
  const vmm = await GuestVmm.setup(kernel, { mappings, seed: 5 })
  machine.tick(128)
  return { machine, vmm }
}

/** Runs every step, returning the blob's header version as the new kernel found it after KEXEC. */
async function runKeepingBlobVersion(update: LiveUpdate, machine: EmulatedMachine) {
  let version: number | undefined
  for (const step of UPDATE_STEPS) {
    assert.equal(await update.runStep(step), 'done', update.result().reason)
    if (step === 'KEXEC') {
      const blob = machine.handover!
      version = new DataView(blob.buffer, blob.byteOffset, blob.byteLength).getUint16(8, true)
      // The blob is one the new kernel decodes (every check).
      decodeHandover(blob)
    }
  }
  return version
}

for (const [handoverFormat, written] of [
  [1, 1],
  [2, 1],
  [3, 3],
  [7, 3],
  [undefined, 3],
] as const) {
  test(`an update asked for handover format ${handoverFormat ?? '(none)'} writes version ${written} and ends hitless`, async () => {
    const h = await host()
    const baseline = h.machine.faultCounters()
    const update = new LiveUpdate(h, {
      updateId: `fmt-${handoverFormat}`,
      strategy: 'fresh-switch',
      targetKernel: TARGET_KERNEL,
      ...(handoverFormat !== undefined ? { handoverFormat } : {}),
    })
    const version = await runKeepingBlobVersion(update, h.machine)
    assert.equal(version, written)
    // Every step is done: run() skips them all and records the outcome.
    const r = await update.run()
    assert.equal(r.outcome, 'completed', r.reason)
    assert.equal(r.steps.find((s) => s.step === 'KEXEC')?.detail?.handoverVersion, written)
    assert.deepEqual(h.machine.faultCounters(), baseline)
    const v = verifySnapshots(r.pre!, r.post!, { targetKernel: TARGET_KERNEL, blackoutSloMs: 60_000 })
    assert.equal(v.verdict, 'hitless', v.reasons.join('\n'))
  })
}

test('a handover format below 1 fails PREFLIGHT with the old state live', async () => {
  const h = await host()
  const r = await new LiveUpdate(h, {
    updateId: 'fmt-0',
    strategy: 'serialise',
    targetKernel: TARGET_KERNEL,
    handoverFormat: 0,
  }).run()
  assert.equal(r.outcome, 'failed')
  assert.equal(r.failedStep, 'PREFLIGHT')
  assert.match(r.reason!, /handover format 0/)
  assert.equal(h.machine.boots, 0)
  assert.throws(() => handoverVersionFor(1.5), RangeError)
})

/** A host's boot files in memory: path → SHA-256 (the port PREFLIGHT reads through). */
function bootFiles(have: Record<string, string>): KernelFiles {
  return {
    digest: async (p) =>
      p in have
        ? { found: true, sha256: have[p], size: 1 }
        : { found: false, why: 'no such file on this host' },
    missing: async (p) => (p in have ? undefined : 'no such file on this host'),
  }
}

const IMAGE_SHA = 'ab'.repeat(32)
const ARTIFACT = {
  image: `/boot/vmlinuz-${TARGET_KERNEL}`,
  initrd: `/boot/initrd.img-${TARGET_KERNEL}`,
  cmdline: 'console=ttyS0 iommu.passthrough=0',
  sha256: IMAGE_SHA,
}

test('KEXEC stages exactly the artifact checked in PREFLIGHT: its image, initrd and command line', async () => {
  const h = await host()
  const executors: EmulatedKexecExecutor[] = []
  const r = await new LiveUpdate(h, {
    updateId: 'staged',
    strategy: 'serialise',
    targetKernel: TARGET_KERNEL,
    kernelImage: ARTIFACT,
    kernelFiles: bootFiles({ [ARTIFACT.image]: IMAGE_SHA, [ARTIFACT.initrd]: 'ef'.repeat(32) }),
    kexecExecutor: (m, f, t) => {
      const e = new EmulatedKexecExecutor(m, f, t)
      executors.push(e)
      return e
    },
  }).run()
  assert.equal(r.outcome, 'completed', r.reason)
  assert.equal(executors.length, 1)
  assert.deepEqual(executors[0].target, {
    image: ARTIFACT.image,
    initrd: ARTIFACT.initrd,
    cmdline: ARTIFACT.cmdline,
  })
  const pre = r.steps.find((s) => s.step === 'PREFLIGHT')?.detail
  assert.equal(pre?.image, ARTIFACT.image)
  assert.equal(pre?.imageSha256, IMAGE_SHA)
  assert.equal(h.machine.boots, 1)
})

for (const [what, have, reason] of [
  [
    'an image whose sha256 is not the artifact’s',
    { [ARTIFACT.image]: 'cd'.repeat(32), [ARTIFACT.initrd]: 'ef'.repeat(32) },
    `PREFLIGHT: kernel image ${ARTIFACT.image}: sha256 ${'cd'.repeat(32)} does not match the artifact's ${IMAGE_SHA}`,
  ],
  [
    'a missing image',
    { [ARTIFACT.initrd]: 'ef'.repeat(32) },
    `PREFLIGHT: kernel image ${ARTIFACT.image}: no such file on this host`,
  ],
  [
    'a missing initrd',
    { [ARTIFACT.image]: IMAGE_SHA },
    `PREFLIGHT: initrd ${ARTIFACT.initrd}: no such file on this host`,
  ],
] as const) {
  test(`${what} fails PREFLIGHT with the old state live, nothing staged`, async () => {
    const h = await host()
    const staged: KexecTarget[] = []
    const r = await new LiveUpdate(h, {
      updateId: `bad-image-${what}`,
      strategy: 'serialise',
      targetKernel: TARGET_KERNEL,
      kernelImage: ARTIFACT,
      kernelFiles: bootFiles(have),
      kexecExecutor: (m, f, t) => {
        const e = new EmulatedKexecExecutor(m, f, t)
        const stage = e.stage.bind(e)
        e.stage = async (target) => {
          staged.push(target)
          return stage(target)
        }
        return e
      },
    }).run()
    assert.equal(r.outcome, 'failed')
    assert.equal(r.failedStep, 'PREFLIGHT')
    assert.equal(r.reason, reason)
    assert.deepEqual(staged, [])
    assert.equal(h.machine.boots, 0)
    assert.equal(h.machine.kernel?.version, BASE_KERNEL)
  })
}
