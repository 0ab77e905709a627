/**
 * VT-d remapping-unit registers: offsets and fields (VT-d spec §11.4; names and values from
 * drivers/iommu/intel/iommu.h `DMAR_*_REG`, `cap_*`, `ecap_*`, `DMA_GCMD_*`, `DMA_GSTS_*`,
 * `DMA_FSTS_*`, `DMA_FRCD_*`; QEMU hw/i386/intel_iommu_internal.h).
 */
export const DMAR_VER_REG = 0x0
export const DMAR_CAP_REG = 0x8
export const DMAR_ECAP_REG = 0x10
export const DMAR_GCMD_REG = 0x18
export const DMAR_GSTS_REG = 0x1c
export const DMAR_RTADDR_REG = 0x20
export const DMAR_CCMD_REG = 0x28
export const DMAR_FSTS_REG = 0x34
export const DMAR_FECTL_REG = 0x38
export const DMAR_FEDATA_REG = 0x3c
export const DMAR_FEADDR_REG = 0x40
export const DMAR_IQH_REG = 0x80
export const DMAR_IQT_REG = 0x88
export const DMAR_IQA_REG = 0x90
export const DMAR_ICS_REG = 0x9c
export const DMAR_IOTLB_REG_OFFSET = 0xf0
/** Offset of the first fault recording register (QEMU DMAR_FRCD_REG_OFFSET); CAP.FRO = this / 16. */
export const DMAR_FRCD_REG_OFFSET = 0x220
/** Size of the register page (room for 256 fault recording registers). */
export const DMAR_REG_SIZE = 0x2000

/** GCMD_REG (write-only commands) and GSTS_REG (status) bits. */
export const DMA_GCMD = { TE: 1 << 31, SRTP: 1 << 30, SFL: 1 << 29, WBF: 1 << 27, QIE: 1 << 26 } as const
export const DMA_GSTS = { TES: 1 << 31, RTPS: 1 << 30, FLS: 1 << 29, WBFS: 1 << 27, QIES: 1 << 26 } as const

/** RTADDR_REG: RTA [63:12], TTM [11:10] (00 legacy, 01 scalable; DMA_RTADDR_SMT is bit 10). */
export const RTADDR = { TTM_SHIFT: 10, TTM_MASK: 3 << 10, SMT: 1 << 10 } as const
export const TTM = { LEGACY: 0, SCALABLE: 1 } as const

/** FSTS_REG: PFO bit 0, PPF bit 1, IQE bit 4, ICE bit 5, ITE bit 6, PRO bit 7, FRI [15:8]. */
export const DMA_FSTS = {
  PFO: 1 << 0,
  PPF: 1 << 1,
  IQE: 1 << 4,
  ICE: 1 << 5,
  ITE: 1 << 6,
  PRO: 1 << 7,
  FRI_SHIFT: 8,
  FRI_MASK: 0xff << 8,
} as const
/** FSTS bits software clears by writing 1 (RW1C); PPF is read-only, derived from the F bits. */
export const FSTS_RW1C = DMA_FSTS.PFO | DMA_FSTS.IQE | DMA_FSTS.ICE | DMA_FSTS.ITE | DMA_FSTS.PRO

/** FECTL_REG: IM bit 31, IP bit 30. */
export const DMA_FECTL = { IM: 1 << 31, IP: 1 << 30 } as const

/** IQA_REG: IQA [63:12], DW bit 11 (256-bit descriptors), QS [2:0] (2^QS 4 KiB pages). */
export const IQA = { DW: 1 << 11, QS_MASK: 7 } as const
/** IQH/IQT hold the byte offset of a descriptor: index << 4 (128-bit) or << 5 (256-bit, DW=1). */
export const DMAR_IQ_SHIFT = 4
/** ICS_REG: IWC bit 0 (invalidation wait completed). */
export const ICS = { IWC: 1 } as const

/**
 * Capability register fields (cap_* in iommu.h): ND [2:0], SAGAW [12:8], MGAW [21:16] (width-1),
 * FRO [33:24] (offset/16), SLLPS [37:34], PSI bit 39, NFR [47:40] (count-1), MAMV [53:48].
 */
