import { type HwptSnapshot, type LeafTable, type MerkleLevel, PROT, sameNodeHash } from '@hitless/protocol'
import { type DiffCollector, type DiffEntry, pageHex } from './diff-collector.js'
import { fileName, postToPreFiles, sameFiles } from './file-tokens.js'
import { type RangeTable, sweepRanges } from './range-sweep.js'

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
  const visit = (ia: number, ib: number, from: number, to: number) => {
    stats.segmentsSwept++
    if (ib < 0) return diff.range('leaf.missing', key, from, to, () => ({ pre: describe(A, files.pre, ia) }))
    if (ia < 0) return diff.range('leaf.extra', key, from, to, () => ({ post: describe(B, files.post, ib) }))
    const both = () => ({ pre: describe(A, files.pre, ia), post: describe(B, files.post, ib) })
    let differs = false
    if (pa && pa.a[ia] + (from - A.iova[ia]) !== pa.b[ib] + (from - B.iova[ib])) {
      diff.range('leaf.pa', key, from, to, both)
      differs = true
    }
    if (
      backing &&
      (backing.fa[ia] !== mapFile(backing.fb[ib]) ||
        backing.oa[ia] + (from - A.iova[ia]) !== backing.ob[ib] + (from - B.iova[ib]))
    ) {
      diff.range('leaf.backing', key, from, to, both)
      differs = true
    }
    if (A.prot[ia] !== B.prot[ib]) {
      diff.range('leaf.prot', key, from, to, both)
      differs = true
    }
    if (!differs && (A.iova[ia] !== B.iova[ib] || A.sizeLog2[ia] !== B.sizeLog2[ib])) {
      diff.range('leaf.size', key, from, to, both)
    }
  }
  const ra = leafRanges(A)
  const rb = leafRanges(B)
  let resume = Number.NEGATIVE_INFINITY
  const sweep = (from: number, to: number) => {
    resume = sweepRanges(ra, rb, from, to, resume, visit)
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
