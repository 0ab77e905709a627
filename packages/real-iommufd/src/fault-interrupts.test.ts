import assert from 'node:assert/strict'
import { test } from 'node:test'
import { faultInterrupts } from './fault-interrupts.js'

test('VT-d, SMMUv3 and AMD fault interrupt lines are summed over CPUs; other lines are not', () => {
  const text = [
    '           CPU0       CPU1       ',
    '  0:         45          0   IO-APIC   2-edge      timer',
    ' 24:          3          2  DMAR-MSI   0-edge      dmar0',
    ' 25:          0          1  DMAR-MSI   1-edge      dmar1',
    ' 26:          9          0  DMAR-MSI   2-edge      dmar1-prq',
    ' 27:          4          0  ITS-MSI 0 Edge      arm-smmu-v3-evtq',
    ' 28:          8          0  ITS-MSI 1 Edge      arm-smmu-v3-gerror',
    ' 29:          2          5  PCI-MSI 0-edge      AMD-Vi0-Evt',
    ' 30:          7          0  PCI-MSI 1-edge      AMD-Vi0-PPR',
    'NMI:          0          0   Non-maskable interrupts',
  ].join('\n')
  assert.deepEqual(faultInterrupts(text), {
    count: 3 + 2 + 1 + 4 + 2 + 5,
    sources: ['dmar0', 'dmar1', 'arm-smmu-v3-evtq', 'AMD-Vi0-Evt'],
  })
})

test('the selftest mock has no fault interrupt: 0 from no source', () => {
  const text =
    '           CPU0\n  0:         45   IO-APIC   2-edge      timer\n  4:        312   IO-APIC   4-edge      ttyS0\n'
  assert.deepEqual(faultInterrupts(text), { count: 0, sources: [] })
})
