import assert from 'node:assert/strict'
import { test } from 'node:test'
import { CpuStorePort } from '../../cpu/cpu-store-port.js'
import { SeededRandom } from '../../dma/seeded-random.js'
import { FrameAllocator } from '../../memory/frame-allocator.js'
import { PhysicalMemory } from '../../memory/physical-memory.js'
import { SIZE_1G, SIZE_2M, SIZE_4K } from './descriptor.js'
import { PageTableBuilder } from './builder.js'
import { PERM_READ, PERM_WRITE, Vmsav8Walker, WalkFault } from './walk.js'

function world(bytes = 4 * 1024 * 1024) {
  const memory = new PhysicalMemory(bytes)
  const allocator = new FrameAllocator(memory)
  const port = new CpuStorePort(memory)
  return { memory, allocator, port }
}

for (const stage of [1, 2] as const) {
  test(`stage ${stage} property: random map/unmap, every mapped IOVA reaches its page with its permissions`, () => {
    const { memory, allocator, port } = world()
    const b = PageTableBuilder.create(port, allocator, { stage })
    const rng = new SeededRandom(0x5eed + stage)
    const walker = new Vmsav8Walker(memory)
    // Model: slot → mapping. Slots are 1 GiB-aligned regions so sizes never overlap.
    const model = new Map<number, { pa: number; size: number; write: boolean }>()
    for (let step = 0; step < 600; step++) {
      const slot = rng.int(64)
      const base = slot * SIZE_1G
      const existing = model.get(slot)
      if (existing && rng.chance(0.5)) {
        assert.equal(b.unmap(base, existing.size), true)
        model.delete(slot)
      } else if (!existing) {
        const size = [SIZE_4K, SIZE_2M, SIZE_1G][rng.int(3)]
        const pa = (rng.int(1 << 16) + 1) * SIZE_1G
        const write = rng.chance(0.5)
        b.map(base, pa, size, { read: true, write })
        model.set(slot, { pa, size, write })
      }
      // Check a random probe in every slot.
      for (let s = 0; s < 64; s++) {
        const m = model.get(s)
        const off = m ? rng.int(m.size / 8) * 8 : rng.int(SIZE_4K)
        const iova = s * SIZE_1G + off
        const f = walker.walkRaw(stage, b.root, b.startLevel, 48, 48, false, iova)
        if (!m) {
          assert.equal(f, WalkFault.Translation, `slot ${s} unmapped must fault`)
          continue
        }
        assert.equal(f, WalkFault.None)
        assert.equal(walker.outputAddress + (iova % walker.leafSize), m.pa + off)
        assert.equal(walker.leafSize, m.size)
        assert.equal(walker.perm & (PERM_READ | PERM_WRITE), m.write ? PERM_READ | PERM_WRITE : PERM_READ)
      }
    }
    assert.deepEqual(
      b.leaves().map((l) => l.iova / SIZE_1G),
      [...model.keys()].sort((x, y) => x - y),
    )
  })
}

test('mapPages writes discontiguous pages; splitBlock keeps every translation', () => {
  const { allocator, port } = world()
  const b = PageTableBuilder.create(port, allocator, { stage: 1 })
  const rng = new SeededRandom(7)
  const pas = rng.shuffle(Array.from({ length: 1024 }, (_, i) => (i + 100) * SIZE_4K))
  b.mapPages(0x4000_0000, pas, { read: true, write: true })
  for (let i = 0; i < 1024; i += 37) assert.equal(b.lookup(0x4000_0000 + i * SIZE_4K + 8)?.pa, pas[i])
  b.map(0x8000_0000, 0x1_0000_0000, SIZE_2M, { read: true, write: false })
  let stores = 0
  port.setListener({ afterStore: () => stores++ })
  b.splitBlock(0x8000_0000, SIZE_2M)
  assert.equal(stores, 1, 'a split is one live store')
  const l = b.lookup(0x8000_0000 + 5 * SIZE_4K)
  assert.deepEqual(l, {
    iova: 0x8000_5000,
    pa: 0x1_0000_5000,
    size: SIZE_4K,
    perm: { read: true, write: false, exec: false },
  })
  let tables = 0
  b.forEachTable(() => tables++)
  assert.equal(tables, b.tableFrames)
  assert.throws(() => b.map(0x8000_0000, 0, SIZE_4K, { read: true, write: true }), /already mapped/)
})
