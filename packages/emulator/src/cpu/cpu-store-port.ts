import type { PhysicalMemory } from '../memory/physical-memory.js'

/**
 * The emulated CPU's view of memory when a driver writes hardware structures. Every store is a
 * store boundary at which a device's DMA (and its table walks) may interleave: the deterministic
 * scheduler is told after each one, so that it can run DMA between any two stores of a
 * multi-word update (the window where a device reads a half-written STE or context entry).
 *
 * Widths are those the real drivers use: 64-bit stores for SMMUv3 STE/CD qwords and page-table
 * descriptors (arm_smmu_write_entry, WRITE_ONCE), and on x86-64 a 128-bit compare-exchange
 * (cmpxchg16b) that VT-d context entries may be replaced with.
 */
export interface StoreBoundaryListener {
  /** Called after each CPU store became visible; `pa` is the first byte stored. */
  afterStore(pa: number, bytes: 8 | 16): void
}

export class CpuStorePort {
  private listener: StoreBoundaryListener | undefined

  constructor(
    readonly memory: PhysicalMemory,
    /** Concurrent mode: stores use Atomics so a DMA worker never sees a torn 64-bit word. */
    readonly atomic = false,
  ) {}

  setListener(listener: StoreBoundaryListener | undefined): void {
    this.listener = listener
  }

  read64(pa: number): bigint {
    return this.atomic ? this.memory.atomicRead64(pa) : this.memory.read64(pa)
  }

  /** One 64-bit single-copy-atomic store. */
  store64(pa: number, value: bigint): void {
    if (this.atomic) this.memory.atomicWrite64(pa, value)
    else this.memory.write64(pa, value)
    this.listener?.afterStore(pa, 8)
  }

  /**
   * The same single-copy-atomic 64-bit store as `store64`, given as two 32-bit halves (no BigInt on
   * hot paths such as building a million page-table entries). `lo` and `hi` are unsigned 32-bit.
   */
  store64Split(pa: number, lo: number, hi: number): void {
    if (this.atomic) {
      this.memory.atomicWrite64(pa, (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0))
    } else {
      const i = pa / 4
      this.memory.u32[i] = lo
      this.memory.u32[i + 1] = hi
    }
    this.listener?.afterStore(pa, 8)
  }

  /**
   * One 128-bit compare-exchange (x86-64 cmpxchg16b). Returns true when the old value matched and
   * the new one was stored. In concurrent mode JavaScript has no 128-bit atomics: the VT-d model
   * pairs this with a sequence lock that readers of 128-bit chunks honour (see vtd/).
   */
  cmpxchg128(pa: number, expectLo: bigint, expectHi: bigint, lo: bigint, hi: bigint): boolean {
    if (this.read64(pa) !== expectLo || this.read64(pa + 8) !== expectHi) return false
    if (this.atomic) {
      this.memory.atomicWrite64(pa, lo)
      this.memory.atomicWrite64(pa + 8, hi)
    } else {
      this.memory.write64(pa, lo)
      this.memory.write64(pa + 8, hi)
    }
    this.listener?.afterStore(pa, 16)
    return true
  }
}
