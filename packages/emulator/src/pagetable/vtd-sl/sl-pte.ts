/**
 * VT-d second-level paging entry (`struct dma_pte`, drivers/iommu/intel/iommu.h; Intel VT-d spec
 * 3.x §9.8 "Second-Stage Paging Entries"). 64 bits:
 *
 *   R bit 0 (DMA_PTE_READ), W bit 1 (DMA_PTE_WRITE), PS bit 7 (DMA_PTE_LARGE_PAGE, superpage,
 *   levels 2 and 3 only), SNP bit 11 (DMA_PTE_SNP), ADDR [HAW-1:12] (next table or page frame).
 *   Bits 52-61 and 63 are ignored by hardware (QEMU `VTD_SL_IGN_COM` 0xbff0000000000000),
 *   bit 62 is TM (only with device-TLB support).
 *
 * 9 bits per level (VTD_STRIDE_SHIFT), 4 KiB tables of 512 entries. Level 1 maps 4 KiB pages,
 * level 2 (PS=1) 2 MiB, level 3 (PS=1) 1 GiB; level 4 is the top of a 48-bit (AGAW 2) table and
 * level 3 the top of a 39-bit (AGAW 1) one.
 *
 * "Present" for a second-level entry means R or W set (`dma_pte_present`: `(pte->val & 3) != 0`).
 */
export const SL_PTE = {
  R: 1 << 0,
  W: 1 << 1,
  PS: 1 << 7,
  SNP: 1 << 11,
  /** Low word mask of ADDR (bits 31:12). */
  ADDR_LO: 0xfffff000,
} as const

export const SL_LEVEL_STRIDE = 9
export const SL_ENTRIES_PER_TABLE = 512
export const SL_PAGE_SHIFT = 12
/** Address shift of the region one entry at `level` (1..4) maps: 12, 21, 30, 39. */
export const slLevelShift = (level: number): number => SL_PAGE_SHIFT + SL_LEVEL_STRIDE * (level - 1)
/** Bytes one entry at `level` maps: 4 KiB, 2 MiB, 1 GiB, 512 GiB. */
export const slLevelSize = (level: number): number => 2 ** slLevelShift(level)

/** Leaf sizes the builder can map, as in CAP.SLLPS (bit 34: 2 MiB, bit 35: 1 GiB). */
export type SlLeafSize = 4096 | 2097152 | 1073741824
export const SL_SIZE_4K: SlLeafSize = 4096
export const SL_SIZE_2M: SlLeafSize = 2097152
export const SL_SIZE_1G: SlLeafSize = 1073741824

export function leafLevelOf(size: number): number {
  if (size === SL_SIZE_4K) return 1
  if (size === SL_SIZE_2M) return 2
  if (size === SL_SIZE_1G) return 3
  throw new RangeError(`${size} is not a second-level leaf size (4 KiB, 2 MiB, 1 GiB)`)
}

export interface SlPte {
  r: boolean
  w: boolean
  /** Superpage (leaf at level 2 or 3). */
  ps: boolean
  snp: boolean
  /** Next-level table or page frame physical address (4 KiB aligned, < 2^52). */
  addr: number
}

/** Encodes a second-level entry as the two 32-bit halves the CPU stores (lo = bits 31:0). */
export function encodeSlPte(e: SlPte): { lo: number; hi: number } {
  const lo =
    ((e.addr % 0x100000000) & SL_PTE.ADDR_LO) |
    (e.r ? SL_PTE.R : 0) |
    (e.w ? SL_PTE.W : 0) |
    (e.ps ? SL_PTE.PS : 0) |
    (e.snp ? SL_PTE.SNP : 0)
  const hi = Math.floor(e.addr / 0x100000000) & 0xfffff
  return { lo: lo >>> 0, hi: hi >>> 0 }
}

export function decodeSlPte(lo: number, hi: number): SlPte {
  return {
    r: (lo & SL_PTE.R) !== 0,
    w: (lo & SL_PTE.W) !== 0,
    ps: (lo & SL_PTE.PS) !== 0,
    snp: (lo & SL_PTE.SNP) !== 0,
    addr: (hi & 0xfffff) * 0x100000000 + ((lo & SL_PTE.ADDR_LO) >>> 0),
  }
}

export const slPteToBigint = (lo: number, hi: number): bigint => (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0)

/**
 * Reserved-bit masks of a second-level entry, per level and leaf/non-leaf, split in 32-bit halves
 * (QEMU hw/i386/intel_iommu_internal.h `VTD_SPTE_PAGE_L*_RSVD_MASK`, `VTD_SPTE_LPAGE_L*_RSVD_MASK`;
 * VT-d spec §9.8): bit 11 (SNP, reserved without snoop control), address bits at and above the
 * host address width (HAW) up to bit 51, TM (bit 62) without device-TLB support; PS at level 4;
 * for a 2 MiB leaf address bits 20:12, for a 1 GiB leaf bits 29:12.
 * A present entry with a reserved bit set faults with reason 0xC (legacy) / 0x7A (scalable mode).
 */
export interface SlReservedMasks {
  /** Index `level` (1..4): low-word mask for a non-leaf (or level-1 page) entry. */
  readonly lo: Uint32Array
  /** Index `level` (2..3): low-word mask for a superpage leaf (PS=1). */
  readonly loLeaf: Uint32Array
  /** High-word mask (same at every level). */
  readonly hi: number
}

export function slReservedMasks(haw: number, sllps = 0b11, snoopControl = false): SlReservedMasks {
  if (haw < 33 || haw > 52) throw new RangeError(`host address width ${haw} out of range`)
  const snp = snoopControl ? 0 : SL_PTE.SNP
  const lo = new Uint32Array(5)
  lo[1] = snp
  lo[2] = snp
  lo[3] = snp
  lo[4] = snp | SL_PTE.PS
  const loLeaf = new Uint32Array(5)
  // A superpage size the hardware does not report in CAP.SLLPS (bit 0: 2 MiB, bit 1: 1 GiB) makes
  // PS itself reserved at that level.
  loLeaf[2] = sllps & 1 ? snp | 0x001ff000 : 0xffffffff
  loLeaf[3] = sllps & 2 ? snp | 0x3ffff000 : 0xffffffff
  // High word: keep ADDR bits below HAW and the ignored bits 52-61, 63; bits HAW..51 and TM (62)
  // are reserved.
  const hawHi = (2 ** (haw - 32) - 1) >>> 0
  const ignored = 0xbff00000
  const hi = ~(hawHi | ignored) >>> 0
  return { lo, loLeaf, hi }
}
