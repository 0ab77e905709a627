import type { PhysicalMemory } from '../memory/physical-memory.js'
import type { ContextCache } from './context-cache.js'
import { readChunk128 } from './entry-chunk.js'
import {
  decodeInvDesc,
  QI_CC_GRAN,
  QI_EIOTLB_GRAN,
  QI_IOTLB_GRAN,
  QI_PC_GRAN,
  type InvDesc,
} from './invalidation-descriptors.js'
import type { VtdIotlb } from './iotlb.js'
import type { PasidCache } from './pasid-cache.js'
import type { VtdRegisterFile } from './register-file.js'
import {
  DMA_FSTS,
  DMA_GSTS,
  DMAR_FSTS_REG,
  DMAR_GSTS_REG,
  DMAR_ICS_REG,
  DMAR_IQA_REG,
  DMAR_IQH_REG,
  DMAR_IQT_REG,
  ICS,
  IQA,
} from './registers.js'
import type { EntrySeqlock } from './seqlock.js'

export interface InvalidationStats {
  descriptors: number
  contextCache: number
  iotlb: number
  pasidIotlb: number
  pasidCache: number
  waits: number
  queueErrors: number
}

/**
 * The hardware side of queued invalidation (VT-d spec §6.5.2 "Queued Invalidation"): a ring of
 * descriptors at IQA_REG.IQA (2^QS pages, 128- or 256-bit descriptors per IQA.DW). Software writes
 * descriptors at IQT and advances IQT; the hardware fetches from IQH to IQT, carries each one
 * out in order and advances IQH. A wait descriptor with SW=1 writes its status data to memory once
 * everything before it is done — how software knows the caches are clean (qi_submit_sync).
 * A descriptor of unknown type stops the queue with FSTS.IQE set, IQH left on it (spec §6.5.2.10).
 *
 * The caches are dropped only here: this is the only code that empties the context cache, the
 * PASID cache and the IOTLB.
 */
export class InvalidationQueue {
  readonly stats: InvalidationStats = {
    descriptors: 0,
    contextCache: 0,
    iotlb: 0,
    pasidIotlb: 0,
    pasidCache: 0,
    waits: 0,
    queueErrors: 0,
  }
  private readonly words = new Uint32Array(4)
  private readonly i32: Int32Array

  constructor(
    private readonly memory: PhysicalMemory,
    private readonly seqlock: EntrySeqlock | undefined,
    private readonly regs: VtdRegisterFile,
    private readonly caches: { context: ContextCache; pasid: PasidCache; iotlb: VtdIotlb },
  ) {
    this.i32 = new Int32Array(memory.buffer)
  }

  /** Processes descriptors from IQH up to IQT while queued invalidation is enabled. */
  process(): void {
    const regs = this.regs
    if ((regs.get32(DMAR_GSTS_REG) & DMA_GSTS.QIES) === 0) return
    if ((regs.get32(DMAR_FSTS_REG) & DMA_FSTS.IQE) !== 0) return
    const iqaLo = regs.get32(DMAR_IQA_REG)
    const base = regs.get32(DMAR_IQA_REG + 4) * 0x100000000 + ((iqaLo & 0xfffff000) >>> 0)
    const bytes = 4096 * 2 ** (iqaLo & IQA.QS_MASK)
    const descBytes = (iqaLo & IQA.DW) !== 0 ? 32 : 16
    let head = regs.get32(DMAR_IQH_REG) % bytes
    const tail = regs.get32(DMAR_IQT_REG) % bytes
    if (descBytes === 32 && (tail & 0x10) !== 0) {
      this.queueError()
      return
    }
    while (head !== tail) {
      const pa = base + head
      if (pa + descBytes > this.memory.size) {
        this.queueError()
        break
      }
      readChunk128(this.memory, this.seqlock, pa, this.words)
      const d = decodeInvDesc(this.words)
      if (d.type === 'invalid') {
        this.queueError()
        break
      }
      this.execute(d)
      this.stats.descriptors++
      head = (head + descBytes) % bytes
      regs.set32(DMAR_IQH_REG, head)
    }
  }

  private queueError(): void {
    this.stats.queueErrors++
    this.regs.update32(DMAR_FSTS_REG, DMA_FSTS.IQE, true)
  }

  private execute(d: InvDesc): void {
    const { context, pasid, iotlb } = this.caches
    switch (d.type) {
      case 'context-cache':
        this.stats.contextCache++
        if (d.granularity === QI_CC_GRAN.GLOBAL) context.invalidateGlobal()
        else if (d.granularity === QI_CC_GRAN.DOMAIN) context.invalidateDomain(d.did)
        else context.invalidateDevice(d.sid, d.fm)
        return
      case 'iotlb':
        this.stats.iotlb++
        if (d.granularity === QI_IOTLB_GRAN.GLOBAL) iotlb.invalidateGlobal()
        else if (d.granularity === QI_IOTLB_GRAN.DOMAIN) iotlb.invalidateDomain(d.did)
        else iotlb.invalidatePages(d.did, d.addr, d.am)
        return
      case 'pasid-iotlb':
        this.stats.pasidIotlb++
        if (d.granularity === QI_EIOTLB_GRAN.NONG_PASID) iotlb.invalidatePasid(d.did, d.pasid)
        else iotlb.invalidatePasid(d.did, d.pasid, d.addr, d.am)
        return
      case 'pasid-cache':
        this.stats.pasidCache++
        if (d.granularity === QI_PC_GRAN.GLOBAL) pasid.invalidateGlobal()
        else if (d.granularity === QI_PC_GRAN.ALL_PASIDS) pasid.invalidateDomain(d.did)
        else pasid.invalidatePasid(d.did, d.pasid)
        return
      case 'wait':
        this.stats.waits++
        if (d.statusWrite && d.statusAddr + 4 <= this.memory.size) {
          const w = d.statusAddr >>> 2
          Atomics.store(this.i32, w, d.statusData | 0)
          Atomics.notify(this.i32, w)
        }
        if (d.interruptFlag) this.regs.update32(DMAR_ICS_REG, ICS.IWC, true)
        return
      default:
        return
    }
  }
}
