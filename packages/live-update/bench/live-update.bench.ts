// `npm run bench -- live-update`: the handover codec (format version 3, and version 1 for
// comparison) against JSON and a plain copy of the same state, each the median of RUNS runs in
// this process; the blackout of each strategy at 1K, 100K and 1M mappings (one run); and the same
// in concurrent mode (kernel threads, DMA worker) at 1K and 100K, with where the blackout went.
// Figures in docs/live-update.md.
import { SeededRandom } from '@hitless/emulator'
import { STRATEGIES } from '@hitless/protocol'
import {
  decodeHandover,
  emptyAreas,
  emptyRuns,
  encodeHandover,
  type HandoverState,
  type SimulateResult,
  simulateUpdate,
} from '../src/index.js'

const PAGE = 4096
const SIZE_2M = 2 * 1024 * 1024

function baseState(): Omit<HandoverState, 'memfds' | 'ioas'> {
  return {
    meta: {
      hardware: 'smmuv3-bbml0',
      backend: 'emulated-smmuv3',
      kernel: { version: '6.19.0-hitless0', bootId: 'bench' },
      targetKernel: '7.2.13-hitless1',
      strategy: 'serialise',
    },
    preserved: { n: 1, start: Float64Array.of(0x100), count: Float64Array.of(4096) },
    hwpts: [
      {
        id: 2,
        key: 'hwpt:guest',
        ioasId: 1,
        auto: false,
        format: 'smmuv3-s1',
        tag: 1,
        root: 0x100000,
        tablePages: 4096,
      },
    ],
    devices: [{ id: 3, name: 'pci:0000:00:03.0', hwptId: 2 }],
    userspace: null,
    job: null,
  }
}

/** 1M 4 KiB mappings of a memfd whose pages are shuffled (seeded) across physical memory. */
function pagesState(n: number): HandoverState {
  const rng = new SeededRandom(42)
  const pfns = Array.from({ length: n }, (_, i) => 0x10000 + i)
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1)
    ;[pfns[i], pfns[j]] = [pfns[j], pfns[i]]
  }
  const frames = emptyRuns(n)
  frames.start.set(pfns)
  frames.count.fill(1)
  const areas = emptyAreas(n)
  // Every other page mapped, at shuffled file offsets: discontiguous IOVA and PA.
  const offs = Array.from({ length: n }, (_, i) => i)
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1)
    ;[offs[i], offs[j]] = [offs[j], offs[i]]
  }
  for (let i = 0; i < n; i++) {
    areas.iova[i] = 0x1_0000_0000 + i * 2 * PAGE
    areas.length[i] = PAGE
    areas.file[i] = 0
    areas.offset[i] = offs[i] * PAGE
    areas.prot[i] = i % 7 === 3 ? 1 : 3
  }
  return {
    ...baseState(),
    memfds: [{ token: 'memfd:guest-ram', name: 'guest-ram', size: n * PAGE, frames }],
    ioas: [{ id: 1, key: 'ioas:guest', allowed: null, areas }],
  }
}

/** 1 TiB of guest RAM in 2 MiB blocks (2 MiB-contiguous, blocks shuffled), one mapping per block. */
function blocksState(): HandoverState {
  const blocks = 2 ** 40 / SIZE_2M
  const rng = new SeededRandom(43)
  const order = Array.from({ length: blocks }, (_, i) => i)
  for (let i = blocks - 1; i > 0; i--) {
    const j = rng.int(i + 1)
    ;[order[i], order[j]] = [order[j], order[i]]
  }
  const frames = emptyRuns(blocks)
  const areas = emptyAreas(blocks)
  for (let i = 0; i < blocks; i++) {
    frames.start[i] = 0x100000 + order[i] * 512
    frames.count[i] = 512
    areas.iova[i] = 0x100_0000_0000 + i * SIZE_2M
    areas.length[i] = SIZE_2M
    areas.file[i] = 0
    areas.offset[i] = i * SIZE_2M
    areas.prot[i] = 3
  }
  return {
    ...baseState(),
    memfds: [{ token: 'memfd:guest-ram', name: 'guest-ram', size: 2 ** 40, frames }],
    ioas: [{ id: 1, key: 'ioas:guest', allowed: null, areas }],
  }
}

/** The same state as plain objects: what JSON.stringify would be given. */
function asObjects(s: HandoverState) {
  const m = s.memfds[0]
  const a = s.ioas[0].areas
  return {
    ...s,
    preserved: [{ start: s.preserved.start[0], count: s.preserved.count[0] }],
    memfds: [
      {
        token: m.token,
        name: m.name,
        size: m.size,
        frames: Array.from({ length: m.frames.n }, (_, i) => ({
          start: m.frames.start[i],
          count: m.frames.count[i],
        })),
      },
    ],
    ioas: [
      {
        id: 1,
        key: 'ioas:guest',
        allowed: null,
        areas: Array.from({ length: a.n }, (_, i) => ({
          iova: a.iova[i],
          length: a.length[i],
          file: a.file[i],
          offset: a.offset[i],
          read: (a.prot[i] & 1) !== 0,
          write: (a.prot[i] & 2) !== 0,
        })),
      },
    ],
  }
}

function columns(s: HandoverState): ArrayBufferView[] {
  const a = s.ioas[0].areas
  const f = s.memfds[0].frames
  return [a.iova, a.length, a.file, a.offset, a.prot, f.start, f.count]
}

const RUNS = 7

