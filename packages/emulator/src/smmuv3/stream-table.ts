import { field, getAddress, getHalf } from './qword-field.js'
import { STE_SIZE } from './stream-table-entry.js'

/**
 * Locating an STE (IHI 0070, 3.3 "Data structures and translation procedure"): STRTAB_BASE holds
 * the table address, STRTAB_BASE_CFG its format. Linear: LOG2SIZE bits of StreamID index one array
 * of STEs. 2-level: the StreamID's bits above SPLIT index an array of 8-byte L1 descriptors, each
 * pointing at an array of 2^(Span-1) STEs indexed by the low SPLIT bits.
 */
export const STRTAB_BASE_CFG = {
  /** FMT [17:16]: 0 linear, 1 2-level. */
  FMT: field(0, 17, 16),
  /** SPLIT [10:6]: StreamID bits resolved by the L2 tables (Linux uses 8: 256 STEs per L2). */
  SPLIT: field(0, 10, 6),
  /** LOG2SIZE [5:0]: StreamIDs covered = 2^LOG2SIZE. */
  LOG2SIZE: field(0, 5, 0),
} as const

export const STRTAB_FMT_LINEAR = 0
export const STRTAB_FMT_2LVL = 1

/** STRTAB_BASE: ADDR [51:6], RA bit 62. */
export const STRTAB_BASE = {
  ADDR: field(0, 51, 6),
  RA: field(0, 62),
} as const

/** Level-1 stream table descriptor (STRTAB_L1_DESC_*): SPAN [4:0], L2Ptr [51:6]. */
export const L1STD = {
  SPAN: field(0, 4, 0),
  L2Ptr: field(0, 51, 6),
} as const

export const L1STD_SIZE = 8

/** Linux's arm_smmu_write_strtab_l1_desc: Span = SPLIT + 1 covers 2^SPLIT STEs. */
export function encodeL1Std(l2ptr: number, span: number): bigint {
  return (BigInt(l2ptr) & L1STD.L2Ptr.mask) | BigInt(span & 0x1f)
}

export function encodeStrtabBaseCfg(fmt: number, log2size: number, split = 0): number {
  return ((fmt & 3) << 16) | ((split & 0x1f) << 6) | (log2size & 0x3f)
}

/** Result of locating an STE: its address, or an event ID (C_BAD_STREAMID / C_BAD_STE). */
export const LOCATE_BAD_STREAMID = -0x02
export const LOCATE_BAD_STE = -0x04

/**
 * Address of the STE for `sid`, or LOCATE_BAD_STREAMID / LOCATE_BAD_STE. `readHalves` reads one
 * 64-bit word at a physical address into [lo, hi] (single-copy atomic).
 *   - sid ≥ 2^LOG2SIZE → C_BAD_STREAMID (IHI 0070, 3.3.1)
 *   - 2-level, L1 descriptor Span = 0 (no L2 table) → C_BAD_STREAMID (QEMU smmu_find_ste)
 *   - 2-level, L2 index ≥ 2^(Span-1) → C_BAD_STE (QEMU smmu_find_ste)
 */
export function locateSte(
  readHalves: (pa: number, out: Uint32Array) => void,
  base: number,
  cfg: number,
  sid: number,
  scratch: Uint32Array,
): number {
  const log2size = getHalf(cfg, 0, STRTAB_BASE_CFG.LOG2SIZE)
  if (sid >= 2 ** log2size) return LOCATE_BAD_STREAMID
  const fmt = getHalf(cfg, 0, STRTAB_BASE_CFG.FMT)
  if (fmt === STRTAB_FMT_LINEAR) return base + sid * STE_SIZE
  const split = getHalf(cfg, 0, STRTAB_BASE_CFG.SPLIT)
  const l1 = Math.floor(sid / 2 ** split)
  const l2 = sid % 2 ** split
  readHalves(base + l1 * L1STD_SIZE, scratch)
  const span = getHalf(scratch[0], scratch[1], L1STD.SPAN)
  if (span === 0) return LOCATE_BAD_STREAMID
  if (l2 >= 2 ** (span - 1)) return LOCATE_BAD_STE
  return getAddress(scratch[0], scratch[1], L1STD.L2Ptr) + l2 * STE_SIZE
}
