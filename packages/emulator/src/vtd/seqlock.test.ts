import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Worker } from 'node:worker_threads'
import { CpuStorePort } from '../cpu/cpu-store-port.js'
import { PhysicalMemory } from '../memory/physical-memory.js'
import { VtdEntryWriter } from './entry-writer.js'
import { EntrySeqlock } from './seqlock.js'

/**
 * Concurrent mode: a worker thread reads a 128-bit entry while this thread replaces it with
 * cmpxchg128 (every value written has four equal words). With the seqlock the reader never sees
 * a mix of two values; without it, it does (which is why the lock exists).
 */
async function run(locked: boolean): Promise<number> {
  const memory = new PhysicalMemory(64 * 1024)
  const seqlock = new EntrySeqlock(memory.frameCount)
  const port = new CpuStorePort(memory, true)
  const writer = new VtdEntryWriter(port, locked ? seqlock : undefined)
  const pa = 0x1000
  // The worker is TypeScript: register tsx's loader inside it before importing the file.
  const file = JSON.stringify(new URL('./seqlock-reader.worker.ts', import.meta.url).href)
  const worker = new Worker(
    `import('tsx/esm/api').then(({ register }) => { register(); return import(${file}) })`,
    {
      eval: true,
      workerData: { memory: memory.buffer, seqlock: seqlock.buffer, pa, iterations: 300_000, locked },
    },
  )
  let done = false
  const result = new Promise<number>((resolve, reject) => {
    worker.on('message', (n: number) => {
      done = true
      resolve(n)
    })
    worker.on('error', (e) => {
      done = true
      reject(e)
    })
  })
  let v = 0n
  // Keep writing until the reader finishes (yield now and then so its message can arrive).
  while (!done) {
    for (let i = 0; i < 20_000; i++) {
      const next = (v + 0x0101_0101n) & 0xffff_ffffn
      const word = (q: bigint) => (q << 32n) | q
      writer.cmpxchg128(pa, word(v), word(v), word(next), word(next))
      v = next
    }
    await new Promise((r) => setImmediate(r))
  }
  const torn = await result
  await worker.terminate()
  return torn
}

test('seqlocked 128-bit reads never observe a torn cmpxchg128', { timeout: 60_000 }, async () => {
  assert.equal(await run(true), 0)
})

test('without the seqlock the same reads do tear (the lock is needed)', { timeout: 60_000 }, async () => {
  assert.ok((await run(false)) > 0)
})

test('deterministic mode: the writer does not touch the seqlock', () => {
  const memory = new PhysicalMemory(8192)
  const lock = new EntrySeqlock(memory.frameCount)
  const w = new VtdEntryWriter(new CpuStorePort(memory, false), lock)
  w.store64(0x1000, 5n)
  assert.equal(lock.sequence(0x1000), 0)
})
