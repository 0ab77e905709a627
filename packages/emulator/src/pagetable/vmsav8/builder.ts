import type { CpuStorePort } from '../../cpu/cpu-store-port.js'
import type { FrameAllocator } from '../../memory/frame-allocator.js'
import {
  DESC_ADDR_LO_MASK_4K,
  DESC_AF,
  DESC_TYPE_BLOCK,
  DESC_TYPE_TABLE_OR_PAGE,
  descriptorAddress,
  ENTRIES_PER_TABLE,
  encodeLeaf,
  encodeTable,
  GRANULE_SIZE,
  LEVEL_SIZE,
  type LeafPermissions,
  levelForSize,
  type TranslationStage,
} from './descriptor.js'
import { PERM_EXEC, PERM_READ, PERM_WRITE, Vmsav8Walker, WalkFault } from './walk.js'

export interface PageTableFormat {
  stage: TranslationStage
  /** Input address size in bits (64 - T0SZ or 64 - S2T0SZ). Default 48. */
  inputBits?: number
  /**
   * Start level. Default: the smallest number of levels covering inputBits (stage 1); for stage 2
   * the same, which io-pgtable-arm may lower by concatenating up to 16 start-level tables.
   */
  startLevel?: number
}

export interface MapOptions {
  /** Overwrite a live leaf (no break-before-make: the caller owns the consequences). */
  replace?: boolean
  /** Access flag; false provokes F_ACCESS unless AFFD. Default true. */
  af?: boolean
}

export interface LeafInfo {
  iova: number
  pa: number
  size: number
  perm: LeafPermissions
}

/**
 * The CPU-side writer of VMSAv8-64 tables (4 KiB granule), as a kernel's io-pgtable-arm would be:
 * it allocates table frames from the FrameAllocator and writes every descriptor with one 64-bit
 * store through the CpuStorePort, so each store is a boundary at which DMA may interleave. The
 * tables live only in emulated physical memory: the builder keeps no shadow copy (a new kernel
 * can adopt tables it did not build: `PageTableBuilder.adopt`).
 *
 * Ordering follows io-pgtable-arm: a new table is fully written (zeroed by the allocator) before
 * the table descriptor that links it is stored, so a walker never sees a half-built subtree.
 */
export class PageTableBuilder {
  readonly stage: TranslationStage
  readonly inputBits: number
  readonly startLevel: number
  /** Physical address of the start-level table (TTB0 / S2TTB). */
  readonly root: number
  /** Start-level tables (more than 1 when stage 2 concatenates). */
  readonly rootTables: number
  private readonly u32: Uint32Array
  /** Table frames allocated by this builder (including the root). */
  tableFrames = 0

  private constructor(
    readonly port: CpuStorePort,
    readonly allocator: FrameAllocator,
    format: PageTableFormat,
    root: number | undefined,
  ) {
    this.stage = format.stage
    this.inputBits = format.inputBits ?? 48
    const minStart = 4 - Math.ceil((this.inputBits - 12) / 9)
    this.startLevel = format.startLevel ?? minStart
    const rootEntries = 2 ** (this.inputBits - Math.log2(LEVEL_SIZE[this.startLevel]))
    this.rootTables = Math.max(1, Math.ceil(rootEntries / ENTRIES_PER_TABLE))
    if (this.rootTables > 16) throw new RangeError('more than 16 concatenated start-level tables')
    this.u32 = port.memory.u32
    if (root === undefined) {
      root =
        this.rootTables === 1
          ? allocator.alloc()
          : allocator.allocContiguous(this.rootTables, this.rootTables)
      this.tableFrames += this.rootTables
    }
    this.root = root
  }

  /** A new, empty table tree. */
  static create(port: CpuStorePort, allocator: FrameAllocator, format: PageTableFormat): PageTableBuilder {
    return new PageTableBuilder(port, allocator, format, undefined)
  }

  /** Takes over an existing tree at `root` (e.g. preserved across kexec). */
  static adopt(
    port: CpuStorePort,
    allocator: FrameAllocator,
    format: PageTableFormat,
    root: number,
  ): PageTableBuilder {
    return new PageTableBuilder(port, allocator, format, root)
  }

  /** Walk regime for this tree (what a CD or STE should say). */
  regime(outputBits = 48, affd = false) {
    return {
      stage: this.stage,
      ttb: this.root,
      startLevel: this.startLevel,
      inputBits: this.inputBits,
      outputBits,
      affd,
    }
  }

  private readDesc(pa: number): [number, number] {
    const i = pa / 4
    return [this.u32[i], this.u32[i + 1]]
  }