export interface VtdCap {
  /** Domain-ID bits code: 2^(4+2*nd) domains; 6 = 16-bit DIDs. */
  nd: number
  /** Bit n set: AGAW n supported (bit 1: 39-bit 3-level, bit 2: 48-bit 4-level). */
  sagaw: number
  /** Maximum guest address width in bits. */
  mgaw: number
  /** Fault recording registers offset in bytes. */
  fro: number
  /** Second-level large page support: bit 0 2 MiB, bit 1 1 GiB. */
  sllps: number
  psi: boolean
  /** Number of fault recording registers. */
  nfr: number
  mamv: number
}

export function encodeCap(c: VtdCap): bigint {
  return (
    BigInt(c.nd & 7) |
    (BigInt(c.sagaw & 0x1f) << 8n) |
    (BigInt((c.mgaw - 1) & 0x3f) << 16n) |
    (BigInt((c.fro / 16) & 0x3ff) << 24n) |
    (BigInt(c.sllps & 0xf) << 34n) |
    (c.psi ? 1n << 39n : 0n) |
    (BigInt((c.nfr - 1) & 0xff) << 40n) |
    (BigInt(c.mamv & 0x3f) << 48n)
  )
}

export function decodeCap(v: bigint): VtdCap {
  const f = (shift: bigint, mask: bigint): number => Number((v >> shift) & mask)
  return {
    nd: f(0n, 7n),
    sagaw: f(8n, 0x1fn),
    mgaw: f(16n, 0x3fn) + 1,
    fro: f(24n, 0x3ffn) * 16,
    sllps: f(34n, 0xfn),
    psi: f(39n, 1n) === 1,
    nfr: f(40n, 0xffn) + 1,
    mamv: f(48n, 0x3fn),
  }
}

/**
 * Extended capability fields (ecap_* in iommu.h): C bit 0, QI bit 1, DT bit 2, PT bit 6,
 * IRO [17:8], PSS [39:35], PASID bit 40, SMTS bit 43, SLTS bit 46, FLTS bit 47.
 */
export interface VtdEcap {
  coherent: boolean
  qi: boolean
  dt: boolean
  pt: boolean
  /** IOTLB registers offset in bytes. */
  iro: number
  /** PASID size: supported PASID bits - 1. */
  pss: number
  pasid: boolean
  /** Scalable-mode translation support. */
  smts: boolean
  slts: boolean
  flts: boolean
}

export function encodeEcap(e: VtdEcap): bigint {
  return (
    (e.coherent ? 1n : 0n) |
    (e.qi ? 2n : 0n) |
    (e.dt ? 4n : 0n) |
    (e.pt ? 1n << 6n : 0n) |
    (BigInt((e.iro / 16) & 0x3ff) << 8n) |
    (BigInt(e.pss & 0x1f) << 35n) |
    (e.pasid ? 1n << 40n : 0n) |
    (e.smts ? 1n << 43n : 0n) |
    (e.slts ? 1n << 46n : 0n) |
    (e.flts ? 1n << 47n : 0n)
  )
}

export function decodeEcap(v: bigint): VtdEcap {
  const bit = (n: bigint): boolean => ((v >> n) & 1n) === 1n
  return {
    coherent: bit(0n),
    qi: bit(1n),
    dt: bit(2n),
    pt: bit(6n),
    iro: Number((v >> 8n) & 0x3ffn) * 16,
    pss: Number((v >> 35n) & 0x1fn),
    pasid: bit(40n),
    smts: bit(43n),
    slts: bit(46n),
    flts: bit(47n),
  }
}

/**
 * Fault recording register (FRCD), 128 bits at FRO + 16 * i (iommu.h DMA_FRCD_*, dma_frcd_*;
 * QEMU VTD_FRCD_*):
 *   lo qword: FI [63:12] (faulting page address);
 *   hi qword: SID [15:0], PP bit 31 (PASID present), FR [39:32] (reason), PV [59:40] (PASID),
 *             T bit 62 (1 = read, 0 = write: dmar_fault_do_one prints "DMA Read" when set),
 *             F bit 63 (fault; software clears it by writing 1).
 * Given here as the word offsets within the record the kernel reads with readl at +8 and +12.
 */
export const DMA_FRCD = {
  /** Word at +8: SID [15:0], PP bit 31. */
  SID_MASK: 0xffff,
  PP: 1 << 31,
  /** Word at +12: FR [7:0], PV [27:8], T bit 30, F bit 31. */
  FR_MASK: 0xff,
  PV_SHIFT: 8,
  PV_MASK: 0xfffff << 8,
  T: 1 << 30,
  F: 1 << 31,
} as const
export const PRIMARY_FAULT_REG_LEN = 16
