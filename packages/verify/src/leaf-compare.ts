import { type HwptSnapshot, type LeafTable, type MerkleLevel, PROT, sameNodeHash } from '@hitless/protocol'
import type { DiffCollector, DiffEntry, DiffKind } from './diff-collector.js'
import { pageHex } from './diff-collector.js'
import { fileName, postToPreFiles, sameFiles } from './file-tokens.js'
import { lowerBound, type RangeTable } from './range-sweep.js'

const PAGES = Float64Array.from({ length: 64 }, (_, s) => (s >= 12 ? 2 ** (s - 12) : 0))

export function leafRanges(t: LeafTable): RangeTable {
  const size = t.sizeLog2
  return { count: t.count, start: t.iova, span: (i) => PAGES[size[i]] }
}

/** How a leaf-view comparison went, for the diff's `stats` and the benchmark. */
export interface LeafCompareStats {
  /** `equal-root`: Merkle roots equal, no leaf looked at; `descent`: only differing chunks swept; `full`: no usable tree. */
  path: 'equal-root' | 'descent' | 'full'
  leaves: number
  /** Segments the sweep visited (about the leaves inside differing chunks). */
  segmentsSwept: number
  chunksDiffering: number
}

export function protNames(p: number): string {
  const names = Object.entries(PROT)
    .filter(([, bit]) => p & bit)
    .map(([n]) => n)
  return names.length ? names.join('|') : 'none'
}

function describe(t: LeafTable, files: readonly string[], i: number): DiffEntry {
  return {
    leaf: pageHex(t.iova[i]),
    size: 2 ** t.sizeLog2[i],
    prot: protNames(t.prot[i]),
    ...(t.pa ? { pa: pageHex(t.pa[i]) } : {}),
    ...(t.file ? { file: fileName(files, t.file[i]), offset: pageHex(t.offset![i]) } : {}),
  }
}

/**
 * Compares the per-IOVA leaf view of one HWPT before and after. Translations are compared per
 * IOVA, not per leaf: a 2 MiB leaf replaced by 512 pages with the same PAs, permissions and
 * backing is a leaf-size change alone (`leaf.size`: a break-before-make hazard), not 512
 * mismatches. With a Merkle tree on both sides, equal subtrees are skipped, so equal views cost
 * O(1) and differences O(differences × log n) chunks to find.
 */
