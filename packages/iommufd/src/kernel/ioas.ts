import { PAGE_SIZE } from '@hitless/emulator'
import type { IommuDomain } from '../drivers/iommu-driver.js'
import type { Hwpt } from './hwpt.js'
import { type Area, IoPagetable } from './io-pagetable.js'
import { planLeaves } from './leaf-size.js'
import type { IommufdObject } from './object-table.js'

/**
 * IOAS (`struct iommufd_ioas`): an IO address space — its io-pagetable (areas, reserved and
 * allowed IOVA ranges) and the domains that mirror it (every HWPT allocated from it: iommufd
 * keeps every area mapped in every one of them, iopt_fill_domain / iopt_area_fill_domains).
 */
export class Ioas implements IommufdObject {
  readonly type = 'ioas' as const
  users = 0
  readonly iopt = new IoPagetable()
  readonly hwpts: Hwpt[] = []

  constructor(readonly id: number) {}

  /** Maps `area` into `domain` leaf by leaf (iopt_area_fill_domain). */
  static fillArea(domain: IommuDomain, area: Area): void {
    const frameAt = (off: number) => area.object.frameAt(area.offset + off)
    for (const l of planLeaves(area.iova, area.length, frameAt, domain.pageSizes))
      domain.mapLeaf(l.iova, l.pa, l.size, area.prot)
  }

  /** Unmaps `area` from `domain` (iopt_area_unmap_domain): clear the leaves, then one flush. */
  static unfillArea(domain: IommuDomain, area: Area): void {
    const cleared: { iova: number; size: number }[] = []
    let iova = area.iova
    const end = area.iova + area.length
    while (iova < end) {
      const l = domain.lookup(iova)
      const size = l ? l.size : PAGE_SIZE
      const base = iova - (iova % size)
      if (l && domain.unmapLeaf(base, size)) cleared.push({ iova: base, size })
      iova = base + size
    }
    if (cleared.length) domain.flushUnmapped(cleared)
  }

  /** A new area: recorded, then mapped into every domain. */
  addArea(area: Area): void {
    this.iopt.insert(area)
    for (const h of this.hwpts) Ioas.fillArea(h.domain, area)
  }

  removeArea(area: Area): void {
    for (const h of this.hwpts) Ioas.unfillArea(h.domain, area)
    this.iopt.remove(area)
  }

  /** iopt_calculate_iova_alignment: the largest minimum page size over the domains. */
  updateAlignment(): void {
    let a = PAGE_SIZE
    for (const h of this.hwpts) a = Math.max(a, h.domain.pageSizes[0])
    this.iopt.alignment = a
  }
}
