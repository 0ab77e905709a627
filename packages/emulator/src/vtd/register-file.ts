import {
  DMA_FRCD,
  DMA_FSTS,
  DMA_GCMD,
  DMA_GSTS,
  DMAR_CAP_REG,
  DMAR_ECAP_REG,
  DMAR_FSTS_REG,
  DMAR_GCMD_REG,
  DMAR_GSTS_REG,
  DMAR_ICS_REG,
  DMAR_IQH_REG,
  DMAR_IQT_REG,
  DMAR_REG_SIZE,
  DMAR_VER_REG,
  FSTS_RW1C,
  ICS,
  PRIMARY_FAULT_REG_LEN,
} from './registers.js'

/**
 * The remapping unit's register page plus its hardware-internal latches, in a SharedArrayBuffer.
 *
 * Registers are hardware state: they survive a kexec (only kernel objects die), and in concurrent
 * mode the CPU thread (the driver, through VtdMmio) and the DMA worker thread (the hardware,
 * VtdIommu) both reach them. Every access is a 32-bit Atomics operation on one word; 64-bit
 * registers are two words (the spec allows 32-bit accesses to them, §10.2).
 *
 * Past the register page sit latches software cannot address: the root-table address and mode
 * latched by the last SRTP command (the hardware walks that one, not RTADDR_REG), the next fault
 * recording index, and a doorbell counter that VtdMmio bumps whenever a write needs the hardware
 * to act (GCMD, IQT), so the hardware notices it on its own thread.
 */
const INTERNAL = DMAR_REG_SIZE
export const LATCH = {
  DOORBELL: INTERNAL + 0x0,
  RTA_LO: INTERNAL + 0x4,
  RTA_HI: INTERNAL + 0x8,
  TTM: INTERNAL + 0xc,
  NEXT_FRCD: INTERNAL + 0x10,
} as const

/**
 * What became of every fault the unit offered to its recorder (FaultRecordingStats), counted by
 * the model next to its latches. No VT-d register counts faults — FSTS.PFO says only that one was
 * lost — but a kernel must read the hardware's fault log by MMIO from any thread (concurrent mode:
 * the unit runs on the DMA worker), and a kexec must not reset it: held here, both are true.
 * Wrapping 32-bit counters, written by the hardware only.
 */
export const FAULT_COUNTS = {
  RECORDED: INTERNAL + 0x14,
  LOST_OVERFLOW: INTERNAL + 0x18,
  LOST_PFO: INTERNAL + 0x1c,
  COLLAPSED: INTERNAL + 0x20,
  SUPPRESSED_FPD: INTERNAL + 0x24,
} as const
const TOTAL_BYTES = DMAR_REG_SIZE + 0x100

export class VtdRegisterFile {
  readonly buffer: SharedArrayBuffer
  readonly i32: Int32Array

  constructor(buffer?: SharedArrayBuffer) {
    this.buffer = buffer ?? new SharedArrayBuffer(TOTAL_BYTES)
    if (this.buffer.byteLength < TOTAL_BYTES) throw new RangeError('register buffer too small')
    this.i32 = new Int32Array(this.buffer)
  }

  /** Raw 32-bit read (unsigned), no side effects. */
  get32(offset: number): number {
    return Atomics.load(this.i32, offset >>> 2) >>> 0
  }

  /** Raw 32-bit write, no side effects (hardware-side updates). */
  set32(offset: number, value: number): void {
    Atomics.store(this.i32, offset >>> 2, value | 0)
  }

  get64(offset: number): bigint {
    return (BigInt(this.get32(offset + 4)) << 32n) | BigInt(this.get32(offset))
  }

  set64(offset: number, value: bigint): void {
    this.set32(offset, Number(value & 0xffffffffn))
    this.set32(offset + 4, Number((value >> 32n) & 0xffffffffn))
  }

  /** Atomically sets (`on`) or clears bits of a 32-bit register. */
  update32(offset: number, bits: number, on: boolean): void {
    if (on) Atomics.or(this.i32, offset >>> 2, bits | 0)
    else Atomics.and(this.i32, offset >>> 2, ~bits)
  }

  get doorbell(): number {
    return Atomics.load(this.i32, LATCH.DOORBELL >>> 2)
  }

