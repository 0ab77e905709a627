// Benchmarks of the SMMUv3 model (npm run bench -- emulator). Ratios are measured against
// baselines in the same run, so they hold across machines; absolute figures are printed too.
// Targets (issue 3): a full walk costs at most 5x a loop doing the same typed-array reads; 1M
// 4 KiB leaf entries take at most 1.5x their raw table bytes (8 MiB).
import { CpuStorePort } from '../src/cpu/cpu-store-port.js'
import { SeededRandom } from '../src/dma/seeded-random.js'
import { FrameAllocator } from '../src/memory/frame-allocator.js'
import { PhysicalMemory } from '../src/memory/physical-memory.js'
import { PageTableBuilder } from '../src/pagetable/vmsav8/builder.js'
import { SIZE_2M, SIZE_4K } from '../src/pagetable/vmsav8/descriptor.js'
import { makeS1Cd } from '../src/smmuv3/context-descriptor.js'
import { SmmuDriver } from '../src/smmuv3/driver/smmu-driver.js'
import { SmmuV3 } from '../src/smmuv3/smmuv3.js'
import { makeCdTableSte } from '../src/smmuv3/stream-table-entry.js'
import { fmtRate, fmtRatio, ratio, timeInterleaved } from './harness.js'

const gc = (globalThis as { gc?: () => void }).gc
if (!gc) throw new Error('run with node --expose-gc')
const mem = () => {
  gc()
  gc()
  const m = process.memoryUsage()
  return m.heapUsed + m.arrayBuffers
}
const now = () => Number(process.hrtime.bigint()) / 1e6
const rows: { name: string; value: string; ratio?: string; target?: string; ok?: boolean }[] = []
let failed = false

const RW = { read: true, write: true }
const SEED = 20261125
const PAGES = 1 << 20 // 4 GiB of 4 KiB pages
const memory = new PhysicalMemory(64 * 1024 * 1024)
const allocator = new FrameAllocator(memory)
const port = new CpuStorePort(memory)
const smmu = new SmmuV3({ memory })
const driver = SmmuDriver.probe({ port, allocator, mmio: smmu })

// ---- Building 4 GiB in 4 KiB pages, discontiguous physical pages (seeded shuffle) ----
const rng = new SeededRandom(SEED)
const pas = new Float64Array(PAGES)
for (let i = 0; i < PAGES; i++) pas[i] = 2 ** 32 + i * SIZE_4K // data pages above emulated RAM: never touched
rng.shuffle(pas)
const framesBefore = allocator.framesInUse
let m0 = mem()
let t0 = now()
const t4k = PageTableBuilder.create(port, allocator, { stage: 1 })
t4k.mapPages(0, pas, RW)
let ms = now() - t0
let jsDelta = mem() - m0
const tableBytes = (allocator.framesInUse - framesBefore) * SIZE_4K
const rawLeafBytes = PAGES * 8
const ratio4k = (tableBytes + Math.max(0, jsDelta)) / rawLeafBytes
rows.push({ name: 'build 4 GiB / 4 KiB pages (1M leaves): time', value: `${ms.toFixed(0)} ms` })
rows.push({
  name: 'build 4 GiB / 4 KiB pages: table bytes + JS delta',
  value: `${(tableBytes / 2 ** 20).toFixed(2)} MiB + ${(jsDelta / 2 ** 20).toFixed(2)} MiB`,
  ratio: `${ratio4k.toFixed(3)}x raw 8 MiB`,
  target: '<= 1.5x',
  ok: ratio4k <= 1.5,
})

// ---- Building 1 TiB in 2 MiB blocks ----
const BLOCKS = 2 ** 40 / SIZE_2M
const f2 = allocator.framesInUse
m0 = mem()
t0 = now()
const t2m = PageTableBuilder.create(port, allocator, { stage: 1 })
for (let i = 0; i < BLOCKS; i++) t2m.map(i * SIZE_2M, 2 ** 41 + i * SIZE_2M, SIZE_2M, RW)
ms = now() - t0
jsDelta = mem() - m0
const tb2 = (allocator.framesInUse - f2) * SIZE_4K
rows.push({ name: 'build 1 TiB / 2 MiB blocks (512K leaves): time', value: `${ms.toFixed(0)} ms` })
rows.push({
  name: 'build 1 TiB / 2 MiB blocks: table bytes + JS delta',
  value: `${(tb2 / 2 ** 20).toFixed(2)} MiB + ${(jsDelta / 2 ** 20).toFixed(2)} MiB`,
  ratio: `${((tb2 + Math.max(0, jsDelta)) / (BLOCKS * 8)).toFixed(3)}x raw 4 MiB`,
})

// ---- Attach the 4 GiB domain to a stream ----
const SID = 1
const cdTable = driver.allocCdTable(0)
driver.writeCd([SID], cdTable, 0, makeS1Cd({ asid: 1, ttb0: t4k.root }))
driver.writeSte(SID, makeCdTableSte(cdTable))

