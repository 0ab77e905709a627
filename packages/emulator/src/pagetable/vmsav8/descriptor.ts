/**
 * VMSAv8-64 translation table descriptors, 4 KiB granule (Arm ARM DDI 0487, D8.3 "Translation
 * table descriptor formats"; Linux drivers/iommu/io-pgtable-arm.c `ARM_LPAE_PTE_*`).
 *
 * A descriptor is one little-endian 64-bit word. Hot paths keep it as two unsigned 32-bit halves
 * (`lo` = bits [31:0], `hi` = bits [63:32]) so that no BigInt is created per walk step; the field
 * constants below are therefore given per half. Bit numbers in the names are those of the 64-bit
 * descriptor.
 *
 *   [1:0]  type: 0b11 table (levels 0-2) or page (level 3), 0b01 block (levels 1-2), 0bx0 invalid
 *   [4:2]  AttrIndx (stage 1)          | MemAttr[3:0] [5:2] (stage 2)
 *   [5]    NS (stage 1)
 *   [7:6]  AP[2:1] (stage 1)           | S2AP[1:0] (stage 2)
 *   [9:8]  SH
 *   [10]   AF
 *   [11]   nG (stage 1)
 *   [47:12] output address (4 KiB page), [47:21] (2 MiB block), [47:30] (1 GiB block)
 *   [52]   Contiguous, [53] PXN, [54] UXN/XN (stage 1) | XN[1:0] [54:53] (stage 2)
 *   Table descriptors: [47:12] next-level table address, [59] PXNTable, [60] XNTable,
 *   [62:61] APTable, [63] NSTable.
 */

export const GRANULE_SHIFT = 12
export const GRANULE_SIZE = 1 << GRANULE_SHIFT
/** 4 KiB granule: 512 eight-byte descriptors per table, 9 input-address bits per level. */
export const ENTRIES_PER_TABLE = 512
export const BITS_PER_LEVEL = 9

/** Input-address bit at which each level's index starts: level 0 → 39, 1 → 30, 2 → 21, 3 → 12. */
export const LEVEL_SHIFT = [39, 30, 21, 12] as const
/** Bytes covered by one descriptor at each level: 512 GiB, 1 GiB (block), 2 MiB (block), 4 KiB. */
export const LEVEL_SIZE = [2 ** 39, 2 ** 30, 2 ** 21, 2 ** 12] as const

export const SIZE_4K = 2 ** 12
export const SIZE_2M = 2 ** 21
export const SIZE_1G = 2 ** 30

/** Leaf level for a leaf size: 4 KiB → 3, 2 MiB → 2, 1 GiB → 1. */
export function levelForSize(size: number): 1 | 2 | 3 {
  if (size === SIZE_4K) return 3
  if (size === SIZE_2M) return 2
  if (size === SIZE_1G) return 1
  throw new RangeError(`unsupported leaf size ${size} (4 KiB granule: 4 KiB pages, 2 MiB or 1 GiB blocks)`)
}

// ---- low half (bits [31:0]) ----
/** [1:0] descriptor type. */
export const DESC_TYPE_MASK = 0b11
export const DESC_TYPE_BLOCK = 0b01
/** Table at levels 0-2, page at level 3. */
export const DESC_TYPE_TABLE_OR_PAGE = 0b11
/** Bit 0: valid. A descriptor with bit 0 clear is invalid whatever its other bits. */
export const DESC_VALID = 1 << 0
/** [4:2] stage-1 AttrIndx (MAIR index). */
export const DESC_ATTRINDX_SHIFT = 2
/** [5:2] stage-2 MemAttr. */
export const DESC_S2_MEMATTR_SHIFT = 2
/** [7:6] stage-1 AP[2:1]: AP[1] (bit 6) grants unprivileged (EL0) access. */
export const DESC_AP_UNPRIV = 1 << 6
/** Stage-1 AP[2] (bit 7): read-only. */
export const DESC_AP_RDONLY = 1 << 7
/** Stage-2 S2AP[0] (bit 6): reads permitted. */
export const DESC_S2AP_READ = 1 << 6
/** Stage-2 S2AP[1] (bit 7): writes permitted. */
export const DESC_S2AP_WRITE = 1 << 7
/** [9:8] shareability; io-pgtable-arm uses inner shareable (3). */
export const DESC_SH_SHIFT = 8
export const DESC_SH_IS = 3 << 8
/** Bit 10: access flag. With AF=0 and AFFD=0 an access raises F_ACCESS (SMMUv3 IHI 0070, 3.13.1). */
export const DESC_AF = 1 << 10
/** Bit 11: not global (stage 1). */
export const DESC_NG = 1 << 11
/** Output address bits [31:12] of a page or table descriptor, within the low half. */
export const DESC_ADDR_LO_MASK_4K = 0xfffff000
/** Output address bits [31:21] of a 2 MiB block (bits [20:12] are RES0 in a level-2 block). */
export const DESC_ADDR_LO_MASK_2M = 0xffe00000
/** Output address bits [31:30] of a 1 GiB block. */
export const DESC_ADDR_LO_MASK_1G = 0xc0000000

