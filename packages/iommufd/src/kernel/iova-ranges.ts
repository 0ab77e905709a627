/**
 * IOVA range algebra for the io-pagetable: inclusive [start, last] ranges over the full 64-bit
 * IOVA space, as bigints (the kernel's ULONG_MAX is not a safe JS number; IOMMU_IOAS_IOVA_RANGES
 * answers `0-0xffffffffffffffff` for a fresh IOAS).
 */
export interface IovaRange {
  start: bigint
  last: bigint
}

export const U64_MAX = 2n ** 64n - 1n

export function intersects(a: IovaRange, b: IovaRange): boolean {
  return a.start <= b.last && b.start <= a.last
}

/** Sorts and merges overlapping or adjacent ranges. */
export function normalize(ranges: readonly IovaRange[]): IovaRange[] {
  const sorted = [...ranges].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0))
  const out: IovaRange[] = []
  for (const r of sorted) {
    const last = out[out.length - 1]
    if (last && r.start <= last.last + 1n) {
      if (r.last > last.last) last.last = r.last
    } else out.push({ ...r })
  }
  return out
}

/** `from` minus every range of `minus`. */
export function subtract(from: readonly IovaRange[], minus: readonly IovaRange[]): IovaRange[] {
  let cur = normalize(from)
  for (const m of normalize(minus)) {
    const next: IovaRange[] = []
    for (const r of cur) {
      if (!intersects(r, m)) {
        next.push(r)
        continue
      }
      if (r.start < m.start) next.push({ start: r.start, last: m.start - 1n })
      if (r.last > m.last) next.push({ start: m.last + 1n, last: r.last })
    }
    cur = next
  }
  return cur
}

/** `a` ∩ `b`. */
export function intersect(a: readonly IovaRange[], b: readonly IovaRange[]): IovaRange[] {
  const out: IovaRange[] = []
  for (const x of normalize(a))
    for (const y of normalize(b)) {
      const start = bigMax(x.start, y.start)
      const last = bigMin(x.last, y.last)
      if (start <= last) out.push({ start, last })
    }
  return normalize(out)
}

/** roundup_pow_of_two. */
export function roundupPow2(n: number): number {
  let p = 1
  while (p < n) p *= 2
  return p
}

/** 1 << __ffs64(addr): the largest power of two dividing `addr` (addr > 0). */
export function lowestSetBit(addr: number): number {
  let p = 1
  while (addr % (p * 2) === 0 && p < 2 ** 52) p *= 2
  return p
}

/** "0x1000000-0x7fffffff,..." as the helper prints ranges. */
export function formatRanges(ranges: readonly IovaRange[]): string {
  return ranges.map((r) => `0x${r.start.toString(16)}-0x${r.last.toString(16)}`).join(',')
}

/** Math.max for bigints. */
export function bigMax(a: bigint, b: bigint): bigint {
  if (a > b) return a
  return b
}

/** Math.min for bigints. */
export function bigMin(a: bigint, b: bigint): bigint {
  if (a < b) return a
  return b
}
