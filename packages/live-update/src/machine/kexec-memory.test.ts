import assert from 'node:assert/strict'
import { test } from 'node:test'
import { PAGE_SIZE, PhysicalMemory, POISON_WORD32 } from '@hitless/emulator'
import { FIRMWARE_FRAMES, poisonUnpreserved } from './kexec-memory.js'

test('a kexec poisons every frame not marked preserved, and neither preserved nor firmware frames', () => {
  const frames = 64
  const memory = new PhysicalMemory(frames * PAGE_SIZE)
  memory.u32.fill(0x1234_5678)
  const kho = new Uint8Array(frames)
  const preserved = [FIRMWARE_FRAMES, FIRMWARE_FRAMES + 5, FIRMWARE_FRAMES + 6, frames - 1]
  for (const f of preserved) kho[f] = 1
  poisonUnpreserved(memory, kho)
  for (let f = 0; f < frames; f++) {
    const words = memory.u32.subarray((f * PAGE_SIZE) / 4, ((f + 1) * PAGE_SIZE) / 4)
    const kept = f < FIRMWARE_FRAMES || preserved.includes(f)
    const expect = kept ? 0x1234_5678 : POISON_WORD32
    assert.ok(
      words.every((w) => w === expect),
      `frame ${f}: ${kept ? 'kept' : 'poisoned'} expected`,
    )
  }
})
