import type { DmaAccessKind, IommuTranslator, TranslationOutcome } from '../iommu/translator.js'
import type { PhysicalMemory } from '../memory/physical-memory.js'
import { addressSizeEncoding } from '../pagetable/vmsav8/descriptor.js'
import { CommandQueueConsumer } from './command-queue.js'
import type { SmmuCommand } from './commands.js'
import { ConfigCache } from './config-cache.js'
import { EventQueue } from './event-queue.js'
import { Iotlb } from './iotlb.js'
import { set } from './qword-field.js'
import {
  CMDQ_CONS_ERR_SHIFT,
  GBPA_UPDATE,
  GERROR_CMDQ_ERR,
  IDR0,
  IDR1,
  IDR3,
  IDR5,
  REG,
  type SmmuMmio,
  SmmuRegisters,
} from './registers.js'
import { SmmuV3Translator } from './translate.js'

export interface SmmuV3Options {
  memory: PhysicalMemory
  /** A register file to share with another thread (concurrent mode); default a new one. */
  registers?: SmmuRegisters
  /** Initialise the ID registers (default true; false when adopting a shared, live file). */
  reset?: boolean
  /** IDR3.BBML: 0 (default), 1 or 2. */
  bbml?: 0 | 1 | 2
  /** IDR1.SIDSIZE (default 16). */
  sidBits?: number
  /** IDR1.SSIDSIZE (default 10). */
  ssidBits?: number
  /** IDR5.OAS in bits (default 48). */
  oasBits?: number
  /** IOTLB entries before it is emptied (default 8192). */
  iotlbCapacity?: number
  /** Concurrent mode: structure reads with Atomics (the CPU stores from another thread). */
  atomic?: boolean
}

/**
 * Power-on values of the ID registers (IDR0/1/3/5): both stages, AArch64 tables, 16-bit ASIDs and
 * VMIDs, 2-level stream and CD tables, the 4 KiB granule, IDR3.BBML as configured, OAS.
 */
export function resetSmmuRegisters(
  regs: SmmuRegisters,
  opts: Pick<SmmuV3Options, 'bbml' | 'sidBits' | 'ssidBits' | 'oasBits'> = {},
): void {
  const w = [0n]
  set(w, IDR0.S1P, 1)
  set(w, IDR0.S2P, 1)
  set(w, IDR0.TTF, 2)
  set(w, IDR0.COHACC, 1)
  set(w, IDR0.ASID16, 1)
  set(w, IDR0.VMID16, 1)
  set(w, IDR0.CD2L, 1)
  set(w, IDR0.ST_LVL, 1)
  regs.write32(REG.IDR0, Number(w[0]))
  const w1 = [0n]
  set(w1, IDR1.SIDSIZE, opts.sidBits ?? 16)
  set(w1, IDR1.SSIDSIZE, opts.ssidBits ?? 10)
  set(w1, IDR1.CMDQS, 19)
  set(w1, IDR1.EVTQS, 19)
  regs.write32(REG.IDR1, Number(w1[0]))
  const w3 = [0n]
  set(w3, IDR3.BBML, opts.bbml ?? 0)
  regs.write32(REG.IDR3, Number(w3[0]))
  const w5 = [0n]
  set(w5, IDR5.OAS, addressSizeEncoding(opts.oasBits ?? 48))
  set(w5, IDR5.GRAN4K, 1)
  regs.write32(REG.IDR5, Number(w5[0]))
}

/**
 * An emulated ARM SMMUv3 (IHI 0070): registers, command and event queues in emulated memory, a
 * configuration cache and an IOTLB, and the translation unit. It implements IommuTranslator for
 * the DMA engines, and SmmuMmio for a driver: a write to CMDQ_PROD is a doorbell on which the SMMU
 * consumes the command queue at once (deterministic mode). In concurrent mode the SMMU lives on the
 * DMA worker and `pollDoorbell()` consumes what the CPU thread queued.
 *
 * Modelled: linear and 2-level stream tables; STE Config abort/bypass/stage 1/stage 2; linear and
 * 2-level CD tables; VMSAv8-64 4 KiB-granule stage-1 and stage-2 walks; CFGI_STE, CFGI_CD(_ALL),
 * CFGI_ALL, TLBI_NH_ALL/ASID/VA, TLBI_S12_VMALL, TLBI_S2_IPA, TLBI_NSNH_ALL, CMD_SYNC, PREFETCH_CFG
 * (no-op); event records with queue overflow; IDR3.BBML. Not modelled: nested translation,
 * walk caches, stalls/PRI, ATS, MSIs, 16/64 KiB granules, big-endian tables, hardware AF/dirty.
 */
export class SmmuV3 implements IommuTranslator, SmmuMmio {
  readonly memory: PhysicalMemory
  readonly regs: SmmuRegisters
  readonly configCache = new ConfigCache()
  readonly iotlb: Iotlb
  readonly events: EventQueue
  readonly cmdq: CommandQueueConsumer
  readonly translator: SmmuV3Translator
  readonly bbml: number
  private lastProd = -1