// ---- high half (bits [63:32]); constants are shifted down by 32 ----
/** Output address bits [47:32]. */
export const DESC_ADDR_HI_MASK = 0xffff
/** Bit 52: contiguous hint. */
export const DESC_HI_CONTIGUOUS = 1 << (52 - 32)
/** Bit 53: PXN (stage 1) / XN[0] (stage 2). */
export const DESC_HI_PXN = 1 << (53 - 32)
/** Bit 54: UXN/XN (stage 1) / XN[1] (stage 2). io-pgtable-arm's XN mask is 3 << 53. */
export const DESC_HI_XN = 1 << (54 - 32)
/** Table descriptor bit 59: PXNTable. */
export const DESC_HI_PXNTABLE = 1 << (59 - 32)
/** Table descriptor bit 60: XNTable. */
export const DESC_HI_XNTABLE = 1 << (60 - 32)
/** Table descriptor bits [62:61]: APTable. */
export const DESC_HI_APTABLE_SHIFT = 61 - 32
/** Table descriptor bit 63: NSTable. */
export const DESC_HI_NSTABLE = 1 << (63 - 32)

/** Permissions a leaf grants to a device (non-privileged data accesses, as Linux maps them). */
export interface LeafPermissions {
  read: boolean
  write: boolean
  /** Instruction fetches permitted (XN clear). */
  exec?: boolean
}

export type TranslationStage = 1 | 2

/** Low address bits of a leaf at `level`. */
export function addrLoMask(level: number): number {
  return level === 3 ? DESC_ADDR_LO_MASK_4K : level === 2 ? DESC_ADDR_LO_MASK_2M : DESC_ADDR_LO_MASK_1G
}

/** Physical address held in a descriptor (table, page or block at `level`). */
export function descriptorAddress(lo: number, hi: number, level: number): number {
  return (hi & DESC_ADDR_HI_MASK) * 2 ** 32 + ((lo & addrLoMask(level)) >>> 0)
}

/** A table descriptor pointing at the next-level table at `tablePa` (4 KiB aligned). */
export function encodeTable(tablePa: number): { lo: number; hi: number } {
  return {
    lo: (((tablePa % 2 ** 32) & DESC_ADDR_LO_MASK_4K) | DESC_TYPE_TABLE_OR_PAGE) >>> 0,
    hi: Math.floor(tablePa / 2 ** 32),
  }
}

/**
 * A leaf (page at level 3, block at levels 1-2) mapping `pa` with `perm`, encoded as io-pgtable-arm
 * does (arm_lpae_prot_to_pte): stage 1 sets AP[1] (unprivileged) unless privileged-only, AP[2] for
 * read-only, AF, inner-shareable, nG; stage 2 sets S2AP read/write, AF, inner-shareable.
 * `af: false` leaves the access flag clear (to provoke F_ACCESS).
 */
export function encodeLeaf(
  stage: TranslationStage,
  level: number,
  pa: number,
  perm: LeafPermissions,
  opts: { af?: boolean } = {},
): { lo: number; hi: number } {
  let lo = ((pa % 2 ** 32) & addrLoMask(level)) | (level === 3 ? DESC_TYPE_TABLE_OR_PAGE : DESC_TYPE_BLOCK)
  let hi = Math.floor(pa / 2 ** 32) & DESC_ADDR_HI_MASK
  if (opts.af !== false) lo |= DESC_AF
  lo |= DESC_SH_IS
  if (stage === 1) {
    lo |= DESC_NG
    if (perm.read || perm.write) lo |= DESC_AP_UNPRIV
    if (!perm.write) lo |= DESC_AP_RDONLY
    if (!perm.exec) hi |= DESC_HI_XN | DESC_HI_PXN
  } else {
    if (perm.read) lo |= DESC_S2AP_READ
    if (perm.write) lo |= DESC_S2AP_WRITE
    if (!perm.exec) hi |= DESC_HI_XN
  }
  return { lo: lo >>> 0, hi: hi >>> 0 }
}

