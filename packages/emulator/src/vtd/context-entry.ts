import { addrField, entryAddr } from './entry-chunk.js'

/**
 * Context entries (VT-d spec §9.3 "Context Entry", §9.4 "Scalable-Mode Context-Entry").
 *
 * Legacy context entry, 128 bits, 256 per context table, index devfn
 * (drivers/iommu/intel/iommu.h `struct context_entry`, `context_set_*`):
 *   lo: P bit 0, FPD bit 1 (fault processing disable), TT [3:2] (0 multi-level, 1 device-TLB,
 *       2 pass-through, 3 reserved; CONTEXT_TT_*), reserved [11:4], SLPTPTR [63:12];
 *   hi: AW [2:0] (AGAW: 1 = 39-bit 3-level, 2 = 48-bit 4-level, 3 = 57-bit 5-level),
 *       AVAIL [6:3] (software; the kdump copy marks "copied" with hi bit 3), reserved bit 7,
 *       DID [23:8], reserved [63:24]. QEMU VTD_CONTEXT_ENTRY_RSVD_LO/HI.
 *
 * Scalable-mode context entry, 256 bits, 128 per context table (LCTP: devfn 0-127, UCTP:
 * devfn 128-255) (iommu.c `context_entry_set_pasid_table`, pasid.h):
 *   val0: P bit 0, FPD bit 1, DTE bit 2 (device-TLB enable), PASIDE bit 3 (CONTEXT_PASIDE),
 *         PRE bit 4, reserved [8:5], PDTS [11:9] (PASID directory has 2^(PDTS+7) entries),
 *         PASIDDIRPTR [63:12];
 *   val1: RID_PASID [19:0] (PASID used for requests without PASID), RID_PRIV bit 20,
 *         reserved [63:21]; val2, val3 reserved. QEMU VTD_SM_CONTEXT_ENTRY_RSVD_VAL0/VAL1.
 * The hardware reads the first 128-bit chunk (val0, val1): everything it uses is in it.
 */
export const LEGACY_CONTEXT_ENTRY_BYTES = 16
export const SCALABLE_CONTEXT_ENTRY_BYTES = 32

export const CONTEXT_ENTRY = {
  P: 1 << 0,
  FPD: 1 << 1,
  TT_SHIFT: 2,
  TT_MASK: 3 << 2,
  /** lo reserved bits [11:4]. */
  RSVD_LO: 0xff0,
  AW_MASK: 7,
  AVAIL_SHIFT: 3,
  AVAIL_MASK: 0xf << 3,
  DID_SHIFT: 8,
  /** hi reserved bits: bit 7 and [31:24] of the low word; the whole high word. */
  RSVD_HI_LO: 0xff000080,
} as const

/** CONTEXT_TT_* (iommu.h). */
export const CONTEXT_TT = { MULTI_LEVEL: 0, DEV_IOTLB: 1, PASS_THROUGH: 2 } as const

export const SM_CONTEXT_ENTRY = {
  P: 1 << 0,
  FPD: 1 << 1,
  DTE: 1 << 2,
  PASIDE: 1 << 3,
  PRE: 1 << 4,
  /** val0 reserved [8:5]. */
  RSVD_VAL0: 0x1e0,
  PDTS_SHIFT: 9,
  PDTS_MASK: 7 << 9,
  RID_PASID_MASK: 0xfffff,
  RID_PRIV: 1 << 20,
  /** val1 reserved [31:21] of the low word (and the whole high word). */
  RSVD_VAL1_LO: 0xffe00000,
} as const

export interface LegacyContextEntry {
  p: boolean
  fpd: boolean
  tt: number
  slptptr: number
  aw: number
  avail: number
  did: number
}

export interface ScalableContextEntry {
  p: boolean
  fpd: boolean
  dte: boolean
  paside: boolean
  pre: boolean
  /** PASID directory size code: 2^(pdts+7) directory entries. */
  pdts: number
  pasidDirPtr: number
  ridPasid: number
  ridPriv: boolean
}

/** Address of the context entry for devfn in legacy mode. */
export const legacyContextEntryAddress = (ctp: number, devfn: number): number =>
  ctp + (devfn & 0xff) * LEGACY_CONTEXT_ENTRY_BYTES

