import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { SmmuCommand } from '@hitless/emulator'
import type { InvDesc } from '@hitless/emulator/vtd/index'
import { createEmulatedSmmuv3 } from '../backends/emulated-smmuv3.js'
import { createEmulatedVtd } from '../backends/emulated-vtd.js'
import { planLeaves } from '../kernel/leaf-size.js'

const PAGE = 4096
const M2 = 2 ** 21
const G1 = 2 ** 30

test('leaf sizes follow alignment and contiguity: 1 GiB, 2 MiB, 4 KiB', () => {
  const linear = (base: number) => (off: number) => base + off
  const sizes = [PAGE, M2, G1]
  assert.deepEqual(
    planLeaves(G1, G1 + M2 + PAGE, linear(2 * G1), sizes).map((l) => l.size),
    [G1, M2, PAGE],
  )
  // IOVA aligned, PA not: 4 KiB only.
  assert.equal(new Set(planLeaves(0, M2, linear(PAGE), sizes).map((l) => l.size)).size, 1)
  // Aligned but not contiguous: 4 KiB.
  const scattered = (off: number) => M2 + (off === 0 ? 0 : off + PAGE)
  assert.equal(planLeaves(0, M2, scattered, sizes)[0].size, PAGE)
})

test('a 2 MiB-aligned memfd mapping gets 2 MiB leaves; a misaligned one 4 KiB leaves', async () => {
  const b = createEmulatedSmmuv3({ memoryBytes: 16 * 1024 * 1024 })
  const ioas = await b.ioasAlloc()
  const dev = await b.deviceBind((await b.devices())[0].name)
  const hwpt = await b.deviceAttach(dev, ioas)
  const mfd = await b.memfdCreate('ram', 2 * M2)
  await b.ioasMapFile(ioas, { fd: mfd.fd, start: 0, length: 2 * M2, iova: 0x4000_0000 })
  await b.ioasMapFile(ioas, { fd: mfd.fd, start: 0, length: M2, iova: 0x5000_1000 })
  const leaves = (await b.state()).hwpts.find((h) => h.id === hwpt)!.leaves!
  assert.deepEqual(
    leaves.filter((l) => l.iova < 0x5000_0000).map((l) => l.size),
    [M2, M2],
  )
  assert.ok(leaves.filter((l) => l.iova >= 0x5000_0000).every((l) => l.size === PAGE))
  await b.checkMap(hwpt, 0x4000_0000, 2 * M2, mfd.uptr)
})

test('SMMUv3 order: attach writes the CD (CFGI_CD, SYNC) before the STE (CFGI_STE, SYNC); unmap clears PTEs, then TLBI_NH_VA, then SYNC', async () => {
  const b = createEmulatedSmmuv3({ memoryBytes: 16 * 1024 * 1024 })
  const log: SmmuCommand['op'][] = []
  const smmu = b.driver.smmu!
  const execute = smmu.execute.bind(smmu)
  let ptesClearedAtTlbi: boolean | undefined
  let hwpt = -1
  smmu.execute = (c: SmmuCommand) => {
    log.push(c.op)
    if (c.op === 'TLBI_NH_VA' && ptesClearedAtTlbi === undefined)
      ptesClearedAtTlbi =
        b.context
          .hwpts()
          .find((h) => h.id === hwpt)!
          .domain.lookup(c.addr) === undefined
    execute(c)
  }
  const ioas = await b.ioasAlloc()
  const dev = await b.deviceBind((await b.devices())[0].name)
  hwpt = await b.deviceAttach(dev, ioas)
  const firstSte = log.indexOf('CFGI_STE')
  assert.ok(log.indexOf('CFGI_CD') >= 0 && log.indexOf('CFGI_CD') < firstSte)
  assert.equal(log[log.indexOf('CFGI_CD') + 1], 'CMD_SYNC')
  assert.equal(log[firstSte + 1], 'CMD_SYNC')
  await b.ioasMap(ioas, { iova: 0x100_0000, length: 2 * PAGE })
  log.length = 0
  await b.ioasUnmap(ioas, 0x100_0000, 2 * PAGE)
  assert.deepEqual(log, ['TLBI_NH_VA', 'TLBI_NH_VA', 'CMD_SYNC'])
  assert.equal(ptesClearedAtTlbi, true)
})

test('VT-d order: unmap clears PTEs, then one page-selective IOTLB invalidation and a wait; legacy replace flushes context cache and both DIDs', async () => {
  const b = createEmulatedVtd({ memoryBytes: 16 * 1024 * 1024 })
  const low = b.driver.vtdDriver
  const log: InvDesc['type'][][] = []
  const submit = low.submit.bind(low)
  low.submit = (descs: readonly InvDesc[]) => {
    log.push(descs.map((d) => d.type))
    submit(descs)
  }
  const ioas = await b.ioasAlloc()
  const dev = await b.deviceBind((await b.devices())[0].name)
  const hwpt = await b.deviceAttach(dev, ioas)
  await b.ioasMap(ioas, { iova: 0x100_0000, length: 4 * PAGE })
  log.length = 0
  await b.ioasUnmap(ioas, 0x100_0000, 4 * PAGE)
  assert.deepEqual(log, [['iotlb']])
  const hwpt2 = await b.hwptAlloc(dev, ioas)
  log.length = 0
  await b.deviceReplace(dev, hwpt2)
  // Then the automatic HWPT left behind is freed: its DID's IOTLB is flushed once more.
  assert.deepEqual(log, [['context-cache', 'iotlb', 'iotlb'], ['iotlb']])
  const ce = (await b.state()).config.find((c) => c.kind === 'context')!
  assert.equal(ce.fields.did, b.context.hwpts().find((h) => h.id === hwpt2)!.domain.tag)
  assert.notEqual(hwpt, hwpt2)
})

test('VT-d scalable replace is clear → PASID cache + IOTLB → set (upstream, not hitless)', async () => {
  const b = createEmulatedVtd({ scalable: true, memoryBytes: 16 * 1024 * 1024 })
  const low = b.driver.vtdDriver
  const log: InvDesc['type'][][] = []
  const submit = low.submit.bind(low)
  low.submit = (descs: readonly InvDesc[]) => {
    log.push(descs.map((d) => d.type))
    submit(descs)
  }
  const ioas = await b.ioasAlloc()
  const dev = await b.deviceBind((await b.devices())[0].name)
  await b.deviceAttach(dev, ioas)
  const hwpt2 = await b.hwptAlloc(dev, ioas)
  log.length = 0
  await b.deviceReplace(dev, hwpt2)
  assert.deepEqual(log, [['pasid-cache', 'iotlb'], ['iotlb']])
  assert.ok((await b.state()).config.some((c) => c.kind === 'pasid' && c.fields.p === true))
})
