import type { PhysicalMemory } from '../../memory/physical-memory.js'
import type { TranslationStage } from './descriptor.js'

// Hot-path copies of descriptor.ts constants. Module-local on purpose: tsx may compile imported
// bindings to getters, which would put a call on every use inside the walk loop.
/** descriptor.ts LEVEL_SIZE. */
const LEVEL_SIZE = [2 ** 39, 2 ** 30, 2 ** 21, 2 ** 12]
/** DESC_ADDR_HI_MASK: output address bits [47:32]. */
const ADDR_HI_MASK = 0xffff
/** DESC_ADDR_LO_MASK_4K / _2M / _1G. */
const ADDR_LO_4K = 0xfffff000
const ADDR_LO_2M = 0xffe00000
const ADDR_LO_1G = 0xc0000000
/** DESC_AF (bit 10), DESC_AP_UNPRIV (6), DESC_AP_RDONLY (7), DESC_S2AP_READ (6), DESC_S2AP_WRITE (7). */
const AF = 1 << 10
const AP_UNPRIV = 1 << 6
const AP_RDONLY = 1 << 7
const S2AP_READ = 1 << 6
const S2AP_WRITE = 1 << 7
/** DESC_HI_XN: bit 54. */
const HI_XN = 1 << 22
/** 2^i without Math.pow on the hot path. */
const POW2: number[] = Array.from({ length: 64 }, (_, i) => 2 ** i)

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
  /** Highest base of a whole 4 KiB table inside memory; -1 disables the unrolled path. */
  private readonly tableLimit: number
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
    // The unrolled walk keeps table addresses in int32 arithmetic: memory must end below 2^31.
    this.tableLimit = !atomic && memory.size <= 2 ** 31 ? memory.size - 4096 : -1
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
    let reads = 0
    const atomic = this.atomic
    const u32 = this.u32
    const memSize = this.memSize
    let level = startLevel
    let dpa = -1
    this.level = level
    this.reads = 0
    // Input beyond 2^(64-TxSZ): translation fault (Arm ARM D8.2.1; IHI 0070 3.4.1).
    if (iova < 0 || iova >= POW2[inputBits]) return WalkFault.Translation
    // Output addresses must fit in [outputBits-1:0]: the high half's address bits [47:32] are
    // compared against the limit.
    const hiLimit = outputBits >= 48 ? ADDR_HI_MASK + 1 : POW2[outputBits - 32]
    if (ttb >= POW2[outputBits]) return WalkFault.AddressSize
    // Unrolled fast path: a 4-level walk from level 0 through table descriptors that lie in
    // memory to a valid level-3 page with AF set (or AFFD). Anything else — a block, an invalid
    // or reserved descriptor, a table outside memory or above the output size — leaves it for
    // the general loop below, which reads again from the start and reports the fault. Only in
    // deterministic mode (no other agent runs between the reads, so re-reading is the same walk).
    const tableLimit = this.tableLimit
    if (startLevel === 0 && inputBits <= 48 && ttb <= tableLimit) {
      const ihi = Math.floor(iova / 4294967296)
      const ilo = iova >>> 0
      let t = ttb
      let d = (t >>> 2) + (((ihi >>> 7) & 511) << 1)
      let lo = u32[d]
      if ((lo & 3) === 3 && (u32[d + 1] & ADDR_HI_MASK) === 0) {
        t = (lo & ADDR_LO_4K) >>> 0
        if (t <= tableLimit) {
          d = (t >>> 2) + ((((ilo >>> 30) | (ihi << 2)) & 511) << 1)
          lo = u32[d]
          if ((lo & 3) === 3 && (u32[d + 1] & ADDR_HI_MASK) === 0) {
            t = (lo & ADDR_LO_4K) >>> 0
            if (t <= tableLimit) {
              d = (t >>> 2) + (((ilo >>> 21) & 511) << 1)
              lo = u32[d]
              if ((lo & 3) === 3 && (u32[d + 1] & ADDR_HI_MASK) === 0) {
                t = (lo & ADDR_LO_4K) >>> 0
                if (t <= tableLimit) {
                  d = (t >>> 2) + (((ilo >>> 12) & 511) << 1)
                  lo = u32[d]
                  const hi = u32[d + 1]
                  const addrHi = hi & ADDR_HI_MASK
                  if ((lo & 3) === 3 && addrHi < hiLimit && ((lo & AF) !== 0 || affd)) {
                    this.outputAddress = addrHi * 4294967296 + ((lo & ADDR_LO_4K) >>> 0)
                    this.leafSize = 4096
                    let perm: number
                    if (stage === 1) {
                      perm =
                        (lo & AP_UNPRIV) === 0
                          ? 0
                          : (lo & AP_RDONLY) === 0
                            ? PERM_READ | PERM_WRITE
                            : PERM_READ
                      if ((hi & HI_XN) === 0 && perm !== 0) perm |= PERM_EXEC
                    } else {
                      perm =
                        ((lo & S2AP_READ) === 0 ? 0 : PERM_READ) | ((lo & S2AP_WRITE) === 0 ? 0 : PERM_WRITE)
                      if ((hi & HI_XN) === 0) perm |= PERM_EXEC
                    }
                    this.perm = perm
                    this.level = 3
                    this.descriptorPa = d * 4
                    this.reads = 4
                    return WalkFault.None
                  }
                }
              }
            }
          }
        }
      }
    }
    let table = ttb
    // At the start level the index is not masked to 9 bits: stage 2 may concatenate up to 16
    // tables there (Arm ARM D8.2.3), and for stage 1 the range check above bounds it.
    let index = Math.floor(iova / LEVEL_SIZE[level])
    const ihi = Math.floor(iova / 4294967296)
    const ilo = (iova - ihi * 4294967296) >>> 0
    for (;;) {
      dpa = table + index * 8
      if (dpa + 8 > memSize) return this.stop(WalkFault.WalkExternalAbort, level, dpa, reads)
      let lo: number
      let hi: number
      if (atomic) {
        this.read(dpa)
        lo = this.lo
        hi = this.hi
      } else {
        const i = dpa / 4
        lo = u32[i]
        hi = u32[i + 1]
      }
      reads++
      // Bit 0 clear: invalid descriptor (Arm ARM D8.3.1).
      if ((lo & 1) === 0) return this.stop(WalkFault.Translation, level, dpa, reads)
      const addrHi = hi & ADDR_HI_MASK
      if ((lo & 2) !== 0 && level < 3) {
        // Table descriptor: next-level table address [47:12].
        if (addrHi >= hiLimit) return this.stop(WalkFault.AddressSize, level, dpa, reads)
        table = addrHi * 4294967296 + ((lo & ADDR_LO_4K) >>> 0)
        level++
        // Index bits from the two 32-bit halves of the input address (integer ops only).
        index =
          level === 3
            ? (ilo >>> 12) & 511
            : level === 2
              ? (ilo >>> 21) & 511
              : level === 1
                ? ((ilo >>> 30) | (ihi << 2)) & 511
                : (ihi >>> 7) & 511
        continue
      }
      // 0b01 at level 3, or a block at level 0, is reserved with the 4 KiB granule.
      if ((lo & 2) === 0 && (level === 3 || level === 0))
        return this.stop(WalkFault.Translation, level, dpa, reads)
      if (addrHi >= hiLimit) return this.stop(WalkFault.AddressSize, level, dpa, reads)
      if ((lo & AF) === 0 && !affd) return this.stop(WalkFault.Access, level, dpa, reads)
      const loMask = level === 3 ? ADDR_LO_4K : level === 2 ? ADDR_LO_2M : ADDR_LO_1G
      this.outputAddress = addrHi * 4294967296 + ((lo & loMask) >>> 0)
      this.leafSize = LEVEL_SIZE[level]
      let perm: number
      if (stage === 1) {
        // Stage 1, unprivileged data access: AP[1] (bit 6) grants EL0 access, AP[2] (bit 7)
        // makes it read-only (Arm ARM D8.4.1; io-pgtable-arm ARM_LPAE_PTE_AP_UNPRIV/RDONLY).
        perm = (lo & AP_UNPRIV) === 0 ? 0 : (lo & AP_RDONLY) === 0 ? PERM_READ | PERM_WRITE : PERM_READ
        if ((hi & HI_XN) === 0 && perm !== 0) perm |= PERM_EXEC
      } else {
        // Stage 2: S2AP[0] (bit 6) read, S2AP[1] (bit 7) write (Arm ARM D8.4.3).
        perm = ((lo & S2AP_READ) === 0 ? 0 : PERM_READ) | ((lo & S2AP_WRITE) === 0 ? 0 : PERM_WRITE)
        if ((hi & HI_XN) === 0) perm |= PERM_EXEC
      }
      this.perm = perm
      return this.stop(WalkFault.None, level, dpa, reads)
    }
  }

  private stop(fault: number, level: number, dpa: number, reads: number): number {
    this.level = level
    this.descriptorPa = dpa
    this.reads = reads
    return fault
  }
}
