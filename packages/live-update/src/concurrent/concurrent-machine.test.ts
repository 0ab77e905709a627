import assert from 'node:assert/strict'
import { test } from 'node:test'
import { PAGE_SIZE, POISON_WORD32 } from '@hitless/emulator'
import { FIRMWARE_FRAMES } from '../machine/kexec-memory.js'
import { ConcurrentMachine } from './concurrent-machine.js'

test('the concurrent kexec: KHO map from the preserved frames, everything else but firmware poisoned, the next boot gets that map', async () => {
  const machine = await ConcurrentMachine.start({
    hardware: 'smmuv3-bbml0',
    memoryBytes: 2 * 1024 * 1024,
    devices: 1,
    seed: 1,
  })
  try {
    machine.memory.u32.fill(0x0c0ffee0)
    const kept = [FIRMWARE_FRAMES + 1, FIRMWARE_FRAMES + 2, 300]
    machine.kexec(Float64Array.from(kept, (f) => f * PAGE_SIZE))
    for (let f = 0; f < machine.memory.frameCount; f++) {
      const word = machine.memory.read32(f * PAGE_SIZE + 8)
      const survives = f < FIRMWARE_FRAMES || kept.includes(f)
      assert.equal(word, survives ? 0x0c0ffee0 : POISON_WORD32, `frame ${f}`)
      assert.equal(machine.khoMap[f], kept.includes(f) ? 1 : 0)
    }
    const data = machine.bootData({ version: '7.2.13-hitless1', iommu: 'adopt' }, Uint8Array.of(1, 2, 3))
    assert.deepEqual(Object.keys(data), ['memory', 'registers', 'khoMap', 'handover', 'options'])
    assert.equal(data.memory, machine.memory.buffer)
    assert.equal(data.registers, machine.registers)
    assert.deepEqual(
      [...data.khoMap.keys()].filter((f) => data.khoMap[f]),
      kept,
    )
  } finally {
    await machine.stop()
  }
})
