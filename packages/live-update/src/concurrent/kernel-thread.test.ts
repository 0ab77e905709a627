import assert from 'node:assert/strict'
import { test } from 'node:test'
import { PAGE_SIZE, SmmuRegisters } from '@hitless/emulator'
import { kernelImage } from './kernel-image.js'
import type { KernelWorkerData } from './kernel-syscalls.js'
import { KernelThread } from './kernel-thread.js'

const data = (): KernelWorkerData => ({
  memory: new SharedArrayBuffer(64 * PAGE_SIZE),
  registers: new SmmuRegisters().buffer,
  khoMap: new Uint8Array(64),
  handover: null,
  options: { version: '7.2.13-hitless1', iommu: 'adopt', hardware: 'smmuv3-bbml0', devices: 1, dmaRate: 1 },
})

test('a kernel thread refuses to boot from anything but memory, registers, KHO map, blob and options', async () => {
  const image = await kernelImage()
  const smuggled = { ...data(), oldKernel: { bootId: 'x' } } as KernelWorkerData
  await assert.rejects(
    KernelThread.boot(image, smuggled),
    /boots from memory, registers, khoMap, handover, options only, not oldKernel/,
  )
})

test('a kernel thread refuses registers that are not those of its hardware', async () => {
  const image = await kernelImage()
  const d = data()
  d.options.hardware = 'vtd-scalable' // with an SMMUv3 register file
  await assert.rejects(KernelThread.boot(image, d), /no kernel for vtd-scalable with these registers/)
})

test('a kernel thread that does not boot in time is terminated and the boot refused (no hang)', async () => {
  const image = await kernelImage()
  const d = data()
  // No SMMU runs behind these registers (no DMA worker): the probe's first CMD_SYNC waits for a
  // consumer that never comes.
  d.options.iommu = 'reset'
  const t0 = performance.now()
  await assert.rejects(KernelThread.boot(image, d, 300), /did not boot within 300 ms/)
  assert.ok(performance.now() - t0 < 5_000, 'refused at the deadline, not after the driver gave up')
})
