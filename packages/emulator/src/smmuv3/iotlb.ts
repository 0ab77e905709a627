import { PageMap } from '../iommu/page-map.js'

/**
 * The SMMU's TLB (IHI 0070, 16.2 "TLB tagging, VMIDs, ASIDs"): successful translations cached
 * per tag — (stage 1, VMID, ASID) or (stage 2, VMID) — and per leaf size, as QEMU keys its IOTLB
 * by (ASID, VMID, IOVA, TG, level). Hardware-internal state: lives in JS, survives kexec, and is
 * dropped only by TLBI_* commands (or by capacity eviction, which the architecture allows at any
 * time: as QEMU's smmu_iotlb_insert, a full IOTLB is emptied).
 *
 * Entries are packed numbers: output frame (PA / 4 KiB) * 8 + permission bits (PERM_READ/WRITE/
 * EXEC), no object per entry, held in typed-array open-addressing hashes (`PageMap`, shared with
 * the VT-d model): a JS Map lookup and insert cost several times more on the translation path.
 * Faulting translations are never cached.
 *
 * Break-before-make (IHI 0070, 3.21.1; Arm ARM D8.16): when the same address is cached at two
 * leaf sizes, a BBML0/1 SMMU may raise F_TLB_CONFLICT; a BBML2 one uses either translation
 * without aborting. `insert` reports whether it left two sizes cached for one address; `lookup`
 * reports how many sizes matched.
 */
/**
 * `Math.floor(iova / LEVEL_SIZE[level])` with literal divisors: the compiler turns a division by a
 * constant power of two into a multiplication, not by a size read from an array.
 */
function pageOf(iova: number, level: number): number {
  return level === 3
    ? Math.floor(iova / 4096)
    : level === 2
      ? Math.floor(iova / 2097152)
      : Math.floor(iova / 1073741824)
}

export class IotlbBucket {
  /** Index = leaf level (1: 1 GiB, 2: 2 MiB, 3: 4 KiB); key = iova / leaf size. */
  readonly levels: [null, PageMap, PageMap, PageMap] = [null, new PageMap(), new PageMap(), new PageMap()]

  constructor(
    readonly stage: 1 | 2,
    readonly vmid: number,
    readonly asid: number,
  ) {}

  get size(): number {
    return this.levels[1].size + this.levels[2].size + this.levels[3].size
  }
}

export class Iotlb {
  readonly buckets = new Map<number, IotlbBucket>()
  /** Entries held. */
  size = 0
  /** Result of the last `lookup` that matched: packed value and level. */
  value = 0
  level = 0
  hits = 0
  misses = 0
  inserts = 0
  conflicts = 0
  evictions = 0

  constructor(
    /** Maximum number of entries before the whole IOTLB is emptied. */
    readonly capacity = 8192,
    /** IDR3.BBML. */
    readonly bbml = 0,
  ) {}

  static tagKey(stage: number, vmid: number, asid: number): number {
    return stage * 4294967296 + vmid * 65536 + asid
  }

  bucket(stage: 1 | 2, vmid: number, asid: number): IotlbBucket {
    const key = Iotlb.tagKey(stage, vmid, asid)
    let b = this.buckets.get(key)
    if (b === undefined) {
      b = new IotlbBucket(stage, vmid, stage === 1 ? asid : 0)
      this.buckets.set(key, b)
    }
    return b
  }

  /** Number of leaf sizes cached for `iova` in `b` (0, 1, or more: a conflict). */
  lookup(b: IotlbBucket, iova: number): number {
    let matches = 0
    if (iova < 0) {
      // Never cached (a walk faults on it); PageMap keys must not be negative.
      this.misses++
      return 0
    }
    const l3 = b.levels[3]
    if (l3.size !== 0) {
      const v = l3.get(Math.floor(iova / 4096))
      if (v >= 0) {
        this.value = v
        this.level = 3
        matches++
      }
    }
    const l2 = b.levels[2]
    if (l2.size !== 0) {
      const v = l2.get(Math.floor(iova / 2097152))
      if (v >= 0) {
        this.value = v
        this.level = 2
        matches++
      }
    }
    const l1 = b.levels[1]
    if (l1.size !== 0) {
      const v = l1.get(Math.floor(iova / 1073741824))
      if (v >= 0) {
        this.value = v
        this.level = 1
        matches++
      }
    }
    if (matches === 0) this.misses++
    else this.hits++
    return matches
  }

