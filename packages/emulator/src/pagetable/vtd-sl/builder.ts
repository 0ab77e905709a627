import type { CpuStorePort } from '../../cpu/cpu-store-port.js'
import type { FrameAllocator } from '../../memory/frame-allocator.js'
import { SL_PTE, type SlLeafSize, leafLevelOf, slLevelSize } from './sl-pte.js'

export interface SlMapping {
  pa: number
  size: SlLeafSize
  r: boolean
  w: boolean
}

const TWO32 = 0x100000000

/**
 * The kernel side of a second-level page table: maps and unmaps 4 KiB / 2 MiB / 1 GiB leaves by
 * writing 64-bit entries through the CPU store port, in the order the Linux driver does
 * (drivers/iommu/intel/iommu.c `pfn_to_dma_pte` / `__domain_mapping`):
 * - a missing intermediate table is allocated zeroed and only then linked, with R|W set in the
 *   non-leaf entry (`DMA_PTE_READ | DMA_PTE_WRITE`), so a device never walks into garbage;
 * - a leaf is one 64-bit store; an unmap stores 0 (`dma_clear_pte`).
 *
 * The table lives only in PhysicalMemory: the builder keeps no per-entry JS state (it reads
 * the tables back to find its way), so a new kernel can adopt a preserved table with
 * `SlPageTableBuilder.adopt()` after kexec. It does record its table frames (`tableFrames`) so
 * that they can be preserved or freed.
 *
 * Replacing an (empty) lower-level table by a superpage unlinks the table; its frame is not freed
 * at once but queued in `unlinkedTables` — the caller frees it after the IOTLB invalidation, as
 * Linux frees page-table pages from a freelist after the flush (`iommu_put_pages_list`).
 */
export class SlPageTableBuilder {
  readonly tableFrames = new Set<number>()
  readonly unlinkedTables: number[] = []

  private constructor(
    readonly port: CpuStorePort,
    readonly frames: FrameAllocator,
    /** 3 (39-bit, AGAW 1) or 4 (48-bit, AGAW 2). */
    readonly levels: 3 | 4,
    readonly root: number,
  ) {}

  static create(port: CpuStorePort, frames: FrameAllocator, levels: 3 | 4 = 4): SlPageTableBuilder {
    const b = new SlPageTableBuilder(port, frames, levels, frames.alloc())
    b.tableFrames.add(b.root)
    return b
  }

  /** Takes over an existing table (a new kernel after kexec); re-discovers its table frames. */
  static adopt(port: CpuStorePort, frames: FrameAllocator, levels: 3 | 4, root: number): SlPageTableBuilder {
    const b = new SlPageTableBuilder(port, frames, levels, root)
    b.collectTables(root, levels)
    return b
  }

  /** Address width covered by the table: 39 or 48 bits. */
  get addressWidth(): number {
    return 12 + 9 * this.levels
  }

  map(iova: number, pa: number, size: number, perm: { r: boolean; w: boolean }): void {
    this.checkAligned(iova, pa, size)
    if (!perm.r && !perm.w) throw new RangeError('a second-level leaf needs R or W (R=W=0 is not present)')
    const leafLevel = leafLevelOf(size)
    const table = this.tableFor(iova, leafLevel, true)
    const slot = table + this.indexAt(iova, leafLevel) * 8
    const lo = this.lo(slot)
    if ((lo & 3) !== 0) {
      const isTable = leafLevel > 1 && (lo & SL_PTE.PS) === 0
      if (!isTable) throw new Error(`IOVA 0x${iova.toString(16)} is already mapped`)
      // A lower-level table sits where the superpage goes: only an empty one may be replaced.
      const sub = this.addrOf(slot)
      if (!this.isEmptyTable(sub, leafLevel - 1)) {
        throw new Error(`IOVA range at 0x${iova.toString(16)} has smaller mappings; unmap them first`)
      }
      this.forgetTables(sub, leafLevel - 1)
    }
    const leafLo =
      ((pa % TWO32) & SL_PTE.ADDR_LO) |
      (perm.r ? SL_PTE.R : 0) |
      (perm.w ? SL_PTE.W : 0) |
      (leafLevel > 1 ? SL_PTE.PS : 0)
    this.store(slot, leafLo >>> 0, Math.floor(pa / TWO32))
  }

  /** Maps [iova, iova+length) to [pa, pa+length) with leaves of `size`. */
  mapRange(
    iova: number,
    pa: number,
    length: number,
    size: SlLeafSize,
    perm: { r: boolean; w: boolean },
  ): void {
    for (let off = 0; off < length; off += size) this.map(iova + off, pa + off, size, perm)
  }

