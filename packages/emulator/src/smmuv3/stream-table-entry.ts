import { field, get, getNum, set } from './qword-field.js'

/**
 * Stream Table Entry (IHI 0070, 5.2 "Stream Table Entry"): 8 little-endian 64-bit words (64 bytes),
 * one per StreamID, located through STRTAB_BASE (see stream-table.ts). Field names as the
 * specification names them; bit positions as Linux's arm-smmu-v3.h `STRTAB_STE_*`.
 *
 * The SMMU reads an STE in 64-bit single-copy-atomic words (IHI 0070, 3.21.3): a device may see
 * word 0 of a new entry with word 1 of the old one. Which words it actually uses depends on the
 * entry's own V and Config: `getSteUsed` (from the kernel's arm_smmu_get_ste_used) says which bits
 * matter, and the driver's entry writer (driver/entry-writer.ts) relies on it to update hitlessly.
 */
export const STE_DWORDS = 8
export const STE_SIZE = 64

export const STE = {
  /** Valid. V=0 makes any transaction on the stream raise C_BAD_STE. */
  V: field(0, 0),
  /** Config [3:1]: 0b000 abort, 0b100 bypass, 0b101 stage 1, 0b110 stage 2, 0b111 nested. */
  Config: field(0, 3, 1),
  /** S1Fmt [5:4]: CD table format, 0 linear, 1 2-level 4 KiB L2, 2 2-level 64 KiB L2. */
  S1Fmt: field(0, 5, 4),
  /** S1ContextPtr [51:6]: address of the CD (table). */
  S1ContextPtr: field(0, 51, 6),
  /** S1CDMax [63:59]: log2 of the number of CDs; 0 means one CD and no SubstreamIDs. */
  S1CDMax: field(0, 63, 59),
  S1DSS: field(1, 1, 0),
  S1CIR: field(1, 3, 2),
  S1COR: field(1, 5, 4),
  S1CSH: field(1, 7, 6),
  S1STALLD: field(1, 27),
  EATS: field(1, 29, 28),
  STRW: field(1, 31, 30),
  SHCFG: field(1, 45, 44),
  /** S2VMID [15:0] of word 2; also tags stage-1 TLB entries when stage 2 is implemented. */
  S2VMID: field(2, 15, 0),
  /** VTCR [50:32] of word 2, made of the S2* translation controls below. */
  VTCR: field(2, 50, 32),
  S2T0SZ: field(2, 37, 32),
  S2SL0: field(2, 39, 38),
  S2IR0: field(2, 41, 40),
  S2OR0: field(2, 43, 42),
  S2SH0: field(2, 45, 44),
  /** S2TG [47:46]: 0 = 4 KiB, 1 = 64 KiB, 2 = 16 KiB (only 4 KiB modelled). */
  S2TG: field(2, 47, 46),
  /** S2PS [50:48]: stage-2 output size, encoded as IDR5.OAS. */
  S2PS: field(2, 50, 48),
  S2AA64: field(2, 51),
  S2ENDI: field(2, 52),
  /** S2AFFD: stage-2 access flag fault disable (bit 53 of word 2). */
  S2AFFD: field(2, 53),
  S2PTW: field(2, 54),
  S2HD: field(2, 55),
  S2HA: field(2, 56),
  S2S: field(2, 57),
  S2R: field(2, 58),
  /** S2TTB [51:4] of word 3: stage-2 translation table base. */
  S2TTB: field(3, 51, 4),
} as const

/** STE.Config values (IHI 0070, 5.2; STRTAB_STE_0_CFG_*). */
export const SteConfig = {
  Abort: 0b000,
  Bypass: 0b100,
  S1Trans: 0b101,
  S2Trans: 0b110,
  Nested: 0b111,
} as const

export const S1DSS_TERMINATE = 0
export const S1DSS_BYPASS = 1
export const S1DSS_SSID0 = 2
export const SHCFG_INCOMING = 1

/** Decoded STE: every field by its specification name. */
export type StreamTableEntry = { -readonly [K in keyof typeof STE]: number }

export function decodeSte(words: readonly bigint[]): StreamTableEntry {
  const out = {} as StreamTableEntry
  for (const k of Object.keys(STE) as (keyof typeof STE)[]) {
    // Address fields keep their in-place byte address (as the spec's "address bits [51:6]").
    out[k] =
      k === 'S1ContextPtr' || k === 'S2TTB'
        ? Number(words[STE[k].qword] & STE[k].mask)
        : getNum(words, STE[k])
  }
  return out
}

/** Encodes an STE; fields not given are 0. Address fields are byte addresses. */
export function encodeSte(fields: Partial<StreamTableEntry>): bigint[] {
  const w = new Array<bigint>(STE_DWORDS).fill(0n)
  for (const [k, v] of Object.entries(fields) as [keyof typeof STE, number][]) {
    if (k === 'VTCR') continue
    if (k === 'S1ContextPtr' || k === 'S2TTB') w[STE[k].qword] |= BigInt(v) & STE[k].mask
    else set(w, STE[k], v)
  }
  return w
}

