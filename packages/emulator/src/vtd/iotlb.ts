import { PageMap } from '../iommu/page-map.js'

/**
 * The IOTLB: cached second-level translations, tagged by domain ID and PASID (VT-d spec §6.2.3
 * "IOTLB"; QEMU keys its IOTLB hash by (source-id, PASID, gfn, level) and matches DID on
 * invalidation). Entries are dropped only by invalidation (IOTLB / PASID-based IOTLB
 * descriptors): a translation stays "stale but valid" after software changes the tables,
 * exactly the window a hitless switch must respect.
 *
 * Each entry is one number, leaf-frame * 4 + permission (bit 0 R, bit 1 W), in one of three maps
 * per tag (4 KiB / 2 MiB / 1 GiB leaves) keyed by IOVA >> leaf shift: no allocation per entry.
 */
export const NO_PASID = 0x100000

const SIZES = [4096, 2097152, 1073741824] as const

export { PageMap } from '../iommu/page-map.js'

export class IotlbDomain {
  /** maps[level-1]: IOVA >> shift → frame * 4 + perms. */
  readonly maps: [PageMap, PageMap, PageMap] = [new PageMap(), new PageMap(), new PageMap()]
  /** Leaf level of the last successful `lookup`. */
  hitLevel = 0

  constructor(
    readonly did: number,
    /** NO_PASID for legacy-mode (request-id tagged) entries. */
    readonly pasid: number,
  ) {}

  /** Returns the cached frame*4+perms for `iova`, or -1. */
  lookup(iova: number): number {
    const m = this.maps
    if (m[0].size !== 0) {
      const v = m[0].get(Math.floor(iova / 4096))
      if (v >= 0) {
        this.hitLevel = 1
        return v
      }
    }
    if (m[1].size !== 0) {
      const v = m[1].get(Math.floor(iova / 2097152))
      if (v >= 0) {
        this.hitLevel = 2
        return v
      }
    }
    if (m[2].size !== 0) {
      const v = m[2].get(Math.floor(iova / 1073741824))
      if (v >= 0) {
        this.hitLevel = 3
        return v
      }
    }
    return -1
  }

  insert(iova: number, leafLevel: number, leafBase: number, perms: number): void {
    // Literal divisors: a division by a constant power of two compiles to a multiplication.
    const v = (leafBase / 4096) * 4 + perms
    if (leafLevel === 1) this.maps[0].set(Math.floor(iova / 4096), v)
    else if (leafLevel === 2) this.maps[1].set(Math.floor(iova / 2097152), v)
    else this.maps[2].set(Math.floor(iova / 1073741824), v)
  }

  get size(): number {
    return this.maps[0].size + this.maps[1].size + this.maps[2].size
  }

  clear(): void {
    for (const m of this.maps) m.clear()
  }

  /** Drops every entry overlapping [addr, addr + length). */
  invalidateRange(addr: number, length: number): void {
    for (let l = 0; l < 3; l++) {
      const m = this.maps[l]
      if (m.size === 0) continue
      const size = SIZES[l]
      const first = Math.floor(addr / size)
      const last = Math.floor((addr + length - 1) / size)
      if (last - first + 1 <= m.size) {
        for (let k = first; k <= last; k++) m.delete(k)
      } else {
        for (const k of [...m.entryKeys()]) if (k >= first && k <= last) m.delete(k)
      }
    }
  }
}

export class VtdIotlb {
  private readonly domains = new Map<number, IotlbDomain>()

  /** The (persistent) tag object for (did, pasid); created on first use. */
  domain(did: number, pasid: number): IotlbDomain {
    const key = did * 0x200000 + pasid
    let d = this.domains.get(key)
    if (!d) {
      d = new IotlbDomain(did, pasid)
      this.domains.set(key, d)
    }
    return d
  }

  get size(): number {
    let n = 0
    for (const d of this.domains.values()) n += d.size
    return n
  }

  /** IOTLB invalidate, global granularity. */
  invalidateGlobal(): void {
    for (const d of this.domains.values()) d.clear()
  }

  /** IOTLB invalidate, domain-selective: every PASID of `did`. */
  invalidateDomain(did: number): void {
    for (const d of this.domains.values()) if (d.did === did) d.clear()
  }

  /** IOTLB invalidate, page-selective: 2^am pages at addr, every PASID of `did`. */
  invalidatePages(did: number, addr: number, am: number): void {
    const length = 4096 * 2 ** am
    const base = addr - (addr % length)
    for (const d of this.domains.values()) if (d.did === did) d.invalidateRange(base, length)
  }

  /** PASID-based IOTLB invalidate: all of (did, pasid), or 2^am pages of it. */
  invalidatePasid(did: number, pasid: number, addr?: number, am = 0): void {
    const d = this.domains.get(did * 0x200000 + pasid)
    if (!d) return
    if (addr === undefined) {
      d.clear()
      return
    }
    const length = 4096 * 2 ** am
    d.invalidateRange(addr - (addr % length), length)
  }
}
