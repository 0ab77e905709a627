/**
 * A table of non-overlapping ranges sorted by start, in 4 KiB pages: the leaves of a HWPT or the
 * (merged) areas of an IOAS.
 */
export interface RangeTable {
  count: number
  start: Float64Array
  /** Length of range i in pages. */
  span(i: number): number
}

/**
 * Called for each maximal segment [from, to) on which coverage does not change: `a`/`b` is the
 * index of the range covering it in each table, or -1.
 */
export type SegmentVisitor = (a: number, b: number, from: number, to: number) => void

/** First index whose start is >= `key`. */
export function lowerBound(start: Float64Array, count: number, key: number): number {
  let lo = 0
  let hi = count
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (start[mid] < key) lo = mid + 1
    else hi = mid
  }
  return lo
}

/**
 * Sweeps two range tables over IOVA in one pass: a merge of two sorted lists, cut at every range
 * boundary of either side, with no object per range. A sweep may be restricted to the ranges
 * starting in [from, to) (the Merkle descent does that for differing chunks); it carries on
 * past `to` while a range that started before `to` still covers, and never revisits pages
 * below `resumeAt` (the end of the previous sweep), so adjacent sweeps neither miss nor
 * double-count a page. Returns where it stopped.
 */
export function sweepRanges(
  a: RangeTable,
  b: RangeTable,
  from: number,
  to: number,
  resumeAt: number,
  visit: SegmentVisitor,
): number {
  let pos = Math.max(from, resumeAt)
  let ia = lowerBound(a.start, a.count, pos)
  if (ia > 0 && a.start[ia - 1] + a.span(ia - 1) > pos) ia--
  let ib = lowerBound(b.start, b.count, pos)
  if (ib > 0 && b.start[ib - 1] + b.span(ib - 1) > pos) ib--
  for (;;) {
    while (ia < a.count && a.start[ia] + a.span(ia) <= pos) ia++
    while (ib < b.count && b.start[ib] + b.span(ib) <= pos) ib++
    const aS = ia < a.count ? a.start[ia] : Number.POSITIVE_INFINITY
    const bS = ib < b.count ? b.start[ib] : Number.POSITIVE_INFINITY
    const aCov = aS <= pos
    const bCov = bS <= pos
    if (!aCov && !bCov) {
      const next = Math.min(aS, bS)
      if (next >= to) break
      pos = next
      continue
    }
    if (pos >= to && !(aCov && aS < to) && !(bCov && bS < to)) break
    const aEnd = aCov ? aS + a.span(ia) : aS
    const bEnd = bCov ? bS + b.span(ib) : bS
    const end = Math.min(aEnd, bEnd)
    visit(aCov ? ia : -1, bCov ? ib : -1, pos, end)
    pos = end
  }
  return Math.max(pos, resumeAt)
}
