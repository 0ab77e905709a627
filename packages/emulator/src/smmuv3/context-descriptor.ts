import { field, get, getNum, set } from './qword-field.js'

/**
 * Context Descriptor (IHI 0070, 5.4 "Context Descriptor"): 8 little-endian 64-bit words, one per
 * SubstreamID, found through STE.S1ContextPtr (linear table, or 2-level with L1 descriptors).
 * It holds the stage-1 translation regime: TTB0 and its TCR fields, the ASID that tags the IOTLB.
 * Bit positions as Linux's arm-smmu-v3.h `CTXDESC_CD_*`; AFFD (bit 35) from the specification.
 *
 * Only the TTB0 half of the address space is modelled (device addresses are below 2^48); a walk
 * with EPD0=1 faults, as a TTB0 walk that is disabled does.
 */
export const CD_DWORDS = 8
export const CD_SIZE = 64

export const CD = {
  T0SZ: field(0, 5, 0),
  /** TG0 [7:6]: 0 = 4 KiB, 1 = 64 KiB, 2 = 16 KiB (only 4 KiB modelled). */
  TG0: field(0, 7, 6),
  IR0: field(0, 9, 8),
  OR0: field(0, 11, 10),
  SH0: field(0, 13, 12),
  /** EPD0: TTB0 walks disabled; a miss translates to F_TRANSLATION. */
  EPD0: field(0, 14),
  ENDI: field(0, 15),
  T1SZ: field(0, 21, 16),
  TG1: field(0, 23, 22),
  IR1: field(0, 25, 24),
  OR1: field(0, 27, 26),
  SH1: field(0, 29, 28),
  EPD1: field(0, 30),
  /** V: valid; V=0 makes transactions using this CD raise C_BAD_CD. */
  V: field(0, 31),
  /** IPS [34:32]: intermediate (output) physical address size, encoded as IDR5.OAS. */
  IPS: field(0, 34, 32),
  /** AFFD: access flag fault disable. */
  AFFD: field(0, 35),
  WXN: field(0, 36),
  UWXN: field(0, 37),
  TBI0: field(0, 38),
  TBI1: field(0, 39),
  PAN: field(0, 40),
  /** AA64: VMSAv8-64 tables; AA64=0 (AArch32 LPAE) is not modelled and gives C_BAD_CD. */
  AA64: field(0, 41),
  HD: field(0, 42),
  HA: field(0, 43),
  S: field(0, 44),
  R: field(0, 45),
  A: field(0, 46),
  /** ASET (the kernel's CTXDESC_CD_0_ASET; "AS" in older specifications). */
  ASET: field(0, 47),
  ASID: field(0, 63, 48),
  NSCFG0: field(1, 0),
  HAD0: field(1, 1),
  /** TTB0 [51:4] of word 1. */
  TTB0: field(1, 51, 4),
  TTB1: field(2, 51, 4),
  MAIR0: field(3, 31, 0),
  MAIR1: field(3, 63, 32),
} as const

export type ContextDescriptor = { -readonly [K in keyof typeof CD]: number }

const ADDRESS_FIELDS = new Set<keyof typeof CD>(['TTB0', 'TTB1'])

export function decodeCd(words: readonly bigint[]): ContextDescriptor {
  const out = {} as ContextDescriptor
  for (const k of Object.keys(CD) as (keyof typeof CD)[]) {
    out[k] = ADDRESS_FIELDS.has(k) ? Number(words[CD[k].qword] & CD[k].mask) : getNum(words, CD[k])
  }
  return out
}

/** Encodes a CD; fields not given are 0. TTB0/TTB1 are byte addresses. */
export function encodeCd(fields: Partial<ContextDescriptor>): bigint[] {
  const w = new Array<bigint>(CD_DWORDS).fill(0n)
  for (const [k, v] of Object.entries(fields) as [keyof typeof CD, number][]) {
    if (ADDRESS_FIELDS.has(k)) w[CD[k].qword] |= BigInt(v) & CD[k].mask
    else set(w, CD[k], v)
  }
  return w
}

/**
 * Bits of a CD the SMMU uses, from the kernel's arm_smmu_get_cd_used(): V only if V=0, otherwise
 * everything, except that T0SZ/TG0/IR0/OR0/SH0/TTB0 are IGNORED when EPD0=1.
 */
export function getCdUsed(ent: readonly bigint[]): bigint[] {
  const used = new Array<bigint>(CD_DWORDS).fill(0n)
  used[0] = CD.V.mask
  if (get(ent, CD.V) === 0n) return used
  used.fill((1n << 64n) - 1n)
  if (get(ent, CD.EPD0) !== 0n) {
    used[0] &= ~(CD.T0SZ.mask | CD.TG0.mask | CD.IR0.mask | CD.OR0.mask | CD.SH0.mask)
    used[1] &= ~CD.TTB0.mask
  }
  return used
}

/**
 * arm_smmu_make_s1_cd for an io-pgtable-arm stage-1 table: TCR fields (4 KiB granule, WBWA,
 * inner shareable), EPD1, V, IPS, AA64, R, A, ASET, ASID; TTB0; MAIR.
 */
export function makeS1Cd(p: {
  asid: number
  ttb0: number
  t0sz?: number
  ips?: number
  affd?: boolean
}): bigint[] {
  return encodeCd({
    T0SZ: p.t0sz ?? 16,
    TG0: 0,
    IR0: 1,
    OR0: 1,
    SH0: 3,
    EPD1: 1,
    V: 1,
    IPS: p.ips ?? 5,
    AFFD: p.affd ? 1 : 0,
    AA64: 1,
    R: 1,
    A: 1,
    ASET: 1,
    ASID: p.asid,
    TTB0: p.ttb0,
    // io-pgtable-arm's MAIR: attr0 = 0xff (WBWA), attr1 = 0x04 (device nGnRE), attr2 = 0x44 (NC).
    MAIR0: 0x0044_04ff,
  })
}

/** CD L1 descriptor (IHI 0070, 5.4.1; CTXDESC_L1_DESC_*): V bit 0, L2Ptr [51:12]. */
export const L1CD = {
  V: field(0, 0),
  L2Ptr: field(0, 51, 12),
} as const

export function encodeL1Cd(l2ptr: number): bigint {
  return (BigInt(l2ptr) & L1CD.L2Ptr.mask) | 1n
}
