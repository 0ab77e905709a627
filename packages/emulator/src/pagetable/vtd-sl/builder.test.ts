import assert from 'node:assert/strict'
import { test } from 'node:test'
import { CpuStorePort } from '../../cpu/cpu-store-port.js'
import { FrameAllocator } from '../../memory/frame-allocator.js'
import { PhysicalMemory } from '../../memory/physical-memory.js'
import { SlPageTableBuilder } from './builder.js'

function setup() {
  const memory = new PhysicalMemory(4 * 1024 * 1024)
  const frames = new FrameAllocator(memory, 1)
  const port = new CpuStorePort(memory)
  const stores: number[] = []
  port.setListener({ afterStore: (pa) => stores.push(pa) })
  return { memory, frames, port, stores, b: SlPageTableBuilder.create(port, frames) }
}

test('a first 4 KiB mapping links three new tables, each with one 64-bit store, then the leaf', () => {
  const { b, stores } = setup()
  b.map(0x1000, 0x5000, 4096, { r: true, w: true })
  assert.equal(stores.length, 4)
  assert.equal(b.tableFrames.size, 4)
  assert.equal(b.tableBytes, 4 * 4096)
  assert.deepEqual(b.lookup(0x1234), { pa: 0x5234, size: 4096, r: true, w: true })
})

test('overlaps are refused; unmap clears exactly one leaf', () => {
  const { b } = setup()
  b.map(0x20_0000, 0x40_0000, 2 * 1024 * 1024, { r: true, w: false })
  assert.throws(() => b.map(0x20_1000, 0x9000, 4096, { r: true, w: true }), /superpage/)
  assert.throws(() => b.map(0x20_0000, 0x60_0000, 2 * 1024 * 1024, { r: true, w: true }), /already mapped/)
  assert.throws(() => b.map(0x1000, 0x2000, 4096, { r: false, w: false }), /R or W/)
  assert.equal(b.unmap(0x20_0000, 2 * 1024 * 1024), true)
  assert.equal(b.unmap(0x20_0000, 2 * 1024 * 1024), false)
  assert.equal(b.lookup(0x20_0000), undefined)
})

test('a superpage replaces an emptied lower table, whose frame waits for the flush', () => {
  const { b } = setup()
  b.map(0x20_0000, 0x9000, 4096, { r: true, w: true })
  assert.throws(() => b.map(0x20_0000, 0x40_0000, 2 * 1024 * 1024, { r: true, w: true }), /smaller mappings/)
  b.unmap(0x20_0000, 4096)
  const before = b.tableFrames.size
  b.map(0x20_0000, 0x40_0000, 2 * 1024 * 1024, { r: true, w: true })
  assert.equal(b.tableFrames.size, before - 1)
  assert.equal(b.unlinkedTables.length, 1)
})

test('adopt() rediscovers the tables from memory alone (a new kernel after kexec)', () => {
  const { b, port, frames } = setup()
  b.map(0x1000, 0x5000, 4096, { r: true, w: true })
  b.map(0x40_0000_0000, 0x4000_0000, 1024 * 1024 * 1024, { r: true, w: false })
  const adopted = SlPageTableBuilder.adopt(port, frames, 4, b.root)
  assert.deepEqual([...adopted.tableFrames].sort(), [...b.tableFrames].sort())
  assert.deepEqual(adopted.lookup(0x40_0000_1000), {
    pa: 0x4000_1000,
    size: 1024 * 1024 * 1024,
    r: true,
    w: false,
  })
})
