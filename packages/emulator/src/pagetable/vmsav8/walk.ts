import type { PhysicalMemory } from '../../memory/physical-memory.js'
import {
  DESC_ADDR_HI_MASK,
  DESC_ADDR_LO_MASK_1G,
  DESC_ADDR_LO_MASK_2M,
  DESC_ADDR_LO_MASK_4K,
  DESC_AF,
  DESC_AP_RDONLY,
  DESC_AP_UNPRIV,
  DESC_HI_XN,
  DESC_S2AP_READ,
  DESC_S2AP_WRITE,
  LEVEL_SIZE,
  type TranslationStage,
} from './descriptor.js'

/**
 * Why a walk stopped. The values are the SMMUv3 event IDs of the corresponding faults (IHI 0070,
 * 7.3 "Event records"), so that the SMMU can record them without a mapping table.
 */
export const WalkFault = {
  None: 0,
  /** F_WALK_EABT: a descriptor fetch hit no memory (external abort on the walk). */
  WalkExternalAbort: 0x0b,
  /** F_TRANSLATION: input address out of range of TxSZ, or an invalid/reserved descriptor. */
  Translation: 0x10,
  /** F_ADDR_SIZE: a table or output address above the effective IPS/PS. */
  AddressSize: 0x11,
  /** F_ACCESS: leaf with AF=0 while AFFD=0 (no hardware AF update modelled). */
  Access: 0x12,
  /** F_PERMISSION: checked by the caller against the permissions the walk returns. */
  Permission: 0x13,
} as const

/** Leaf permission bits as the walk reports them (and as the IOTLB packs them). */
export const PERM_READ = 1
export const PERM_WRITE = 2
export const PERM_EXEC = 4

/** Parameters of one translation regime (from a CD for stage 1, from an STE for stage 2). */
export interface WalkRegime {
  stage: TranslationStage
  /** Base of the start-level table (TTB0 or S2TTB). */
  ttb: number
  startLevel: number
  /** Input address size in bits, 64 - TxSZ. */
  inputBits: number
  /** Effective output address size in bits (IPS / S2PS, capped by the SMMU's OAS). */
  outputBits: number
  /** Access flag fault disable (CD.AFFD / STE.S2AFFD): AF=0 does not fault. */
  affd: boolean
}

/**
 * A VMSAv8-64 table walker for the 4 KiB granule, levels 0-3, used by the SMMU's translation unit.
 * It reads each descriptor as one 64-bit single-copy-atomic access (IHI 0070, 3.21.3: translation
 * table descriptor fetches are 64-bit single-copy atomic): in deterministic mode as the two 32-bit
 * halves of the shared buffer (no other agent runs in between), in concurrent mode with one
 * Atomics.load on the BigInt64Array view, so a CPU store is seen entirely or not at all.
 *
 * Results are left in fields (no allocation per walk); read them right after `walk` returns.
 * Faults follow the priority of the Arm ARM and QEMU's smmu_ptw_64_s1: translation, address size,
 * access flag; the permission check is the caller's (it also applies to IOTLB hits).
 */
export class Vmsav8Walker {
  /** Level of the leaf, or of the descriptor that faulted. */
  level = 0
  /** Base physical address of the leaf's page or block. */
  outputAddress = 0
  /** Byte size of the leaf: 4 KiB, 2 MiB or 1 GiB. */
  leafSize = 0
  /** PERM_READ | PERM_WRITE | PERM_EXEC for an unprivileged data access. */
  perm = 0
  /** Physical address of the last descriptor read (the leaf or the faulting entry). */
  descriptorPa = 0
  /** Descriptors read by the last walk (for benchmarks). */
  reads = 0
  private readonly u32: Uint32Array
  private readonly i64: BigInt64Array
  private readonly memSize: number
  private lo = 0
  private hi = 0

  constructor(
    readonly memory: PhysicalMemory,
    /** Concurrent mode: read descriptors with Atomics (another thread stores them). */
    readonly atomic = false,
  ) {
    this.u32 = memory.u32
    this.i64 = memory.i64
    this.memSize = memory.size
  }

  /** Reads the 64-bit word at `pa` into `lo`/`hi` in one single-copy-atomic access. */
  private read(pa: number): void {
    if (this.atomic) {
      const v = Atomics.load(this.i64, pa / 8)
      this.lo = Number(BigInt.asUintN(32, v))
      this.hi = Number(BigInt.asUintN(32, v >> 32n))
    } else {
      const i = pa / 4
      this.lo = this.u32[i]
      this.hi = this.u32[i + 1]
    }
  }

