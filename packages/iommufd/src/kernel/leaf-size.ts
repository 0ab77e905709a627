import { PAGE_SIZE } from '@hitless/emulator'

export interface PlannedLeaf {
  iova: number
  pa: number
  size: number
}

/**
 * How a range is cut into leaves (iommu_map → iommu_pgsize): at each step the largest page size
 * the domain supports such that the IOVA and the physical address are both aligned to it, it fits
 * in what is left, and the physical pages under it are contiguous. So 2 MiB and 1 GiB leaves
 * appear exactly where IOVA and backing are aligned and contiguous; anything else is 4 KiB.
 *
 * `frameAt(offset)` gives the physical address of the page at byte `offset` of the range.
 */
export function planLeaves(
  iova: number,
  length: number,
  frameAt: (offset: number) => number,
  pageSizes: readonly number[],
): PlannedLeaf[] {
  const sizes = [...pageSizes].sort((a, b) => b - a)
  const out: PlannedLeaf[] = []
  let off = 0
  while (off < length) {
    const va = iova + off
    const pa = frameAt(off)
    let chosen = PAGE_SIZE
    for (const s of sizes) {
      if (s <= PAGE_SIZE) break
      if (va % s !== 0 || pa % s !== 0 || length - off < s) continue
      if (contiguous(frameAt, off, pa, s)) {
        chosen = s
        break
      }
    }
    out.push({ iova: va, pa, size: chosen })
    off += chosen
  }
  return out
}

function contiguous(frameAt: (offset: number) => number, off: number, pa: number, size: number): boolean {
  for (let o = PAGE_SIZE; o < size; o += PAGE_SIZE) if (frameAt(off + o) !== pa + o) return false
  return true
}
