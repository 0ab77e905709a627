import { addrField, entryAddr } from './entry-chunk.js'
import { pasidTableIndex } from './pasid-directory.js'

/**
 * Scalable-mode PASID table entry, 512 bits = 8 qwords = four 128-bit chunks (VT-d spec §9.6;
 * drivers/iommu/intel/pasid.h `struct pasid_entry {u64 val[8];}` and its pasid_set_* helpers;
 * QEMU VTD_SM_PASID_ENTRY_*):
 *   val0: P bit 0, FPD bit 1, AW [4:2], reserved bit 5, PGTT [8:6] (1 first-level only,
 *         2 second-level only, 3 nested, 4 pass-through), SSADE bit 9, reserved [11:10],
 *         SLPTPTR [63:12];
 *   val1: DID [15:0] (bits 79:64), PWSNP bit 23 (87), PGSNP bit 24 (88);
 *   val2: SRE bit 0 (128), FLPM [3:2], WPE bit 4, EAFE bit 7, FLPTPTR [63:12] (bits 191:140).
 * Chunk 0 (val0, val1) carries all a second-level or pass-through translation uses; chunk 1
 * (val2, val3) the first-level pointer. A replacement is only hitless when what changes stays in
 * one chunk — upstream (Jan 2026) gave that up for clear P → invalidate → set.
 */
export const PASID_ENTRY_BYTES = 64

export const PASID_ENTRY = {
  P: 1 << 0,
  FPD: 1 << 1,
  AW_SHIFT: 2,
  AW_MASK: 7 << 2,
  PGTT_SHIFT: 6,
  PGTT_MASK: 7 << 6,
  SSADE: 1 << 9,
  /** val0 reserved: bit 5, bits [11:10]. */
  RSVD_VAL0: (1 << 5) | (3 << 10),
  DID_MASK: 0xffff,
  PWSNP: 1 << 23,
  PGSNP: 1 << 24,
  SRE: 1 << 0,
  FLPM_SHIFT: 2,
  WPE: 1 << 4,
  EAFE: 1 << 7,
} as const

/** PASID_ENTRY_PGTT_* (pasid.h). */
export const PGTT = { FL_ONLY: 1, SL_ONLY: 2, NESTED: 3, PT: 4 } as const

export interface PasidEntry {
  p: boolean
  fpd: boolean
  aw: number
  pgtt: number
  ssade: boolean
  slptptr: number
  did: number
  pwsnp: boolean
  pgsnp: boolean
  sre: boolean
  flpm: number
  wpe: boolean
  eafe: boolean
  flptptr: number
}

export const pasidEntryAddress = (table: number, pasid: number): number =>
  table + pasidTableIndex(pasid) * PASID_ENTRY_BYTES

export function encodePasidEntry(e: Partial<PasidEntry> & { p: boolean }): bigint[] {
  const v0 =
    addrField(e.slptptr ?? 0) |
    (e.ssade ? 1n << 9n : 0n) |
    (BigInt((e.pgtt ?? 0) & 7) << 6n) |
    (BigInt((e.aw ?? 0) & 7) << 2n) |
    (e.fpd ? 2n : 0n) |
    (e.p ? 1n : 0n)
  const v1 = BigInt((e.did ?? 0) & 0xffff) | (e.pwsnp ? 1n << 23n : 0n) | (e.pgsnp ? 1n << 24n : 0n)
  const v2 =
    addrField(e.flptptr ?? 0) |
    (e.eafe ? 1n << 7n : 0n) |
    (e.wpe ? 1n << 4n : 0n) |
    (BigInt((e.flpm ?? 0) & 3) << 2n) |
    (e.sre ? 1n : 0n)
  return [v0, v1, v2, 0n, 0n, 0n, 0n, 0n]
}

/** `w`: at least the first 8 words (chunks 0 and 1) of the entry. */
export function decodePasidEntry(w: ArrayLike<number>): PasidEntry {
  return {
    p: (w[0] & PASID_ENTRY.P) !== 0,
    fpd: (w[0] & PASID_ENTRY.FPD) !== 0,
    aw: (w[0] & PASID_ENTRY.AW_MASK) >>> PASID_ENTRY.AW_SHIFT,
    pgtt: (w[0] & PASID_ENTRY.PGTT_MASK) >>> PASID_ENTRY.PGTT_SHIFT,
    ssade: (w[0] & PASID_ENTRY.SSADE) !== 0,
    slptptr: entryAddr(w[0], w[1]),
    did: w[2] & PASID_ENTRY.DID_MASK,
    pwsnp: (w[2] & PASID_ENTRY.PWSNP) !== 0,
    pgsnp: (w[2] & PASID_ENTRY.PGSNP) !== 0,
    sre: (w[4] & PASID_ENTRY.SRE) !== 0,
    flpm: (w[4] >>> PASID_ENTRY.FLPM_SHIFT) & 3,
    wpe: (w[4] & PASID_ENTRY.WPE) !== 0,
    eafe: (w[4] & PASID_ENTRY.EAFE) !== 0,
    flptptr: entryAddr(w[4], w[5]),
  }
}

/** Reserved bits set in chunk 0 of a present PASID entry (val0 bit 5, [11:10], SLPTPTR ≥ HAW). */
export function pasidEntryReserved(w: ArrayLike<number>, aboveHaw: number): boolean {
  return (w[0] & PASID_ENTRY.RSVD_VAL0) !== 0 || (w[1] & aboveHaw) !== 0
}
