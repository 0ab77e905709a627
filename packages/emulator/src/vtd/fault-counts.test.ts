import assert from 'node:assert/strict'
import { test } from 'node:test'
import { faultRecordingStats } from './fault-recording.js'
import { sidOf, makeTestMachine } from './test-machine.js'
import { attachVtdSoftware } from './vtd.js'

test('fault counts live in the register file: software attached to the shared state reads them, and a re-attach keeps them', () => {
  const m = makeTestMachine({ nfr: 2 })
  const f = (bus: number) => m.iommu.translate(sidOf(bus, 0, 0), 0x5000, 'write')
  f(1)
  f(1) // collapsed
  f(2)
  f(3) // lost: both records full
  const expected = { recorded: 2, lostOverflow: 1, lostPfo: 0, collapsed: 1, suppressedFpd: 0 }
  assert.deepEqual({ ...m.iommu.faults.stats }, expected)
  // What a kernel on another thread, booted after a kexec, builds from the shared buffers alone.
  const software = attachVtdSoftware(m.vtd.shared)
  assert.equal(software.iommu, undefined)
  assert.deepEqual({ ...faultRecordingStats(software.registers) }, expected)
  f(4) // lost: PFO set
  assert.equal(faultRecordingStats(software.registers).lostPfo, 1)
})