  /**
   * Caches a walk result. Returns true if another leaf size is now cached for `iova` too (a
   * BBML0/1 break-before-make violation became visible); with BBML2 the other size is dropped.
   */
  insert(b: IotlbBucket, iova: number, level: number, outputAddress: number, perm: number): boolean {
    if (this.size >= this.capacity) {
      this.flushAll()
      this.evictions++
    }
    const levels = b.levels
    const m = levels[level] as PageMap
    // Other sizes are looked at only when they hold entries (with 4 KiB pages only, never): the
    // common case stays small enough for the compiler to inline into the translation.
    if (levels[1].size + levels[2].size + levels[3].size !== m.size)
      return this.insertBesideOtherSizes(b, iova, level, outputAddress, perm)
    if (m.set(pageOf(iova, level), (outputAddress / 4096) * 8 + perm)) this.size++
    this.inserts++
    return false
  }

  private insertBesideOtherSizes(
    b: IotlbBucket,
    iova: number,
    level: number,
    outputAddress: number,
    perm: number,
  ): boolean {
    let conflict = false
    const levels = b.levels
    for (let l = 1; l <= 3; l++) {
      if (l === level) continue
      const m = levels[l] as PageMap
      if (m.size === 0) continue
      const k = pageOf(iova, l)
      if (!m.has(k)) continue
      if (this.bbml >= 2) {
        m.delete(k)
        this.size--
      } else conflict = true
    }
    const m = levels[level] as PageMap
    if (m.set(pageOf(iova, level), (outputAddress / 4096) * 8 + perm)) this.size++
    this.inserts++
    if (conflict) this.conflicts++
    return conflict
  }

  private clearBucket(b: IotlbBucket): void {
    this.size -= b.size
    b.levels[1].clear()
    b.levels[2].clear()
    b.levels[3].clear()
  }

  /** Drops every entry of `b` that covers `addr` (TLBI_NH_VA / TLBI_S2_IPA for one address). */
  private dropAddress(b: IotlbBucket, addr: number): void {
    for (let l = 1; l <= 3; l++) {
      const m = b.levels[l] as PageMap
      if (m.delete(pageOf(addr, l))) this.size--
    }
  }

  private forBuckets(pred: (b: IotlbBucket) => boolean, fn: (b: IotlbBucket) => void): void {
    for (const b of this.buckets.values()) if (pred(b)) fn(b)
  }

  /** CMD_TLBI_NH_ASID: stage-1 entries of (VMID, ASID). */
  invalidateAsid(vmid: number, asid: number): void {
    this.forBuckets(
      (b) => b.stage === 1 && b.vmid === vmid && b.asid === asid,
      (b) => this.clearBucket(b),
    )
  }

  /** CMD_TLBI_NH_VA: stage-1 entries of (VMID, ASID) covering `addr`. */
  invalidateVa(vmid: number, asid: number, addr: number): void {
    this.forBuckets(
      (b) => b.stage === 1 && b.vmid === vmid && b.asid === asid,
      (b) => this.dropAddress(b, addr),
    )
  }

  /** CMD_TLBI_NH_ALL: all stage-1 entries of VMID. */
  invalidateNhAll(vmid: number): void {
    this.forBuckets(
      (b) => b.stage === 1 && b.vmid === vmid,
      (b) => this.clearBucket(b),
    )
  }

  /** CMD_TLBI_S12_VMALL: all entries, both stages, of VMID. */
  invalidateVmAll(vmid: number): void {
    this.forBuckets(
      (b) => b.vmid === vmid,
      (b) => this.clearBucket(b),
    )
  }

  /** CMD_TLBI_S2_IPA: stage-2 entries of VMID covering `ipa`. */
  invalidateIpa(vmid: number, ipa: number): void {
    this.forBuckets(
      (b) => b.stage === 2 && b.vmid === vmid,
      (b) => this.dropAddress(b, ipa),
    )
  }

  /** CMD_TLBI_NSNH_ALL, and capacity eviction. */
  flushAll(): void {
    for (const b of this.buckets.values()) this.clearBucket(b)
    this.size = 0
  }
}
