import { parentPort, workerData } from 'node:worker_threads'
import { EntrySeqlock } from './seqlock.js'

/**
 * Test worker for seqlock.test.ts: the "device" side, reading one 128-bit chunk as fast as it can
 * while the main thread (the "CPU") rewrites it, and reporting every value it saw that memory
 * never held at a store boundary.
 */
const { memory, seqlock, pa, iterations, locked } = workerData as {
  memory: SharedArrayBuffer
  seqlock: SharedArrayBuffer
  pa: number
  iterations: number
  locked: boolean
}
const u32 = new Uint32Array(memory)
const lock = new EntrySeqlock(seqlock)
const out = new Uint32Array(4)
let torn = 0
for (let i = 0; i < iterations; i++) {
  if (locked) lock.read128(u32, pa, out)
  else for (let k = 0; k < 4; k++) out[k] = Atomics.load(u32, (pa >>> 2) + k)
  // The writer only ever stores entries whose four words are equal.
  if (out[0] !== out[1] || out[1] !== out[2] || out[2] !== out[3]) torn++
}
parentPort!.postMessage(torn)
