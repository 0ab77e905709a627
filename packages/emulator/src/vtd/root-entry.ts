import { addrField, entryAddr } from './entry-chunk.js'

/**
 * Root table: one 4 KiB page of 256 128-bit entries indexed by PCI bus number, based at
 * RTADDR_REG.RTA (VT-d spec §9.1 "Root Entry", §9.2 "Scalable-Mode Root Entry";
 * drivers/iommu/intel/iommu.h `struct root_entry {u64 lo; u64 hi;}`).
 *
 * Legacy mode (RTADDR.TTM = 00):
 *   lo: P bit 0, reserved [11:1], CTP [63:12] (context table, 256 × 128-bit entries);
 *   hi: reserved.
 * Scalable mode (RTADDR.TTM = 01):
 *   lo: LP bit 0, reserved [11:1], LCTP [63:12]: context table for devfn 0-127;
 *   hi: UP bit 0, reserved [11:1], UCTP [63:12]: context table for devfn 128-255
 *   (each scalable context table holds 128 × 256-bit entries; `copy_context_table()` and the
 *   June 2026 UCTP-only-bus bug show why the halves matter).
 */
export const ROOT_ENTRY_BYTES = 16
export const ROOT_ENTRY = {
  P: 1,
  /** Reserved low bits [11:1] of lo (and of hi in scalable mode); QEMU VTD_ROOT_ENTRY_RSVD. */
  RSVD_LOW: 0xffe,
} as const

export interface LegacyRootEntry {
  p: boolean
  /** Context-table pointer (4 KiB aligned). */
  ctp: number
}

export interface ScalableRootEntry {
  /** Lower present: LCTP valid (devfn 0-127). */
  lp: boolean
  lctp: number
  /** Upper present: UCTP valid (devfn 128-255). */
  up: boolean
  uctp: number
}

export const rootEntryAddress = (rta: number, bus: number): number => rta + (bus & 0xff) * ROOT_ENTRY_BYTES

export function encodeLegacyRootEntry(e: LegacyRootEntry): [bigint, bigint] {
  return [addrField(e.ctp) | (e.p ? 1n : 0n), 0n]
}

/** `w`: the entry as four little-endian 32-bit words. */
export function decodeLegacyRootEntry(w: ArrayLike<number>): LegacyRootEntry {
  return { p: (w[0] & ROOT_ENTRY.P) !== 0, ctp: entryAddr(w[0], w[1]) }
}

export function encodeScalableRootEntry(e: ScalableRootEntry): [bigint, bigint] {
  return [addrField(e.lctp) | (e.lp ? 1n : 0n), addrField(e.uctp) | (e.up ? 1n : 0n)]
}

export function decodeScalableRootEntry(w: ArrayLike<number>): ScalableRootEntry {
  return {
    lp: (w[0] & ROOT_ENTRY.P) !== 0,
    lctp: entryAddr(w[0], w[1]),
    up: (w[2] & ROOT_ENTRY.P) !== 0,
    uctp: entryAddr(w[2], w[3]),
  }
}

/**
 * Reserved bits set in a present legacy root entry: lo [11:1], address bits at or above HAW
 * (`aboveHaw` = high-word mask), and all of hi.
 */
export function legacyRootEntryReserved(w: ArrayLike<number>, aboveHaw: number): boolean {
  return (w[0] & ROOT_ENTRY.RSVD_LOW) !== 0 || (w[1] & aboveHaw) !== 0 || w[2] !== 0 || w[3] !== 0
}

/** Reserved bits set in the half (0 = lower, 1 = upper) of a scalable root entry. */
export function scalableRootHalfReserved(w: ArrayLike<number>, half: 0 | 1, aboveHaw: number): boolean {
  const i = half * 2
  return (w[i] & ROOT_ENTRY.RSVD_LOW) !== 0 || (w[i + 1] & aboveHaw) !== 0
}