  private indexAt(iova: number, level: number): number {
    return level === this.startLevel ? Math.floor(iova / LEVEL_SIZE[level]) : (iova / LEVEL_SIZE[level]) & 511
  }

  /**
   * Descends to the table holding `iova`'s descriptor at `leafLevel`, creating missing tables.
   * Throws if a leaf sits above `leafLevel` on the way (unmap or split it first).
   */
  private tableFor(iova: number, leafLevel: number, create: boolean): number {
    let table = this.root
    for (let level = this.startLevel; level < leafLevel; level++) {
      const dpa = table + this.indexAt(iova, level) * 8
      const [lo, hi] = this.readDesc(dpa)
      if ((lo & 1) === 0) {
        if (!create) return -1
        const next = this.allocator.alloc()
        this.tableFrames++
        const d = encodeTable(next)
        this.port.store64Split(dpa, d.lo, d.hi)
        table = next
      } else if ((lo & 2) !== 0) {
        table = descriptorAddress(lo, hi, 3)
      } else {
        throw new Error(
          `iova 0x${iova.toString(16)}: a ${LEVEL_SIZE[level] / 2 ** 20} MiB block covers it at level ${level}`,
        )
      }
    }
    return table
  }

  /** Maps [iova, iova+size) → [pa, pa+size) with one leaf of `size` (4 KiB, 2 MiB or 1 GiB). */
  map(iova: number, pa: number, size: number, perm: LeafPermissions, opts: MapOptions = {}): void {
    const level = levelForSize(size)
    if (iova % size !== 0 || pa % size !== 0)
      throw new RangeError('iova and pa must be aligned to the leaf size')
    if (level < this.startLevel) throw new RangeError('leaf above the start level')
    const table = this.tableFor(iova, level, true)
    const dpa = table + this.indexAt(iova, level) * 8
    const [lo, hi] = this.readDesc(dpa)
    if ((lo & 1) !== 0 && !opts.replace) {
      // As io-pgtable-arm's arm_lpae_init_pte: a table whose leaves are all unmapped may be replaced
      // by a block; its frames are not reused (a walker may still be reading them).
      const emptyTable = level < 3 && (lo & 2) !== 0 && this.isEmpty(descriptorAddress(lo, hi, 3), level + 1)
      if (!emptyTable) throw new Error(`iova 0x${iova.toString(16)} is already mapped`)
    }
    const d = encodeLeaf(this.stage, level, pa, perm, { af: opts.af })
    this.port.store64Split(dpa, d.lo, d.hi)
  }

  private isEmpty(table: number, level: number): boolean {
    for (let i = 0; i < ENTRIES_PER_TABLE; i++) {
      const [lo, hi] = this.readDesc(table + i * 8)
      if ((lo & 1) === 0) continue
      if (level === 3 || (lo & 2) === 0) return false
      if (!this.isEmpty(descriptorAddress(lo, hi, 3), level + 1)) return false
    }
    return true
  }

  /** Maps `count` consecutive 4 KiB pages from `iova` to the page frames `pas[i]` (bulk, no checks). */
  mapPages(iova: number, pas: ArrayLike<number>, perm: LeafPermissions): void {
    const proto = encodeLeaf(this.stage, 3, 0, perm)
    let table = -1
    let tableBase = -1
    for (let i = 0; i < pas.length; i++) {
      const va = iova + i * GRANULE_SIZE
      const base = va - (va % LEVEL_SIZE[2])
      if (base !== tableBase) {
        table = this.tableFor(va, 3, true)
        tableBase = base
      }
      const pa = pas[i]
      const dpa = table + ((va / GRANULE_SIZE) & 511) * 8
      this.port.store64Split(
        dpa,
        (((pa % 4294967296) & DESC_ADDR_LO_MASK_4K) | proto.lo) >>> 0,
        (Math.floor(pa / 4294967296) | proto.hi) >>> 0,
      )
    }
  }

  /** Clears the leaf that maps `iova` at `size`. Returns false if nothing was mapped there. */
  unmap(iova: number, size: number): boolean {
    const level = levelForSize(size)
    const table = this.tableFor(iova, level, false)
    if (table < 0) return false
    const dpa = table + this.indexAt(iova, level) * 8
    const [lo] = this.readDesc(dpa)
    if ((lo & 1) === 0) return false
    if (level < 3 && (lo & 2) !== 0) throw new Error('a table, not a leaf, is installed there')
    this.port.store64Split(dpa, 0, 0)
    return true
  }