function median(f: () => void, runs = RUNS): number {
  const t: number[] = []
  for (let i = 0; i < runs; i++) {
    globalThis.gc?.()
    const t0 = performance.now()
    f()
    t.push(performance.now() - t0)
  }
  return t.sort((x, y) => x - y)[Math.floor(runs / 2)]
}

let ok = true
const codecRows: Record<string, string | number>[] = []
for (const [name, make] of [
  ['1M x 4 KiB, shuffled pages', () => pagesState(1 << 20)],
  ['1 TiB in 2 MiB blocks', blocksState],
] as const) {
  const s = make()
  const blob = encodeHandover(s)
  const codec = median(() => decodeHandover(encodeHandover(s)))
  const v1Blob = encodeHandover(s, 1)
  const v1 = median(() => decodeHandover(encodeHandover(s, 1)))
  const objs = asObjects(s)
  const json = JSON.stringify(objs)
  const jsonMs = median(() => JSON.parse(JSON.stringify(objs)))
  const cols = columns(s)
  const rawBytes = cols.reduce((n, c) => n + c.byteLength, 0)
  const copy = median(() => {
    // Preserve: the state's bytes into one buffer; restore: back out into fresh columns.
    const buf = new Uint8Array(rawBytes)
    let at = 0
    for (const c of cols) {
      buf.set(new Uint8Array(c.buffer, c.byteOffset, c.byteLength), at)
      at += c.byteLength
    }
    at = 0
    for (const c of cols) {
      new Uint8Array(c.byteLength).set(buf.subarray(at, at + c.byteLength))
      at += c.byteLength
    }
  })
  const faster = jsonMs / codec
  const smaller = Buffer.byteLength(json) / blob.length
  const vsCopy = codec / copy
  const met = faster >= 10 && smaller >= 4 && vsCopy <= 10
  ok &&= met
  codecRows.push({
    state: name,
    'handover ms': codec.toFixed(1),
    'handover MB': (blob.length / 1e6).toFixed(2),
    'v1 ms': v1.toFixed(1),
    'v1 MB': (v1Blob.length / 1e6).toFixed(2),
    'JSON ms': jsonMs.toFixed(0),
    'JSON MB': (Buffer.byteLength(json) / 1e6).toFixed(1),
    'copy ms': copy.toFixed(1),
    'copy MB': (rawBytes / 1e6).toFixed(1),
    'x faster than JSON': faster.toFixed(1),
    'x smaller than JSON': smaller.toFixed(1),
    'x of copy': vsCopy.toFixed(1),
    targets: met ? 'met' : 'MISSED',
  })
}
console.log(
  `handover preserve + restore (encode + decode with every check), version 3 (v1: version 1), median of ${RUNS}`,
)
console.table(codecRows)

/**
 * A run's verdict for the table, and whether it is what the strategy promises. fresh-switch at 1M
 * writes 1M fresh PTEs in RESTORE (2M DMA accesses interleaved): ~0.9–3 s on 2 shared cores,
 * either side of the verifier's 1 s blackout SLO, so its verdict flips between hitless and
 * diverged (blackout.slo) from run to run with 0 faults and the same state; in concurrent mode the
 * new kernel thread's start alone takes 0.2–0.9 s. A miss of the SLO alone is shown as such; any
 * other reason is a failure.
 */
function judged(r: SimulateResult): { verdict: string; good: boolean } {
  const checks = r.reasons.filter((x) => !x.startsWith('continuity:')).map((x) => x.split(':')[0])
  const sloOnly = r.verdict === 'diverged' && checks.length > 0 && checks.every((c) => c === 'blackout.slo')
  const faults = r.faults.groundTruth + r.faults.recorded + r.faults.lost
  return {
    verdict: sloOnly ? `over the 1 s SLO, ${faults} faults, same state` : r.verdict,
    good: r.verdict === 'hitless' || (sloOnly && faults === 0),
  }
}

const blackoutRows: Record<string, string | number>[] = []
for (const mappings of [1_000, 100_000, 1_000_000]) {
  const row: Record<string, string | number> = { mappings }
  for (const strategy of STRATEGIES) {
    const r = await simulateUpdate({ hardware: 'smmuv3-bbml0', strategy, mappings, seed: 1 })
    const { verdict, good } = judged(r)
    row[strategy] = `${r.blackoutMs?.toFixed(0)} ms (${verdict}, DMA ${r.dmaDuringBlackout})`
    if ((strategy === 'naive') === good) ok = false
  }
  blackoutRows.push(row)
}
console.log('blackout per strategy, smmuv3-bbml0, 2 devices doing DMA, deterministic mode, one run')
console.table(blackoutRows)

const concurrentRows: Record<string, string | number>[] = []
for (const mappings of [1_000, 100_000]) {
  const row: Record<string, string | number> = { mappings }
  for (const strategy of STRATEGIES) {
    const r = await simulateUpdate({
      hardware: 'smmuv3-bbml0',
      strategy,
      mappings,
      seed: 1,
      mode: 'concurrent',
    })
    const { verdict, good } = judged(r)
    const p = r.blackoutPhases
    const start = p
      ? `, kernel thread start ${p.kernelStartMs.toFixed(0)} ms, restore ${p.restoreMs.toFixed(0)} ms`
      : ''
    row[strategy] = `${r.blackoutMs?.toFixed(0)} ms (${verdict}, DMA ${r.dmaDuringBlackout}${start})`
    if ((strategy === 'naive') === good) ok = false
  }
  concurrentRows.push(row)
}
console.log(
  'blackout per strategy, smmuv3-bbml0, 2 devices doing DMA, concurrent mode (kernel threads, DMA worker), one run',
)
console.table(concurrentRows)
process.exit(ok ? 0 : 1)
