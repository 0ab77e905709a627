/**
 * Hardware tag IDs (SMMUv3 ASIDs and VMIDs, VT-d domain IDs), lowest free first, as the drivers'
 * xa_alloc / ida_alloc_range hand them out. Kernel state: after kexec the new kernel rebuilds it
 * by `claim()`ing every tag it finds in the preserved entries (the kdump path reserves DIDs so).
 */
export class TagAllocator {
  private readonly used = new Set<number>()

  constructor(
    readonly first: number,
    readonly last: number,
  ) {}

  alloc(): number {
    for (let t = this.first; t <= this.last; t++)
      if (!this.used.has(t)) {
        this.used.add(t)
        return t
      }
    throw new RangeError('no free tag')
  }

  claim(tag: number): void {
    this.used.add(tag)
  }

  free(tag: number): void {
    this.used.delete(tag)
  }
}