  /** Clears the leaf of exactly `size` at `iova`; returns false when nothing was mapped there. */
  unmap(iova: number, size: number): boolean {
    const leafLevel = leafLevelOf(size)
    if (iova % size !== 0) throw new RangeError(`IOVA 0x${iova.toString(16)} not aligned to ${size}`)
    const table = this.tableFor(iova, leafLevel, false)
    if (table < 0) return false
    const slot = table + this.indexAt(iova, leafLevel) * 8
    const lo = this.lo(slot)
    if ((lo & 3) === 0) return false
    if (leafLevel > 1 && (lo & SL_PTE.PS) === 0) {
      throw new Error(`IOVA 0x${iova.toString(16)} is mapped with smaller leaves than ${size}`)
    }
    this.store(slot, 0, 0)
    return true
  }

  /** Software walk (the CPU reading its own table): the leaf mapping `iova`, if any. */
  lookup(iova: number): SlMapping | undefined {
    let table = this.root
    for (let level: number = this.levels; level >= 1; level--) {
      const slot = table + this.indexAt(iova, level) * 8
      const lo = this.lo(slot)
      if ((lo & 3) === 0) return undefined
      if (level === 1 || (lo & SL_PTE.PS) !== 0) {
        const size = slLevelSize(level) as SlLeafSize
        return {
          pa: this.addrOf(slot) + (iova % size),
          size,
          r: (lo & SL_PTE.R) !== 0,
          w: (lo & SL_PTE.W) !== 0,
        }
      }
      table = this.addrOf(slot)
    }
    return undefined
  }

  /** Bytes of table memory in use (every linked table frame). */
  get tableBytes(): number {
    return this.tableFrames.size * 4096
  }

  private checkAligned(iova: number, pa: number, size: number): void {
    if (iova % size !== 0 || pa % size !== 0) {
      throw new RangeError(`IOVA 0x${iova.toString(16)} / PA 0x${pa.toString(16)} not aligned to ${size}`)
    }
    if (iova + size > 2 ** this.addressWidth) {
      throw new RangeError(`IOVA 0x${iova.toString(16)} beyond the ${this.addressWidth}-bit table`)
    }
  }

  private indexAt(iova: number, level: number): number {
    return Math.floor(iova / slLevelSize(level)) % 512
  }

  private lo(slot: number): number {
    return this.port.memory.u32[slot >>> 2]
  }

  private addrOf(slot: number): number {
    const u32 = this.port.memory.u32
    return (u32[(slot >>> 2) + 1] & 0xfffff) * TWO32 + ((u32[slot >>> 2] & SL_PTE.ADDR_LO) >>> 0)
  }

  private store(slot: number, lo: number, hi: number): void {
    this.port.store64Split(slot, lo >>> 0, hi >>> 0)
  }

  /** The table holding the entry for `iova` at `level`; allocates missing tables when `create`. */
  private tableFor(iova: number, level: number, create: boolean): number {
    let table = this.root
    for (let l = this.levels; l > level; l--) {
      const slot = table + this.indexAt(iova, l) * 8
      const lo = this.lo(slot)
      if ((lo & 3) === 0) {
        if (!create) return -1
        const next = this.frames.alloc()
        this.tableFrames.add(next)
        // Linked only after it is zeroed (FrameAllocator.alloc zeroes): non-leaf entries carry R|W.
        this.store(slot, ((next % TWO32) | SL_PTE.R | SL_PTE.W) >>> 0, Math.floor(next / TWO32))
        table = next
      } else if ((lo & SL_PTE.PS) !== 0) {
        if (!create) return -1
        throw new Error(`IOVA 0x${iova.toString(16)} lies in a superpage; unmap it first`)
      } else {
        table = this.addrOf(slot)
      }
    }
    return table
  }

  private isEmptyTable(table: number, level: number): boolean {
    for (let i = 0; i < 512; i++) {
      const slot = table + i * 8
      const lo = this.lo(slot)
      if ((lo & 3) === 0) continue
      if (level === 1 || (lo & SL_PTE.PS) !== 0) return false
      if (!this.isEmptyTable(this.addrOf(slot), level - 1)) return false
    }
    return true
  }

  private forgetTables(table: number, level: number): void {
    if (level > 1) {
      for (let i = 0; i < 512; i++) {
        const slot = table + i * 8
        const lo = this.lo(slot)
        if ((lo & 3) !== 0 && (lo & SL_PTE.PS) === 0) this.forgetTables(this.addrOf(slot), level - 1)
      }
    }
    this.tableFrames.delete(table)
    this.unlinkedTables.push(table)
  }

  private collectTables(table: number, level: number): void {
    this.tableFrames.add(table)
    if (level === 1) return
    for (let i = 0; i < 512; i++) {
      const slot = table + i * 8
      const lo = this.lo(slot)
      if ((lo & 3) !== 0 && (lo & SL_PTE.PS) === 0) this.collectTables(this.addrOf(slot), level - 1)
    }
  }
}
