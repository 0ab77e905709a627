import { DMAR_FRCD_REG_OFFSET, DMAR_IOTLB_REG_OFFSET, type VtdCap, type VtdEcap } from './registers.js'

/** What the emulated remapping unit reports in CAP/ECAP, and its host address width. */
export interface VtdConfig {
  /** Host address width in bits (physical addresses ≥ 2^haw are reserved bits). Default 46. */
  haw?: number
  /** Maximum guest address width (CAP.MGAW). Default 48. */
  mgaw?: number
  /** Number of fault recording registers (CAP.NFR + 1). Default 8. */
  nfr?: number
  /** CAP.SAGAW: bit 1 = 39-bit 3-level, bit 2 = 48-bit 4-level. Default 0b110. */
  sagaw?: number
  /** CAP.SLLPS: bit 0 = 2 MiB, bit 1 = 1 GiB superpages. Default 0b11. */
  sllps?: number
  /** ECAP.SMTS: scalable-mode translation supported. Default true. */
  scalableMode?: boolean
  /** ECAP.PT: pass-through supported. Default true. */
  passThrough?: boolean
}

export interface ResolvedVtdConfig {
  haw: number
  cap: VtdCap
  ecap: VtdEcap
}

export function resolveVtdConfig(c: VtdConfig = {}): ResolvedVtdConfig {
  const nfr = c.nfr ?? 8
  if (nfr < 1 || nfr > 256) throw new RangeError('NFR must be 1..256')
  const sm = c.scalableMode ?? true
  return {
    haw: c.haw ?? 46,
    cap: {
      nd: 6,
      sagaw: c.sagaw ?? 0b110,
      mgaw: c.mgaw ?? 48,
      fro: DMAR_FRCD_REG_OFFSET,
      sllps: c.sllps ?? 0b11,
      psi: true,
      nfr,
      mamv: 18,
    },
    ecap: {
      coherent: true,
      qi: true,
      dt: false,
      pt: c.passThrough ?? true,
      iro: DMAR_IOTLB_REG_OFFSET,
      pss: sm ? 19 : 0,
      pasid: sm,
      smts: sm,
      slts: sm,
      flts: false,
    },
  }
}