  /**
   * Replaces the block mapping `iova` at `blockSize` by a table of leaves one level down that map
   * the same addresses with the same permissions, as arm_lpae_split_blk_unmap does: the new table
   * is filled first, then linked with ONE store that replaces the live block (no break-before-make).
   * On BBML0/1 hardware that store changes a live translation's size. Returns the new table.
   */
  splitBlock(iova: number, blockSize: number): number {
    const level = levelForSize(blockSize)
    if (level === 3) throw new RangeError('a 4 KiB page cannot be split')
    const table = this.tableFor(iova, level, false)
    const dpa = table + this.indexAt(iova, level) * 8
    const [lo, hi] = this.readDesc(dpa)
    if ((lo & 3) !== DESC_TYPE_BLOCK) throw new Error('no block there')
    const next = this.allocator.alloc()
    this.tableFrames++
    const childSize = LEVEL_SIZE[level + 1]
    const base = descriptorAddress(lo, hi, level)
    const attrLo = lo & 0xfff & ~3
    const childType = level + 1 === 3 ? DESC_TYPE_TABLE_OR_PAGE : DESC_TYPE_BLOCK
    for (let i = 0; i < ENTRIES_PER_TABLE; i++) {
      const pa = base + i * childSize
      // Writes into an unlinked table: plain stores, no device can reach them yet.
      const ci = (next + i * 8) / 4
      this.u32[ci] = (((pa % 4294967296) & DESC_ADDR_LO_MASK_4K) | attrLo | childType) >>> 0
      this.u32[ci + 1] = (Math.floor(pa / 4294967296) & 0xffff) | (hi & 0xffff0000)
    }
    const d = encodeTable(next)
    this.port.store64Split(dpa, d.lo, d.hi)
    return next
  }

  /**
   * Replaces the table under `iova` at level(blockSize) by one block mapping `pa` (a merge without
   * break-before-make). The old table frame is returned, not freed: a walker may still hold it.
   */
  replaceTableWithBlock(iova: number, blockSize: number, pa: number, perm: LeafPermissions): number {
    const level = levelForSize(blockSize)
    const table = this.tableFor(iova, level, false)
    const dpa = table + this.indexAt(iova, level) * 8
    const [lo, hi] = this.readDesc(dpa)
    if ((lo & 3) !== DESC_TYPE_TABLE_OR_PAGE) throw new Error('no table there')
    const d = encodeLeaf(this.stage, level, pa, perm)
    this.port.store64Split(dpa, d.lo, d.hi)
    return descriptorAddress(lo, hi, 3)
  }

  /** Software walk (the CPU's view): the leaf covering `iova`, or undefined. */
  lookup(iova: number): LeafInfo | undefined {
    const w = new Vmsav8Walker(this.port.memory)
    const f = w.walkRaw(this.stage, this.root, this.startLevel, this.inputBits, 52, true, iova)
    if (f !== WalkFault.None) return undefined
    return {
      iova: iova - (iova % w.leafSize),
      pa: w.outputAddress,
      size: w.leafSize,
      perm: {
        read: (w.perm & PERM_READ) !== 0,
        write: (w.perm & PERM_WRITE) !== 0,
        exec: (w.perm & PERM_EXEC) !== 0,
      },
    }
  }

  /** Calls `fn` with every table frame of the tree (root first); e.g. to preserve them for kexec. */
  forEachTable(fn: (pa: number, level: number) => void): void {
    const visit = (pa: number, level: number, entries: number) => {
      fn(pa, level)
      if (level === 3) return
      for (let i = 0; i < entries; i++) {
        const [lo, hi] = this.readDesc(pa + i * 8)
        if ((lo & 3) === DESC_TYPE_TABLE_OR_PAGE)
          visit(descriptorAddress(lo, hi, 3), level + 1, ENTRIES_PER_TABLE)
      }
    }
    visit(this.root, this.startLevel, this.rootTables * ENTRIES_PER_TABLE)
  }

  /** Every leaf, in IOVA order (tests and verifiers; walks memory). */
  leaves(): LeafInfo[] {
    const out: LeafInfo[] = []
    const visit = (pa: number, level: number, entries: number, base: number) => {
      for (let i = 0; i < entries; i++) {
        const [lo, hi] = this.readDesc(pa + i * 8)
        if ((lo & 1) === 0) continue
        const va = base + i * LEVEL_SIZE[level]
        if ((lo & 2) !== 0 && level < 3) visit(descriptorAddress(lo, hi, 3), level + 1, ENTRIES_PER_TABLE, va)
        else {
          const info = this.lookup(va)
          if (info) out.push(info)
        }
      }
    }
    visit(this.root, this.startLevel, this.rootTables * ENTRIES_PER_TABLE, 0)
    return out
  }
}

/** True if the descriptor at `pa` has AF set (tests). */
export function descriptorHasAf(u32: Uint32Array, pa: number): boolean {
  return (u32[pa / 4] & DESC_AF) !== 0
}
