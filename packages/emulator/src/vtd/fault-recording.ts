import type { VtdRegisterFile } from './register-file.js'
import { FAULT_COUNTS, LATCH } from './register-file.js'
import {
  DMA_FECTL,
  DMA_FRCD,
  DMA_FSTS,
  DMAR_FECTL_REG,
  DMAR_FSTS_REG,
  PRIMARY_FAULT_REG_LEN,
} from './registers.js'

/** What became of one fault: only `recorded` reaches software. */
export type FaultFate = 'recorded' | 'lost-overflow' | 'lost-pfo' | 'collapsed' | 'suppressed-fpd'

export interface FaultRecordingStats {
  recorded: number
  /** The next FRCD was still full: PFO set, fault lost. */
  lostOverflow: number
  /** PFO was already set: fault lost. */
  lostPfo: number
  /** A pending record from the same source-id: fault not recorded (same-source collapse). */
  collapsed: number
  /** FPD set in the context / PASID-directory / PASID entry: recording disabled. */
  suppressedFpd: number
}

/**
 * The counts of `FaultRecordingStats` as a view of the register file (FAULT_COUNTS): reading a
 * field reads the register, `++` writes it. The hardware's recorder and a driver on another thread
 * see the same numbers.
 */
export function faultRecordingStats(regs: VtdRegisterFile): FaultRecordingStats {
  const counter = (offset: number): PropertyDescriptor => ({
    enumerable: true,
    get: () => regs.get32(offset),
    set: (v: number) => regs.set32(offset, v),
  })
  return Object.defineProperties({} as FaultRecordingStats, {
    recorded: counter(FAULT_COUNTS.RECORDED),
    lostOverflow: counter(FAULT_COUNTS.LOST_OVERFLOW),
    lostPfo: counter(FAULT_COUNTS.LOST_PFO),
    collapsed: counter(FAULT_COUNTS.COLLAPSED),
    suppressedFpd: counter(FAULT_COUNTS.SUPPRESSED_FPD),
  })
}

/**
 * The unit's fault log as two numbers, from the register file: faults recorded, and faults that
 * left no record of their own (lost to overflow or PFO, collapsed into an earlier record,
 * suppressed by FPD).
 */
export function faultLogTotals(regs: VtdRegisterFile): { recorded: number; lost: number } {
  const s = faultRecordingStats(regs)
  return { recorded: s.recorded, lost: s.lostOverflow + s.lostPfo + s.collapsed + s.suppressedFpd }
}

/**
 * Primary fault logging (VT-d spec §7.2.1 "Primary Fault Logging", §11.4.9 FRCD_REG; QEMU
 * `vtd_report_frcd_fault`, `vtd_try_collapse_fault`), in the order QEMU applies the rules:
 * 1. FPD set in the entry that governs the request: not recorded (the request is still blocked).
 * 2. FSTS.PFO already set: dropped ("New fault is not recorded due to Primary Fault Overflow").
 * 3. A record with F=1 from the same source-id is pending: collapsed, not recorded again.
 * 4. The next record (hardware keeps a rotating index) still has F=1: PFO is set, dropped.
 * 5. Otherwise the 128-bit record is written (FI, SID, FR, T, PASID), F last; if no fault was
 *    pending, FSTS.FRI points at it; FECTL.IP is set (the fault event interrupt).
 * So the recorded faults can be fewer than the real ones: counting recorded faults is not a
 * ground truth.
 */
export class FaultRecorder {
  /** In the register file (FAULT_COUNTS): hardware state, kept across a kexec. */
  readonly stats: FaultRecordingStats

  constructor(
    private readonly regs: VtdRegisterFile,
    /** Number of fault recording registers (CAP.NFR + 1). */
    readonly nfr: number,
    /** Their offset (CAP.FRO * 16). */
    readonly fro: number,
  ) {
    this.stats = faultRecordingStats(regs)
  }

  record(
    sid: number,
    reason: number,
    address: number,
    isRead: boolean,
    pasid: number,
    fpd: boolean,
  ): FaultFate {
    const regs = this.regs
    if (fpd) {
      this.stats.suppressedFpd++
      return 'suppressed-fpd'
    }
    const fsts = regs.get32(DMAR_FSTS_REG)
    if ((fsts & DMA_FSTS.PFO) !== 0) {
      this.stats.lostPfo++
      return 'lost-pfo'
    }
    let pending = false
    for (let i = 0; i < this.nfr; i++) {
      const base = this.fro + i * PRIMARY_FAULT_REG_LEN
      if ((regs.get32(base + 12) & DMA_FRCD.F) === 0) continue
      pending = true
      if ((regs.get32(base + 8) & DMA_FRCD.SID_MASK) === (sid & 0xffff)) {
        this.stats.collapsed++
        return 'collapsed'
      }
    }
    const idx = regs.get32(LATCH.NEXT_FRCD) % this.nfr
    const base = this.fro + idx * PRIMARY_FAULT_REG_LEN
    if ((regs.get32(base + 12) & DMA_FRCD.F) !== 0) {
      regs.update32(DMAR_FSTS_REG, DMA_FSTS.PFO, true)
      this.stats.lostOverflow++
      return 'lost-overflow'
    }
    // FI: the page address (bits 63:12) of the faulting request.
    regs.set32(base, (address % 0x100000000) & 0xfffff000)
    regs.set32(base + 4, Math.floor(address / 0x100000000))
    const hasPasid = pasid >= 0
    regs.set32(base + 8, (sid & DMA_FRCD.SID_MASK) | (hasPasid ? DMA_FRCD.PP : 0))
    regs.set32(
      base + 12,
      (reason & DMA_FRCD.FR_MASK) |
        (hasPasid ? (pasid << DMA_FRCD.PV_SHIFT) & DMA_FRCD.PV_MASK : 0) |
        (isRead ? DMA_FRCD.T : 0) |
        DMA_FRCD.F,
    )
    regs.set32(LATCH.NEXT_FRCD, (idx + 1) % this.nfr)
    if (!pending) {
      const v = regs.get32(DMAR_FSTS_REG)
      regs.set32(DMAR_FSTS_REG, (v & ~DMA_FSTS.FRI_MASK) | (idx << DMA_FSTS.FRI_SHIFT))
    }
    regs.update32(DMAR_FECTL_REG, DMA_FECTL.IP, true)
    this.stats.recorded++
    return 'recorded'
  }
}

/** One fault record as software reads it back (dmar_fault). */
export interface FaultRecord {
  index: number
  sid: number
  reason: number
  /** FI: faulting page address. */
  address: number
  /** T=1: a read; T=0: a write. */
  isRead: boolean
  /** -1 when the record carries no PASID (PP=0). */
  pasid: number
}

/** Decodes the four words of FRCD record `index` (lo word first). */
export function decodeFaultRecord(index: number, w: ArrayLike<number>): FaultRecord {
  return {
    index,
    address: (w[1] >>> 0) * 0x100000000 + ((w[0] & 0xfffff000) >>> 0),
    sid: w[2] & DMA_FRCD.SID_MASK,
    pasid: (w[2] & DMA_FRCD.PP) !== 0 ? (w[3] & DMA_FRCD.PV_MASK) >>> DMA_FRCD.PV_SHIFT : -1,
    reason: w[3] & DMA_FRCD.FR_MASK,
    isRead: (w[3] & DMA_FRCD.T) !== 0,
  }
}