export function compareLeafViews(
  key: string,
  pre: HwptSnapshot,
  post: HwptSnapshot,
  files: { pre: readonly string[]; post: readonly string[] },
  diff: DiffCollector,
): LeafCompareStats {
  const A = pre.leaves
  const B = post.leaves
  const pa = A.pa && B.pa ? { a: A.pa, b: B.pa } : undefined
  const backing = A.file && B.file ? { fa: A.file, fb: B.file, oa: A.offset!, ob: B.offset! } : undefined
  const mapFile = postToPreFiles(files.pre, files.post)
  const stats: LeafCompareStats = {
    path: 'full',
    leaves: A.count + B.count,
    segmentsSwept: 0,
    chunksDiffering: 0,
  }
  const report = (kind: DiffKind, ia: number, ib: number, from: number, to: number) =>
    diff.range(kind, key, from, to, () => ({
      ...(ia >= 0 ? { pre: describe(A, files.pre, ia) } : {}),
      ...(ib >= 0 ? { post: describe(B, files.post, ib) } : {}),
    }))
  const fileMap = backing && !sameFiles(files.pre, files.post) ? mapFile : undefined
  let resume = Number.NEGATIVE_INFINITY
  /**
   * The per-IOVA sweep over leaves starting in [from, to) (see sweepRanges for the contract),
   * written out for leaves: this loop is the whole cost when differences are spread everywhere.
   */
  const sweep = (from: number, to: number) => {
    const ai = A.iova
    const bi = B.iova
    const as = A.sizeLog2
    const bs = B.sizeLog2
    const ap = A.prot
    const bp = B.prot
    const paA = pa?.a
    const paB = pa?.b
    const nA = A.count
    const nB = B.count
    const INF = Number.POSITIVE_INFINITY
    let pos = Math.max(from, resume)
    let ia = lowerBound(ai, nA, pos)
    if (ia > 0 && ai[ia - 1] + PAGES[as[ia - 1]] > pos) ia--
    let ib = lowerBound(bi, nB, pos)
    if (ib > 0 && bi[ib - 1] + PAGES[bs[ib - 1]] > pos) ib--
    let segments = 0
    for (;;) {
      while (ia < nA && ai[ia] + PAGES[as[ia]] <= pos) ia++
      while (ib < nB && bi[ib] + PAGES[bs[ib]] <= pos) ib++
      const aS = ia < nA ? ai[ia] : INF
      const bS = ib < nB ? bi[ib] : INF
      const aCov = aS <= pos
      const bCov = bS <= pos
      if (!aCov && !bCov) {
        const next = Math.min(aS, bS)
        if (next >= to) break
        pos = next
        continue
      }
      if (pos >= to && !(aCov && aS < to) && !(bCov && bS < to)) break
      const aEnd = aCov ? aS + PAGES[as[ia]] : aS
      const bEnd = bCov ? bS + PAGES[bs[ib]] : bS
      const end = Math.min(aEnd, bEnd)
      segments++
      if (!bCov) report('leaf.missing', ia, -1, pos, end)
      else if (!aCov) report('leaf.extra', -1, ib, pos, end)
      else {
        let differs = false
        if (paA && paA[ia] - aS !== paB![ib] - bS) {
          report('leaf.pa', ia, ib, pos, end)
          differs = true
        }
        if (backing) {
          const fb = backing.fb[ib]
          if (
            backing.fa[ia] !== (fileMap ? fileMap(fb) : fb) ||
            backing.oa[ia] - aS !== backing.ob[ib] - bS
          ) {
            report('leaf.backing', ia, ib, pos, end)
            differs = true
          }
        }
        if (ap[ia] !== bp[ib]) {
          report('leaf.prot', ia, ib, pos, end)
          differs = true
        }
        if (!differs && (aS !== bS || as[ia] !== bs[ib])) report('leaf.size', ia, ib, pos, end)
      }
      pos = end
    }
    stats.segmentsSwept += segments
    resume = Math.max(pos, resume)
  }
  const LA = pre.merkle
  const LB = post.merkle
  // Hashes cover file indexes and the columns present: usable only if both agree on those.
  const usable =
    LA.length > 0 &&
    LB.length > 0 &&
    !A.pa === !B.pa &&
    !A.file === !B.file &&
    (!A.file || sameFiles(files.pre, files.post))
  if (!usable) {
    sweep(Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY)
    return stats
  }
  stats.path = 'descent'
  // Node 0 of every level starts at -∞, so a change to the first leaf does not misalign levels.
  const keyOf = (t: LeafTable, l: MerkleLevel, i: number) =>
    i === 0 ? Number.NEGATIVE_INFINITY : t.iova[l.firstLeaf[i]]
  const endOf = (t: LeafTable, l: MerkleLevel, i: number) =>
    i + 1 < l.count ? t.iova[l.firstLeaf[i + 1]] : Number.POSITIVE_INFINITY
  const children = (levels: MerkleLevel[], k: number, i: number): [number, number] => {
    const below = levels[k - 1]
    const l = levels[k]
    const c0 = lowerBoundU32(below.firstLeaf, l.firstLeaf[i])
    const c1 = i + 1 < l.count ? lowerBoundU32(below.firstLeaf, l.firstLeaf[i + 1]) : below.count
    return [c0, c1]
  }
  const walk = (k: number, a0: number, a1: number, b0: number, b1: number, rangeEnd: number) => {
    const la = LA[k]
    const lb = LB[k]
    let i = a0
    let j = b0
    while (i < a1 && j < b1) {
      const ka = keyOf(A, la, i)
      const kb = keyOf(B, lb, j)
      const ea = endOf(A, la, i)
      if (ka === kb && ea === endOf(B, lb, j)) {
        if (!sameNodeHash(la, i, lb, j)) {
          if (k === 0) {
            stats.chunksDiffering++
            sweep(ka, ea)
          } else {
            const [ca0, ca1] = children(LA, k, i)
            const [cb0, cb1] = children(LB, k, j)
            walk(k - 1, ca0, ca1, cb0, cb1, ea)
          }
        }
        i++
        j++
        continue
      }
      // Boundaries differ here (a boundary leaf added or removed): sweep up to the next start both share.
      let i2 = ka === kb ? i + 1 : i
      let j2 = ka === kb ? j + 1 : j
      for (;;) {
        const x = i2 < a1 ? keyOf(A, la, i2) : Number.POSITIVE_INFINITY
        const y = j2 < b1 ? keyOf(B, lb, j2) : Number.POSITIVE_INFINITY
        if (x === y) break
        if (x < y) i2++
        else j2++
      }
      const stop = i2 < a1 ? keyOf(A, la, i2) : rangeEnd
      stats.chunksDiffering++
      sweep(Math.min(ka, kb), stop)
      i = i2
      j = j2
    }
    if (i < a1 || j < b1) {
      const from = Math.min(
        i < a1 ? keyOf(A, la, i) : Number.POSITIVE_INFINITY,
        j < b1 ? keyOf(B, lb, j) : Number.POSITIVE_INFINITY,
      )
      stats.chunksDiffering++
      sweep(from, rangeEnd)
    }
  }
  const top = Math.min(LA.length, LB.length) - 1
  if (
    LA.length === LB.length &&
    LA[top].count === 1 &&
    LB[top].count === 1 &&
    sameNodeHash(LA[top], 0, LB[top], 0)
  ) {
    stats.path = 'equal-root'
    return stats
  }
  walk(top, 0, LA[top].count, 0, LB[top].count, Number.POSITIVE_INFINITY)
  return stats
}

function lowerBoundU32(a: Uint32Array, key: number): number {
  let lo = 0
  let hi = a.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (a[mid] < key) lo = mid + 1
    else hi = mid
  }
  return lo
}