  ringDoorbell(): void {
    Atomics.add(this.i32, LATCH.DOORBELL >>> 2, 1)
  }
}

/**
 * Software's view of the register page (the kernel's readl/writel/readq/writeq on the MMIO
 * window), with the access semantics of each register (VT-d spec §11.4):
 * - VER, CAP, ECAP, GSTS, IQH are read-only;
 * - GCMD is a command: SRTP clears GSTS.RTPS until the hardware has latched the root table
 *   (software waits for RTPS, iommu_set_root_entry / IOMMU_WAIT_OP); TE and QIE are carried out
 *   by the hardware, which then updates GSTS.TES / QIES;
 * - IQT rings the hardware to process the invalidation queue;
 * - FSTS PFO/IQE/ICE/ITE/PRO, ICS.IWC and each FRCD's F bit are write-1-to-clear;
 * - FSTS.PPF reads as "some FRCD has F set" (it is derived, not stored).
 *
 * `onDoorbell` runs the hardware synchronously after a command write (deterministic mode).
 * Without it (concurrent mode) the hardware on the DMA thread notices the doorbell itself.
 */
export class VtdMmio {
  constructor(
    readonly regs: VtdRegisterFile,
    private readonly onDoorbell?: () => void,
  ) {}

  read32(offset: number): number {
    if (offset === DMAR_FSTS_REG) {
      const v = this.regs.get32(offset) & ~DMA_FSTS.PPF
      return (this.anyFaultPending() ? v | DMA_FSTS.PPF : v) >>> 0
    }
    return this.regs.get32(offset)
  }

  read64(offset: number): bigint {
    return (BigInt(this.read32(offset + 4)) << 32n) | BigInt(this.read32(offset))
  }

  write32(offset: number, value: number): void {
    this.store32(offset, value)
    if (offset === DMAR_GCMD_REG || offset === DMAR_IQT_REG) this.ring()
  }

  write64(offset: number, value: bigint): void {
    this.store32(offset, Number(value & 0xffffffffn))
    this.store32(offset + 4, Number((value >> 32n) & 0xffffffffn))
    if (offset === DMAR_IQT_REG) this.ring()
  }

  private ring(): void {
    this.regs.ringDoorbell()
    this.onDoorbell?.()
  }

  private store32(offset: number, value: number): void {
    const regs = this.regs
    if (
      offset === DMAR_VER_REG ||
      (offset >= DMAR_CAP_REG && offset < DMAR_ECAP_REG + 8) ||
      offset === DMAR_GSTS_REG ||
      offset === DMAR_IQH_REG ||
      offset === DMAR_IQH_REG + 4
    ) {
      return
    }
    if (offset === DMAR_FSTS_REG) {
      regs.update32(offset, value & FSTS_RW1C, false)
      return
    }
    if (offset === DMAR_ICS_REG) {
      regs.update32(offset, value & ICS.IWC, false)
      return
    }
    const cap = regs.get64(DMAR_CAP_REG)
    const fro = Number((cap >> 24n) & 0x3ffn) * 16
    const nfr = Number((cap >> 40n) & 0xffn) + 1
    if (offset >= fro && offset < fro + nfr * PRIMARY_FAULT_REG_LEN) {
      // Only the word holding F (+12) is writable: F is RW1C.
      if ((offset - fro) % PRIMARY_FAULT_REG_LEN === 12) regs.update32(offset, value & DMA_FRCD.F, false)
      return
    }
    if (offset === DMAR_GCMD_REG && (value & DMA_GCMD.SRTP) !== 0) {
      regs.update32(DMAR_GSTS_REG, DMA_GSTS.RTPS, false)
    }
    regs.set32(offset, value)
  }

  private anyFaultPending(): boolean {
    const cap = this.regs.get64(DMAR_CAP_REG)
    const fro = Number((cap >> 24n) & 0x3ffn) * 16
    const nfr = Number((cap >> 40n) & 0xffn) + 1
    for (let i = 0; i < nfr; i++) {
      if ((this.regs.get32(fro + i * PRIMARY_FAULT_REG_LEN + 12) & DMA_FRCD.F) !== 0) return true
    }
    return false
  }
}