/**
 * Bits of an STE the SMMU uses for its current V and Config, from the kernel's
 * arm_smmu_get_ste_used() (drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c). With V=0 only V is used.
 */
export function getSteUsed(ent: readonly bigint[]): bigint[] {
  const used = new Array<bigint>(STE_DWORDS).fill(0n)
  used[0] = STE.V.mask
  if (get(ent, STE.V) === 0n) return used
  used[0] |= STE.Config.mask
  const cfg = getNum(ent, STE.Config)
  // S1 translates
  if (cfg & 1) {
    used[0] |= STE.S1Fmt.mask | STE.S1ContextPtr.mask | STE.S1CDMax.mask
    used[1] |=
      STE.S1DSS.mask |
      STE.S1CIR.mask |
      STE.S1COR.mask |
      STE.S1CSH.mask |
      STE.S1STALLD.mask |
      STE.STRW.mask |
      STE.EATS.mask
    used[2] |= STE.S2VMID.mask
    // IHI 0070 13.5: SHCFG applies when S1DSS bypasses.
    if (getNum(ent, STE.S1DSS) === S1DSS_BYPASS) used[1] |= STE.SHCFG.mask
  }
  // S2 translates
  if (cfg & 2) {
    used[1] |= STE.EATS.mask | STE.SHCFG.mask
    used[2] |=
      STE.S2VMID.mask |
      STE.VTCR.mask |
      STE.S2AA64.mask |
      STE.S2ENDI.mask |
      STE.S2PTW.mask |
      STE.S2R.mask |
      STE.S2AFFD.mask
    used[3] |= STE.S2TTB.mask
  }
  if (cfg === SteConfig.Bypass) used[1] |= STE.SHCFG.mask
  return used
}

/** arm_smmu_make_abort_ste: V=1, Config=abort (transactions aborted silently, no event). */
export function makeAbortSte(): bigint[] {
  return encodeSte({ V: 1, Config: SteConfig.Abort })
}

/** arm_smmu_make_bypass_ste: V=1, Config=bypass, SHCFG=incoming. */
export function makeBypassSte(): bigint[] {
  return encodeSte({ V: 1, Config: SteConfig.Bypass, SHCFG: SHCFG_INCOMING })
}

/**
 * arm_smmu_make_cdtable_ste: stage-1 translation through a CD table at `cdTable`, S1DSS as given,
 * write-back cacheable table walks (S1CIR/S1COR = WBRA, S1CSH = ISH), STRW = NS-EL1.
 */
export function makeCdTableSte(
  cdTable: number,
  opts: { s1CdMax?: number; s1Fmt?: number; s1dss?: number } = {},
) {
  return encodeSte({
    V: 1,
    Config: SteConfig.S1Trans,
    S1Fmt: opts.s1Fmt ?? 0,
    S1ContextPtr: cdTable,
    S1CDMax: opts.s1CdMax ?? 0,
    S1DSS: opts.s1dss ?? S1DSS_SSID0,
    S1CIR: 1,
    S1COR: 1,
    S1CSH: 3,
  })
}

export interface Stage2Params {
  vmid: number
  s2ttb: number
  /** 64 - input bits. Default 16 (48-bit IPA). */
  s2t0sz?: number
  /** Start level (0-2); encoded as S2SL0. Default from s2t0sz as io-pgtable-arm picks it. */
  startLevel?: number
  /** Output size encoding (IDR5.OAS style). Default 5 (48 bits). */
  s2ps?: number
  affd?: boolean
}

/**
 * arm_smmu_make_s2_domain_ste: Config=S2 translate, SHCFG incoming, VTCR from io-pgtable-arm's
 * vtcr (4 KiB granule, inner/outer WBWA, inner shareable), S2AA64, S2PTW, S2R, S2VMID, S2TTB.
 */
export function makeS2DomainSte(p: Stage2Params): bigint[] {
  const t0sz = p.s2t0sz ?? 16
  const ia = 64 - t0sz
  const start = p.startLevel ?? 4 - Math.ceil((ia - 12) / 9)
  return encodeSte({
    V: 1,
    Config: SteConfig.S2Trans,
    SHCFG: SHCFG_INCOMING,
    S2VMID: p.vmid,
    S2T0SZ: t0sz,
    S2SL0: ~(start + 1) & 3,
    S2IR0: 1,
    S2OR0: 1,
    S2SH0: 3,
    S2TG: 0,
    S2PS: p.s2ps ?? 5,
    S2AA64: 1,
    S2PTW: 1,
    S2R: 1,
    S2AFFD: p.affd ? 1 : 0,
    S2TTB: p.s2ttb,
  })
}
