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

const EMPTY = -1
const DELETED = -2

/**
 * Open-addressing hash of page number → entry, in typed arrays (linear probing, tombstones):
 * a Map costs several times more per lookup on the translation hot path.
 */
export class PageMap {
  private keys = new Float64Array(16).fill(EMPTY)
  private vals = new Float64Array(16)
  private mask = 15
  private used = 0
  size = 0

  private slot(k: number): number {
    return Math.imul((k >>> 0) ^ ((k / 0x100000000) >>> 0), 0x9e3779b1) >>> 0
  }

  get(k: number): number {
    const keys = this.keys
    const mask = this.mask
    for (let i = this.slot(k) & mask; ; i = (i + 1) & mask) {
      const x = keys[i]
      if (x === k) return this.vals[i]
      if (x === EMPTY) return -1
    }
  }

  set(k: number, v: number): void {
    const keys = this.keys
    const mask = this.mask
    let tomb = -1
    for (let i = this.slot(k) & mask; ; i = (i + 1) & mask) {
      const x = keys[i]
      if (x === k) {
        this.vals[i] = v
        return
      }
      if (x === DELETED && tomb < 0) tomb = i
      if (x === EMPTY) {
        const at = tomb >= 0 ? tomb : i
        if (tomb < 0) this.used++
        keys[at] = k
        this.vals[at] = v
        this.size++
        if (this.used * 2 > mask) this.rehash(this.size * 4 > mask ? (mask + 1) * 2 : mask + 1)
        return
      }
    }
  }

  delete(k: number): boolean {
    const keys = this.keys
    const mask = this.mask
    for (let i = this.slot(k) & mask; ; i = (i + 1) & mask) {
      const x = keys[i]
      if (x === k) {
        keys[i] = DELETED
        this.size--
        return true
      }
      if (x === EMPTY) return false
    }
  }

  clear(): void {
    if (this.size === 0 && this.used === 0) return
    this.keys = new Float64Array(16).fill(EMPTY)
    this.vals = new Float64Array(16)
    this.mask = 15
    this.used = 0
    this.size = 0
  }

  *entryKeys(): IterableIterator<number> {
    const keys = this.keys
    for (let i = 0; i < keys.length; i++) if (keys[i] >= 0) yield keys[i]
  }

  private rehash(capacity: number): void {
    const oldKeys = this.keys
    const oldVals = this.vals
    this.keys = new Float64Array(capacity).fill(EMPTY)
    this.vals = new Float64Array(capacity)
    this.mask = capacity - 1
    this.used = 0
    this.size = 0
    for (let i = 0; i < oldKeys.length; i++) if (oldKeys[i] >= 0) this.set(oldKeys[i], oldVals[i])
  }
}

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
    const size = SIZES[leafLevel - 1]
    this.maps[leafLevel - 1].set(Math.floor(iova / size), (leafBase / 4096) * 4 + perms)
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