  constructor(opts: SmmuV3Options) {
    this.memory = opts.memory
    this.regs = opts.registers ?? new SmmuRegisters()
    const atomic = opts.atomic ?? false
    const oasBits = opts.oasBits ?? 48
    this.bbml = opts.bbml ?? 0
    if (opts.reset ?? true) resetSmmuRegisters(this.regs, opts)
    this.iotlb = new Iotlb(opts.iotlbCapacity ?? 8192, this.bbml)
    this.events = new EventQueue(this.memory, this.regs, atomic)
    this.cmdq = new CommandQueueConsumer(this.memory, this.regs, atomic)
    this.translator = new SmmuV3Translator(
      this.memory,
      this.regs,
      this.configCache,
      this.iotlb,
      this.events,
      oasBits,
      atomic,
    )
  }

  // ---- IommuTranslator ----

  translate(requesterId: number, iova: number, access: DmaAccessKind, pasid?: number): TranslationOutcome {
    return this.translator.translateTransaction(requesterId, iova, access === 'write', pasid, false)
  }

  forceCacheMiss(on: boolean): void {
    this.translator.forceMiss = on
  }

  // ---- MMIO (deterministic mode: side effects happen inside the write) ----

  read32(offset: number): number {
    return this.regs.read32(offset)
  }

  write32(offset: number, value: number): void {
    const regs = this.regs
    switch (offset) {
      case REG.CR0:
        regs.write32(REG.CR0, value)
        regs.write32(REG.CR0ACK, value) // CR0ACK follows at once
        return
      case REG.GBPA:
        regs.write32(REG.GBPA, (value & ~GBPA_UPDATE) >>> 0) // the update completes at once
        return
      case REG.CMDQ_PROD:
        regs.write32(REG.CMDQ_PROD, value)
        this.pollDoorbell()
        return
      case REG.CMDQ_CONS:
        // The driver may clear CMDQ_CONS.ERR after handling an illegal command (it skips it).
        regs.write32(REG.CMDQ_CONS, value)
        this.pollDoorbell()
        return
      default:
        regs.write32(offset, value)
    }
  }

  waitCmdqConsumed(prod: number): void {
    this.pollDoorbell()
    const cons = this.regs.read32(REG.CMDQ_CONS)
    if (cons >>> CMDQ_CONS_ERR_SHIFT !== 0 || (this.regs.read32(REG.GERROR) & GERROR_CMDQ_ERR) !== 0)
      throw new Error(`SMMU command queue error: CMDQ_CONS=0x${cons.toString(16)}`)
    if (((cons ^ prod) & 0x00ffffff) !== 0) throw new Error('command queue not consumed (CMDQEN clear?)')
  }

  /** Consumes the command queue if CMDQ_PROD moved (the SMMU's reaction to its doorbell). */
  pollDoorbell(): number {
    return this.cmdq.consume((c) => this.execute(c))
  }

  /**
   * A cheap check for the concurrent worker loop: consume when PROD moved or the queue is not
   * empty. The second test matters when a new kernel resets the queue (PROD = CONS = 0) and
   * refills it to the very PROD value last seen before the reset: PROD alone would look unchanged.
   */
  pollDoorbellIfRung(): void {
    const prod = Atomics.load(this.regs.i32, REG.CMDQ_PROD >> 2)
    if (prod !== this.lastProd || prod !== Atomics.load(this.regs.i32, REG.CMDQ_CONS >> 2)) {
      this.pollDoorbell()
      if (Atomics.load(this.regs.i32, REG.CMDQ_CONS >> 2) === prod) this.lastProd = prod
      Atomics.notify(this.regs.i32, REG.CMDQ_CONS >> 2)
    }
  }

  /** Executes one command (IHI 0070, 4.3-4.7). */
  execute(c: SmmuCommand): void {
    const cc = this.configCache
    const tlb = this.iotlb
    switch (c.op) {
      case 'CFGI_STE':
        cc.invalidateSte(c.sid)
        return
      case 'CFGI_ALL':
        cc.invalidateAll()
        return
      case 'CFGI_CD':
        cc.invalidateCd(c.sid, c.ssid)
        return
      case 'CFGI_CD_ALL':
        cc.invalidateCdAll(c.sid)
        return
      case 'TLBI_NH_ALL':
        tlb.invalidateNhAll(c.vmid)
        return
      case 'TLBI_NH_ASID':
        tlb.invalidateAsid(c.vmid, c.asid)
        return
      case 'TLBI_NH_VA':
        tlb.invalidateVa(c.vmid, c.asid, c.addr)
        return
      case 'TLBI_S12_VMALL':
        tlb.invalidateVmAll(c.vmid)
        return
      case 'TLBI_S2_IPA':
        tlb.invalidateIpa(c.vmid, c.addr)
        return
      case 'TLBI_NSNH_ALL':
        tlb.flushAll()
        return
      case 'CMD_SYNC':
      case 'PREFETCH_CFG':
        // Consumption is synchronous: every earlier command has completed (CMD_SYNC); a prefetch
        // is a hint the model does not need.
        return
    }
  }
}
