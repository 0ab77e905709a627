/**
 * A device's working set: the IOVAs it uses and, for each, the physical page it SHOULD reach and
 * with which permission. This is the physical world's ground truth (what the VM's memory layout
 * says), supplied by whoever sets up the host — never read back from the kernel's or the IOMMU's
 * state, so a wrong table cannot vouch for itself.
 *
 * Entries are 4 KiB pages. `perm` is 'rw', 'r', or 'none' (the device must be blocked: an access
 * that reaches any page is a ground-truth violation).
 */
export type ExpectedPermission = 'r' | 'rw' | 'none'

export interface WorkingSetEntry {
  iova: number
  pa: number
  perm: ExpectedPermission
}

export const PERM_CODE: Record<ExpectedPermission, number> = { none: 0, r: 1, rw: 3 }

export class WorkingSet {
  readonly iova: Float64Array
  readonly pa: Float64Array
  /** 0 none, 1 read, 3 read+write. */
  readonly perm: Uint8Array

  constructor(readonly length: number) {
    this.iova = new Float64Array(length)
    this.pa = new Float64Array(length)
    this.perm = new Uint8Array(length)
  }

  static from(entries: readonly WorkingSetEntry[]): WorkingSet {
    const ws = new WorkingSet(entries.length)
    for (let i = 0; i < entries.length; i++) ws.set(i, entries[i])
    return ws
  }

  set(i: number, e: WorkingSetEntry): void {
    if (e.iova % 4096 !== 0 || e.pa % 4096 !== 0) throw new RangeError('working-set entries are 4 KiB pages')
    this.iova[i] = e.iova
    this.pa[i] = e.pa
    this.perm[i] = PERM_CODE[e.perm]
  }

  entry(i: number): WorkingSetEntry {
    const p = this.perm[i]
    return { iova: this.iova[i], pa: this.pa[i], perm: p === 3 ? 'rw' : p === 1 ? 'r' : 'none' }
  }

  entries(): WorkingSetEntry[] {
    return Array.from({ length: this.length }, (_, i) => this.entry(i))
  }
}