/** Address of the context entry for devfn in scalable mode (ctp = LCTP or UCTP per devfn). */
export const scalableContextEntryAddress = (ctp: number, devfn: number): number =>
  ctp + (devfn & 0x7f) * SCALABLE_CONTEXT_ENTRY_BYTES

export function encodeLegacyContextEntry(e: LegacyContextEntry): [bigint, bigint] {
  const lo = addrField(e.slptptr) | (BigInt(e.tt & 3) << 2n) | (e.fpd ? 2n : 0n) | (e.p ? 1n : 0n)
  const hi = BigInt(e.aw & 7) | (BigInt(e.avail & 0xf) << 3n) | (BigInt(e.did & 0xffff) << 8n)
  return [lo, hi]
}

export function decodeLegacyContextEntry(w: ArrayLike<number>): LegacyContextEntry {
  return {
    p: (w[0] & CONTEXT_ENTRY.P) !== 0,
    fpd: (w[0] & CONTEXT_ENTRY.FPD) !== 0,
    tt: (w[0] & CONTEXT_ENTRY.TT_MASK) >>> CONTEXT_ENTRY.TT_SHIFT,
    slptptr: entryAddr(w[0], w[1]),
    aw: w[2] & CONTEXT_ENTRY.AW_MASK,
    avail: (w[2] & CONTEXT_ENTRY.AVAIL_MASK) >>> CONTEXT_ENTRY.AVAIL_SHIFT,
    did: (w[2] >>> CONTEXT_ENTRY.DID_SHIFT) & 0xffff,
  }
}

/** Reserved bits set in a present legacy context entry (QEMU vtd_context_entry_rsvd_bits_check). */
export function legacyContextEntryReserved(w: ArrayLike<number>, aboveHaw: number): boolean {
  return (
    (w[0] & CONTEXT_ENTRY.RSVD_LO) !== 0 ||
    (w[1] & aboveHaw) !== 0 ||
    (w[2] & CONTEXT_ENTRY.RSVD_HI_LO) !== 0 ||
    w[3] !== 0
  )
}

export function encodeScalableContextEntry(e: ScalableContextEntry): [bigint, bigint, bigint, bigint] {
  const v0 =
    addrField(e.pasidDirPtr) |
    (BigInt(e.pdts & 7) << 9n) |
    (e.pre ? 0x10n : 0n) |
    (e.paside ? 0x8n : 0n) |
    (e.dte ? 0x4n : 0n) |
    (e.fpd ? 0x2n : 0n) |
    (e.p ? 0x1n : 0n)
  const v1 = BigInt(e.ridPasid & 0xfffff) | (e.ridPriv ? 1n << 20n : 0n)
  return [v0, v1, 0n, 0n]
}

export function decodeScalableContextEntry(w: ArrayLike<number>): ScalableContextEntry {
  return {
    p: (w[0] & SM_CONTEXT_ENTRY.P) !== 0,
    fpd: (w[0] & SM_CONTEXT_ENTRY.FPD) !== 0,
    dte: (w[0] & SM_CONTEXT_ENTRY.DTE) !== 0,
    paside: (w[0] & SM_CONTEXT_ENTRY.PASIDE) !== 0,
    pre: (w[0] & SM_CONTEXT_ENTRY.PRE) !== 0,
    pdts: (w[0] & SM_CONTEXT_ENTRY.PDTS_MASK) >>> SM_CONTEXT_ENTRY.PDTS_SHIFT,
    pasidDirPtr: entryAddr(w[0], w[1]),
    ridPasid: w[2] & SM_CONTEXT_ENTRY.RID_PASID_MASK,
    ridPriv: (w[2] & SM_CONTEXT_ENTRY.RID_PRIV) !== 0,
  }
}

/** Reserved bits set in the first chunk of a present scalable-mode context entry. */
export function scalableContextEntryReserved(w: ArrayLike<number>, aboveHaw: number): boolean {
  return (
    (w[0] & SM_CONTEXT_ENTRY.RSVD_VAL0) !== 0 ||
    (w[1] & aboveHaw) !== 0 ||
    (w[2] & SM_CONTEXT_ENTRY.RSVD_VAL1_LO) !== 0 ||
    w[3] !== 0
  )
}

/** Number of PASID-directory entries a scalable context entry allows: 2^(PDTS+7) (pasid.h). */
export const pasidDirEntries = (pdts: number): number => 2 ** ((pdts & 7) + 7)
