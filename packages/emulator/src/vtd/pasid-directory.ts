import { addrField, entryAddr } from './entry-chunk.js'

/**
 * Scalable-mode PASID directory entry, 64 bits (VT-d spec §9.5; drivers/iommu/intel/pasid.h
 * `struct pasid_dir_entry`, PASID_PTE_PRESENT, PASID_PDE_SHIFT; QEMU VTD_PASID_DIR_*):
 *   P bit 0, FPD bit 1, reserved [11:2], SMPTBLPTR [63:12] (PASID table of 64 × 512-bit entries).
 * Directory index = PASID[19:6], table index = PASID[5:0].
 */
export const PASID_DIR_ENTRY_BYTES = 8
export const PASID_PDE_SHIFT = 6
export const PASID_TABLE_ENTRIES = 1 << PASID_PDE_SHIFT
export const PASID_MAX = 0x100000

export const PASID_DIR_ENTRY = {
  P: 1 << 0,
  FPD: 1 << 1,
  RSVD: 0xffc,
} as const

export interface PasidDirEntry {
  p: boolean
  fpd: boolean
  /** PASID table pointer. */
  smptblptr: number
}

export const pasidDirIndex = (pasid: number): number => (pasid >>> PASID_PDE_SHIFT) & 0x3fff
export const pasidTableIndex = (pasid: number): number => pasid & (PASID_TABLE_ENTRIES - 1)
export const pasidDirEntryAddress = (dir: number, pasid: number): number =>
  dir + pasidDirIndex(pasid) * PASID_DIR_ENTRY_BYTES

export function encodePasidDirEntry(e: PasidDirEntry): bigint {
  return addrField(e.smptblptr) | (e.fpd ? 2n : 0n) | (e.p ? 1n : 0n)
}

export function decodePasidDirEntry(lo: number, hi: number): PasidDirEntry {
  return {
    p: (lo & PASID_DIR_ENTRY.P) !== 0,
    fpd: (lo & PASID_DIR_ENTRY.FPD) !== 0,
    smptblptr: entryAddr(lo, hi),
  }
}

export function pasidDirEntryReserved(lo: number, hi: number, aboveHaw: number): boolean {
  return (lo & PASID_DIR_ENTRY.RSVD) !== 0 || (hi & aboveHaw) !== 0
}