  /** Walks `iova` through the tables of `r`; returns a WalkFault value (0 = a leaf was found). */
  walk(r: WalkRegime, iova: number): number {
    return this.walkRaw(r.stage, r.ttb, r.startLevel, r.inputBits, r.outputBits, r.affd, iova)
  }

  walkRaw(
    stage: TranslationStage,
    ttb: number,
    startLevel: number,
    inputBits: number,
    outputBits: number,
    affd: boolean,
    iova: number,
  ): number {
    this.reads = 0
    let level = startLevel
    this.level = level
    // Input beyond 2^(64-TxSZ): translation fault (Arm ARM D8.2.1; IHI 0070 3.4.1).
    if (iova < 0 || iova >= 2 ** inputBits) return WalkFault.Translation
    // Output addresses must fit in [outputBits-1:0]: the high half's address bits [47:32] are
    // compared against the limit.
    const hiLimit = outputBits >= 48 ? DESC_ADDR_HI_MASK + 1 : 2 ** (outputBits - 32)
    if (ttb >= 2 ** outputBits) return WalkFault.AddressSize
    let table = ttb
    // At the start level the index is not masked to 9 bits: stage 2 may concatenate up to 16
    // tables there (Arm ARM D8.2.3), and for stage 1 the range check above bounds it.
    let index = Math.floor(iova / LEVEL_SIZE[level])
    for (;;) {
      const dpa = table + index * 8
      this.descriptorPa = dpa
      if (dpa + 8 > this.memSize) return WalkFault.WalkExternalAbort
      this.read(dpa)
      this.reads++
      const lo = this.lo
      const hi = this.hi
      // Bit 0 clear: invalid descriptor (Arm ARM D8.3.1).
      if ((lo & 1) === 0) return WalkFault.Translation
      const addrHi = hi & DESC_ADDR_HI_MASK
      if ((lo & 2) !== 0 && level < 3) {
        // Table descriptor: next-level table address [47:12].
        if (addrHi >= hiLimit) return WalkFault.AddressSize
        table = addrHi * 4294967296 + ((lo & DESC_ADDR_LO_MASK_4K) >>> 0)
        level++
        this.level = level
        // ToInt32 keeps the low 32 bits of the exact quotient, so `& 511` is exact below 2^53.
        index = (iova / LEVEL_SIZE[level]) & 511
        continue
      }
      // 0b01 at level 3, or a block at level 0, is reserved with the 4 KiB granule.
      if ((lo & 2) === 0 && (level === 3 || level === 0)) return WalkFault.Translation
      if (addrHi >= hiLimit) return WalkFault.AddressSize
      if ((lo & DESC_AF) === 0 && !affd) return WalkFault.Access
      const loMask =
        level === 3 ? DESC_ADDR_LO_MASK_4K : level === 2 ? DESC_ADDR_LO_MASK_2M : DESC_ADDR_LO_MASK_1G
      this.outputAddress = addrHi * 4294967296 + ((lo & loMask) >>> 0)
      this.leafSize = LEVEL_SIZE[level]
      let perm: number
      if (stage === 1) {
        // Stage 1, unprivileged data access: AP[1] (bit 6) grants EL0 access, AP[2] (bit 7)
        // makes it read-only (Arm ARM D8.4.1; io-pgtable-arm ARM_LPAE_PTE_AP_UNPRIV/RDONLY).
        perm =
          (lo & DESC_AP_UNPRIV) === 0 ? 0 : (lo & DESC_AP_RDONLY) === 0 ? PERM_READ | PERM_WRITE : PERM_READ
        if ((hi & DESC_HI_XN) === 0 && perm !== 0) perm |= PERM_EXEC
      } else {
        // Stage 2: S2AP[0] (bit 6) read, S2AP[1] (bit 7) write (Arm ARM D8.4.3).
        perm = ((lo & DESC_S2AP_READ) === 0 ? 0 : PERM_READ) | ((lo & DESC_S2AP_WRITE) === 0 ? 0 : PERM_WRITE)
        if ((hi & DESC_HI_XN) === 0) perm |= PERM_EXEC
      }
      this.perm = perm
      return WalkFault.None
    }
  }
}
