// Benchmark of the verifier (npm run bench -- verify; one run: node --expose-gc --import tsx FILE).
// Two 1M-mapping snapshots (discontiguous IOVA runs, seeded, shuffled physical pages), equal and
// with 1% differences, verified by @hitless/verify and by a generic deep comparison of the same
// decoded snapshots presented as plain objects (one object per leaf), in the same run.
// Targets (issue 6): at least 20x faster; peak memory (heap plus array buffers, as a delta) at
// most 2x the two snapshots' uncompressed encoded size.
import { isDeepStrictEqual } from 'node:util'
import { Worker } from 'node:worker_threads'
import { decodeSnapshot, type Snapshot } from '@hitless/protocol'
import { changedPermissions, extraMappings, missingMappings, shiftedPas } from '../src/testing/corruptions.js'
import { seededRandom } from '../src/testing/seeded-random.js'
import { buildSnapshot, cleanPost, syntheticHost } from '../src/testing/synthetic-host.js'
import { verifySnapshots } from '../src/verify-snapshots.js'

const gc = (globalThis as { gc?: () => void }).gc
if (!gc) throw new Error('run with node --expose-gc')
const used = () => {
  const m = process.memoryUsage()
  return m.heapUsed + m.arrayBuffers
}
const settle = () => {
  gc()
  gc()
  return used()
}
const now = () => Number(process.hrtime.bigint()) / 1e6
const MiB = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

const SEED = 20261125
const MAPPINGS = 1_000_000
const expect = { targetKernel: '7.2.13-hitless1', blackoutSloMs: 1000 }

// ---- Inputs (not timed) ----
let t0 = now()
const preModel = syntheticHost({ seed: SEED, mappings: MAPPINGS })
const eqModel = cleanPost(preModel, SEED)
const diffModel = cleanPost(preModel, SEED)
const rnd = seededRandom(SEED)
const quarter = MAPPINGS / 400 // 1% in all: missing, extra, shifted PA, permission change
const h = diffModel.hwpts[0]
missingMappings(h, rnd, quarter)
extraMappings(h, rnd, quarter)
shiftedPas(h, rnd, quarter)
changedPermissions(h, rnd, quarter)
const preBytes = buildSnapshot(preModel).encode()
const eqBytes = buildSnapshot(eqModel).encode()
const diffBytes = buildSnapshot(diffModel).encode()
console.log(`inputs built in ${(now() - t0).toFixed(0)} ms`)

// ---- The generic baseline: plain objects (one per leaf), util.isDeepStrictEqual, keyed diff ----
interface PlainLeaf {
  iova: number
  size: number
  prot: number
  pa: number
  file: string | null
  offset: number
}
function toPlain(s: Snapshot) {
  return {
    attachments: s.header.attachments,
    hwpts: s.hwpts.map((hw) => {
      const t = hw.leaves
      const leaves: PlainLeaf[] = new Array(t.count)
      for (let i = 0; i < t.count; i++) {
        leaves[i] = {
          iova: t.iova[i] * 4096,
          size: 2 ** t.sizeLog2[i],
          prot: t.prot[i],
          pa: t.pa![i] * 4096,
          file: s.header.files[t.file![i]] ?? null,
          offset: t.offset![i] * 4096,
        }
      }
      return { key: hw.key, leaves }
    }),
  }
}
type Plain = ReturnType<typeof toPlain>
/** What a generic comparison does: deep-equal each HWPT's leaves; when unequal, diff them by key. */
function genericCompare(a: Plain, b: Plain): number {
  let differences = 0
  for (const ha of a.hwpts) {
    const hb = b.hwpts.find((x) => x.key === ha.key)!
    if (isDeepStrictEqual(ha.leaves, hb.leaves)) continue
    const byIova = new Map<number, PlainLeaf>()
    for (const l of ha.leaves) byIova.set(l.iova, l)
    for (const l of hb.leaves) {
      const o = byIova.get(l.iova)
      if (!o || !isDeepStrictEqual(o, l)) differences++
      byIova.delete(l.iova)
    }
    differences += byIova.size
  }
  if (!isDeepStrictEqual(a.attachments, b.attachments)) differences++
  return differences
}

// ---- Peak memory: sampled from a worker thread while the main thread runs synchronously ----
function rssSampler() {
  const shared = new Float64Array(new SharedArrayBuffer(16))
  const w = new Worker(
    `const { workerData } = require('node:worker_threads'); const a = new Float64Array(workerData);
     const tick = () => { const r = process.memoryUsage.rss(); if (r > a[0]) a[0] = r; if (a[1] === 0) setTimeout(tick, 1) }; tick()`,
    { eval: true, workerData: shared.buffer },
  )
  return {
    reset: () => {
      shared[0] = process.memoryUsage.rss()
    },
    peak: () => shared[0],
    stop: () => {
      shared[1] = 1
      return w.terminate()
    },
  }
}