// ---- Walks and translations: random pages of the 4 GiB domain ----
// Baselines (issue 3: "a baseline loop doing the same number of typed-array reads"): the very
// reads a walk makes — 4 descriptors = 8 u32 reads per translation, at the same addresses — done
//   * dependent: in walk order, each level's table address taken from the previous read (a walk is
//     a pointer chase and cannot issue level n+1 before level n returns). This is the baseline the
//     target is judged against;
//   * independent: the same addresses precomputed and streamed (the CPU overlaps and prefetches
//     them: a floor no walk can reach). Reported for reference.
const REPS = 21
const N = 400_000
const iovas = new Float64Array(N)
for (let i = 0; i < N; i++) iovas[i] = rng.int(PAGES) * SIZE_4K + rng.int(512) * 8
const descAddr = new Uint32Array(N * 4)
for (let i = 0; i < N; i++) {
  let table = t4k.root
  for (let level = 0; level < 4; level++) {
    const idx = Math.floor(iovas[i] / 2 ** (39 - 9 * level)) % 512
    const dpa = table + idx * 8
    descAddr[i * 4 + level] = dpa / 4
    table = memory.u32[dpa / 4] & 0xfffff000
  }
}
const u32 = memory.u32
const SHIFT = [2 ** 39, 2 ** 30, 2 ** 21, 2 ** 12]
const root4k = t4k.root
const walker = smmu.translator.walker
const regime = t4k.regime()
smmu.translate(SID, 0, 'read') // STE and CD cached
const walks0 = smmu.translator.walks
const T = timeInterleaved(REPS, N, {
  independent: () => {
    let s = 0
    for (let i = 0; i < N * 4; i++) {
      const a = descAddr[i]
      s = (s + u32[a] + u32[a + 1]) | 0
    }
    return s
  },
  dependent: () => {
    let s = 0
    for (let i = 0; i < N; i++) {
      const v = iovas[i]
      let table = root4k
      for (let l = 0; l < 4; l++) {
        const a = (table + ((v / SHIFT[l]) & 511) * 8) / 4
        const lo = u32[a]
        s = (s + u32[a + 1]) | 0
        table = (lo & 0xfffff000) >>> 0
      }
    }
    return s
  },
  // The walk alone: 4 descriptor reads and their checks (VMSAv8-64 walker, stage 1, 48-bit).
  walk: () => {
    let s = 0
    for (let i = 0; i < N; i++) {
      walker.walkRaw(1, regime.ttb, 0, 48, 48, false, iovas[i])
      s += walker.outputAddress
    }
    return s
  },
  // The whole translation with an IOTLB miss: STE/CD from the configuration cache, IOTLB lookup
  // (miss), the walk, the IOTLB fill (QEMU-style emptying at 8192 entries), the outcome.
  translate: () => {
    let s = 0
    for (let i = 0; i < N; i++) s += smmu.translate(SID, iovas[i], 'read').pa
    return s
  },
})
const walkFraction = (smmu.translator.walks - walks0) / ((REPS + 1) * N)
rows.push({
  name: 'baseline: 8 u32 reads, independent (streamed)',
  value: `${T.independent.ns.toFixed(1)} ns`,
})
rows.push({ name: 'baseline: 8 u32 reads, dependent (walk order)', value: `${T.dependent.ns.toFixed(1)} ns` })
const walkRatio = ratio(T.walk, T.dependent)
rows.push({
  name: 'full 4-level walk (VMSAv8-64 walker)',
  value: fmtRate(T.walk),
  ratio: `${fmtRatio(walkRatio)} dependent, ${fmtRatio(ratio(T.walk, T.independent))} independent`,
  target: '<= 5x dependent',
  ok: walkRatio.median <= 5,
})
rows.push({
  name: `translation, IOTLB miss + walk + fill (${(walkFraction * 100).toFixed(1)}% walked)`,
  value: fmtRate(T.translate),
  ratio: `${fmtRatio(ratio(T.translate, T.dependent))} dependent, ${fmtRatio(ratio(T.translate, T.independent))} independent`,
})
// Sanity: the walk translated correctly.
for (let i = 0; i < 1000; i++) {
  const pa = smmu.translate(SID, iovas[i], 'read').pa
  if (pa !== pas[Math.floor(iovas[i] / SIZE_4K)] + (iovas[i] % SIZE_4K))
    throw new Error('walk benchmark translated wrongly')
}

// ---- IOTLB hits: 1024 pages, warm ----
const HOT = 1024
const hot = new Float64Array(N)
for (let i = 0; i < N; i++) hot[i] = (i % HOT) * SIZE_4K * 97 + 8
driver.tlbiAsid(1)
for (let i = 0; i < HOT; i++) smmu.translate(SID, hot[i], 'read')
const hotAddr = new Uint32Array(N)
for (let i = 0; i < N; i++) hotAddr[i] = descAddr[(i % N) * 4 + 3]
const hits0 = smmu.iotlb.hits
const H = timeInterleaved(REPS, N, {
  // Baseline for a hit: one 64-bit entry read (2 u32), as a TLB held in a typed array would cost.
  read: () => {
    let s = 0
    for (let i = 0; i < N; i++) {
      const a = hotAddr[i]
      s = (s + u32[a] + u32[a + 1]) | 0
    }
    return s
  },
  hit: () => {
    let s = 0
    for (let i = 0; i < N; i++) s += smmu.translate(SID, hot[i], 'read').pa
    return s
  },
})
const hitFraction = (smmu.iotlb.hits - hits0) / ((REPS + 1) * N)
rows.push({
  name: `translation, IOTLB hit (${(hitFraction * 100).toFixed(1)}% hit)`,
  value: fmtRate(H.hit),
  ratio: `${fmtRatio(ratio(H.hit, H.read))} a 2-u32 read (${H.read.ns.toFixed(1)} ns)`,
})

// ---- Print ----
console.log(
  `SMMUv3 model benchmark (seed ${SEED}, node ${process.version}; medians of ${REPS} interleaved runs, ratio ranges in brackets)`,
)
const w0 = Math.max(...rows.map((r) => r.name.length))
const w1 = Math.max(...rows.map((r) => r.value.length))
for (const r of rows) {
  const status = r.ok === undefined ? '' : r.ok ? '  ok' : '  MISSED'
  if (r.ok === false) failed = true
  console.log(
    `${r.name.padEnd(w0)}  ${r.value.padEnd(w1)}  ${r.ratio ?? ''}${r.target ? ` (target ${r.target})` : ''}${status}`,
  )
}
process.exit(failed ? 1 : 0)
