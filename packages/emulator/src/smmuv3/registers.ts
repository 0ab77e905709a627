import { field } from './qword-field.js'

/**
 * SMMUv3 register file, page 0 (IHI 0070, 6.3 "Register formats"; offsets and fields as Linux's
 * arm-smmu-v3.h `ARM_SMMU_*`). Registers belong to the SMMU and persist across a kexec, as on real
 * hardware (only the kernel is replaced).
 *
 * The file sits on a SharedArrayBuffer so that, in concurrent mode, the CPU (main thread) and the
 * SMMU (DMA worker) see the same registers: doorbells (CMDQ_PROD) and progress (CMDQ_CONS,
 * EVTQ_PROD) go through Atomics; configuration registers are written before DMA starts.
 */
export const REG = {
  IDR0: 0x00,
  IDR1: 0x04,
  IDR3: 0x0c,
  IDR5: 0x14,
  IIDR: 0x18,
  CR0: 0x20,
  CR0ACK: 0x24,
  CR1: 0x28,
  CR2: 0x2c,
  GBPA: 0x44,
  GERROR: 0x60,
  GERRORN: 0x64,
  STRTAB_BASE: 0x80,
  STRTAB_BASE_HI: 0x84,
  STRTAB_BASE_CFG: 0x88,
  CMDQ_BASE: 0x90,
  CMDQ_BASE_HI: 0x94,
  CMDQ_PROD: 0x98,
  CMDQ_CONS: 0x9c,
  EVTQ_BASE: 0xa0,
  EVTQ_BASE_HI: 0xa4,
  EVTQ_PROD: 0xa8,
  EVTQ_CONS: 0xac,
  /**
   * This model's event counters, in the page-0 range IHI 0070 leaves IMPLEMENTATION DEFINED
   * (0xE00-0xEFF): events written to the event queue, and events lost (queue full, EVTQEN=0).
   * The architecture has no such count (EVTQ_PROD.OVFLG says only that something was lost); they
   * are here because a kernel on another thread than the SMMU (concurrent mode) must read the
   * hardware's fault log through MMIO like any other hardware state, and a kexec must not reset
   * it. Wrapping 32-bit counters.
   */
  IMPDEF_EVENTS_RECORDED: 0xe00,
  IMPDEF_EVENTS_LOST: 0xe04,
} as const

/** Page 0 up to and including the IMPLEMENTATION DEFINED range. */
export const REGISTER_FILE_BYTES = 0x1000

/** IDR0 fields (IDR0_* in arm-smmu-v3.h). */
export const IDR0 = {
  S2P: field(0, 0),
  S1P: field(0, 1),
  /** TTF [3:2]: 2 = AArch64 tables. */
  TTF: field(0, 3, 2),
  COHACC: field(0, 4),
  ASID16: field(0, 12),
  VMID16: field(0, 18),
  /** CD2L: 2-level CD tables supported. */
  CD2L: field(0, 19),
  /** ST_LVL [28:27]: 1 = 2-level stream tables supported. */
  ST_LVL: field(0, 28, 27),
} as const

export const IDR1 = {
  SIDSIZE: field(0, 5, 0),
  SSIDSIZE: field(0, 10, 6),
  PRIQS: field(0, 15, 11),
  EVTQS: field(0, 20, 16),
  CMDQS: field(0, 25, 21),
} as const

/**
 * IDR3.BBML [12:11] (SMMUv3.2): break-before-make level supported when the size of a live
 * translation changes. 0: changing the size of a live leaf without BBM is UNPREDICTABLE (TLB
 * conflict aborts or either translation); 2: no conflict aborts, either translation is used.
 * IDR3.RIL bit 10: range invalidation.
 */
export const IDR3 = {
  RIL: field(0, 10),
  BBML: field(0, 12, 11),
} as const

export const IDR5 = {
  OAS: field(0, 2, 0),
  GRAN4K: field(0, 4),
  GRAN16K: field(0, 5),
  GRAN64K: field(0, 6),
} as const

/** CR0 (CR0_*): SMMUEN bit 0, PRIQEN 1, EVTQEN 2, CMDQEN 3. */
export const CR0_SMMUEN = 1 << 0
export const CR0_EVTQEN = 1 << 2
export const CR0_CMDQEN = 1 << 3

/** GBPA: ABORT bit 20 (transactions abort when SMMUEN=0), UPDATE bit 31. */
export const GBPA_ABORT = 1 << 20
export const GBPA_UPDATE = 1 << 31

/** GERROR bit 0: CMDQ_ERR (toggled; GERRORN acknowledges). */
export const GERROR_CMDQ_ERR = 1 << 0

/** Queue base registers (Q_BASE_*): ADDR [51:5], LOG2SIZE [4:0]. */
export const Q_BASE = {
  ADDR: field(0, 51, 5),
  LOG2SIZE: field(0, 4, 0),
} as const

/** PROD/CONS: bit 31 is EVTQ_PROD.OVFLG / EVTQ_CONS.OVACKFLG (Q_OVERFLOW_FLAG). */
export const Q_OVERFLOW_FLAG = 0x8000_0000
/** CMDQ_CONS.ERR [30:24]: CERROR_NONE 0, CERROR_ILL 1, CERROR_ABT 2. */
export const CMDQ_CONS_ERR_SHIFT = 24
export const CERROR_ILL = 1

/** The register file: 32-bit registers, 64-bit ones as two halves. */
export class SmmuRegisters {
  readonly buffer: SharedArrayBuffer
  readonly i32: Int32Array

  constructor(buffer?: SharedArrayBuffer) {
    this.buffer = buffer ?? new SharedArrayBuffer(REGISTER_FILE_BYTES)
    this.i32 = new Int32Array(this.buffer)
  }

  read32(offset: number): number {
    return Atomics.load(this.i32, offset >>> 2) >>> 0
  }

  write32(offset: number, value: number): void {
    Atomics.store(this.i32, offset >>> 2, value | 0)
  }

  read64(offset: number): number {
    return this.read32(offset + 4) * 4294967296 + this.read32(offset)
  }

  write64(offset: number, value: number): void {
    this.write32(offset, value % 4294967296)
    this.write32(offset + 4, Math.floor(value / 4294967296))
  }
}

/**
 * How a driver reaches an SMMU's registers. Writes may have side effects (a CMDQ_PROD write is a
 * doorbell). In deterministic mode the SMMU reacts synchronously inside `write32`; in concurrent
 * mode the register file is shared and the SMMU's thread reacts on its own time.
 */
export interface SmmuMmio {
  read32(offset: number): number
  write32(offset: number, value: number): void
  /**
   * Waits until the SMMU has consumed commands up to `prod` (CMDQ_CONS reaches it) — CMD_SYNC
   * completion as the driver polls it. Throws if the SMMU reports a command error.
   */
  waitCmdqConsumed(prod: number): void
}