const rows: { name: string; value: string; ratio?: string; target?: string; ok?: boolean }[] = []
let failed = false
const check = (row: (typeof rows)[number]) => {
  rows.push(row)
  if (row.ok === false) failed = true
}
const encodedTwo = preBytes.length + eqBytes.length
rows.push({ name: 'snapshot size (1M mappings, encoded)', value: `${MiB(preBytes.length)} each` })

const sampler = rssSampler()
await new Promise((r) => setTimeout(r, 50))
for (const [label, postBytes, expected] of [
  ['equal', eqBytes, 'hitless'],
  ['1% differences', diffBytes, 'diverged'],
] as const) {
  // Ours, from the encoded bytes: decode (checksum, structure, Merkle recomputation) + verify.
  const base = settle()
  const rss0 = process.memoryUsage.rss()
  sampler.reset()
  t0 = now()
  const a = decodeSnapshot(preBytes)
  const b = decodeSnapshot(postBytes)
  const tDecode = now() - t0
  const t1 = now()
  const r = verifySnapshots(a, b, expect)
  const tVerify = now() - t1
  const peakDelta = used() - base // no GC since `base`: garbage is counted too
  const rssPeak = sampler.peak() - rss0
  if (r.verdict !== expected) throw new Error(`${label}: verdict ${r.verdict}: ${r.reasons.join('; ')}`)
  // Repeat the compare alone for a stable figure.
  const verifyTimes = [tVerify]
  for (let k = 0; k < 4; k++) {
    const s = now()
    verifySnapshots(a, b, expect)
    verifyTimes.push(now() - s)
  }
  const ours = median(verifyTimes)
  // The generic baseline, given the same decoded snapshots as plain objects (building them not timed).
  const pa = toPlain(a)
  const pb = toPlain(b)
  const objectBytes = used() - base
  const times: number[] = []
  let found = 0
  for (let k = 0; k < 3; k++) {
    const s = now()
    found = genericCompare(pa, pb)
    times.push(now() - s)
  }
  const theirs = median(times)
  if ((found === 0) !== (expected === 'hitless')) throw new Error(`${label}: baseline found ${found}`)
  const fromBytes = tDecode + ours
  rows.push({ name: `${label}: verify (decoded input)`, value: `${ours.toFixed(1)} ms` })
  rows.push({
    name: `${label}: decode both (checksum, structure, Merkle check)`,
    value: `${tDecode.toFixed(1)} ms`,
  })
  rows.push({ name: `${label}: generic deep comparison (plain objects)`, value: `${theirs.toFixed(0)} ms` })
  check({
    name: `${label}: speed-up, same decoded input`,
    value: `${ours.toFixed(1)} vs ${theirs.toFixed(0)} ms`,
    ratio: `${(theirs / ours).toFixed(1)}x`,
    target: '>= 20x',
    ok: theirs / ours >= 20,
  })
  rows.push({
    name: `${label}: speed-up, ours from bytes (decode + verify)`,
    value: `${fromBytes.toFixed(1)} vs ${theirs.toFixed(0)} ms`,
    ratio: `${(theirs / fromBytes).toFixed(1)}x`,
  })
  check({
    name: `${label}: peak heap + array buffers (decode + verify)`,
    value: `${MiB(peakDelta)} (RSS peak ${MiB(rssPeak)})`,
    ratio: `${(peakDelta / encodedTwo).toFixed(3)}x two snapshots (${MiB(encodedTwo)})`,
    target: '<= 2x',
    ok: peakDelta <= 2 * encodedTwo,
  })
  rows.push({ name: `${label}: the generic baseline's plain objects`, value: MiB(objectBytes) })
  if (label !== 'equal') {
    const kinds = Object.entries(r.diff.kinds).map(([k, v]) => `${k} ${v!.total}`)
    rows.push({ name: `${label}: found`, value: kinds.join(', ') })
    const s = r.diff.leafViews['vm1/s2']
    rows.push({ name: `${label}: Merkle path`, value: `${s.path}, ${s.chunksDiffering} chunks swept` })
  } else {
    rows.push({ name: `${label}: Merkle path`, value: r.diff.leafViews['vm1/s2'].path })
  }
}
await sampler.stop()

const w = Math.max(...rows.map((r) => r.name.length))
const v = Math.max(...rows.map((r) => r.value.length))
for (const r of rows) {
  const verdict = r.ok === undefined ? '' : r.ok ? '  ok' : '  MISSED'
  console.log(
    `${r.name.padEnd(w)}  ${r.value.padEnd(v)}  ${(r.ratio ?? '').padEnd(34)} ${r.target ?? ''}${verdict}`,
  )
}
process.exit(failed ? 1 : 0)