/** Decoded view of one descriptor, for tests, tools and the driver side (never the hot path). */
export interface DecodedDescriptor {
  kind: 'invalid' | 'table' | 'page' | 'block'
  /** Next-level table or output address. */
  address: number
  af: boolean
  /** Stage-1 AP[2:1] or stage-2 S2AP, bits [7:6]. */
  ap: number
  sh: number
  xn: boolean
  pxn: boolean
  contiguous: boolean
  nG: boolean
}

export function decodeDescriptor(lo: number, hi: number, level: number): DecodedDescriptor {
  const type = lo & DESC_TYPE_MASK
  const kind =
    (type & DESC_VALID) === 0
      ? 'invalid'
      : type === DESC_TYPE_TABLE_OR_PAGE
        ? level === 3
          ? 'page'
          : 'table'
        : level === 3 || level === 0
          ? 'invalid' // a block at level 0 or a 0b01 entry at level 3 is invalid (4 KiB granule)
          : 'block'
  return {
    kind,
    address: descriptorAddress(lo, hi, kind === 'block' ? level : 3),
    af: (lo & DESC_AF) !== 0,
    ap: (lo >>> 6) & 3,
    sh: (lo >>> 8) & 3,
    xn: (hi & DESC_HI_XN) !== 0,
    pxn: (hi & DESC_HI_PXN) !== 0,
    contiguous: (hi & DESC_HI_CONTIGUOUS) !== 0,
    nG: (lo & DESC_NG) !== 0,
  }
}

/** Joins two halves into the 64-bit value (tests, logs). */
export function toBigInt(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0)
}

/** Splits a 64-bit value into halves. */
export function fromBigInt(v: bigint): { lo: number; hi: number } {
  return { lo: Number(v & 0xffffffffn), hi: Number((v >> 32n) & 0xffffffffn) }
}

/**
 * Address-size encodings shared by CD.IPS, STE.S2PS and IDR5.OAS (IHI 0070, 5.2 and 5.4):
 * 0 → 32 bits, 1 → 36, 2 → 40, 3 → 42, 4 → 44, 5 → 48, 6 → 52.
 */
export const ADDRESS_SIZE_BITS = [32, 36, 40, 42, 44, 48, 52] as const

export function addressSizeBits(encoding: number): number {
  return ADDRESS_SIZE_BITS[Math.min(encoding, 6)]
}

export function addressSizeEncoding(bits: number): number {
  const i = ADDRESS_SIZE_BITS.indexOf(bits as (typeof ADDRESS_SIZE_BITS)[number])
  if (i < 0) throw new RangeError(`no address-size encoding for ${bits} bits`)
  return i
}

/**
 * Stage-1 start level for a 4 KiB granule from TxSZ (Arm ARM D8.2): input size 64-TxSZ bits,
 * 9 bits resolved per level above the 12-bit page offset. T0SZ=16 (48 bits) → level 0;
 * T0SZ=25 (39 bits) → level 1; T0SZ=34 (30 bits) → level 2.
 */
export function stage1StartLevel(t0sz: number): number {
  const ia = 64 - t0sz
  return 4 - Math.ceil((ia - GRANULE_SHIFT) / BITS_PER_LEVEL)
}

/**
 * Stage-2 start level for a 4 KiB granule from VTCR.SL0 (Arm ARM D8.2.2, "SL0 for 4KB granule"):
 * 0 → level 2, 1 → level 1, 2 → level 0. io-pgtable-arm computes `sl = ~(start_level + 1) & 3`.
 */
export function stage2StartLevel(sl0: number): number {
  return sl0 === 0 ? 2 : sl0 === 1 ? 1 : sl0 === 2 ? 0 : -1
}

export function stage2Sl0(startLevel: number): number {
  return ~(startLevel + 1) & 3
}
