import type { CpuStorePort } from '../cpu/cpu-store-port.js'
import type { FrameAllocator } from '../memory/frame-allocator.js'
import {
  encodeLegacyContextEntry,
  encodeScalableContextEntry,
  type LegacyContextEntry,
  type ScalableContextEntry,
} from './context-entry.js'
import { type FaultRecord, decodeFaultRecord } from './fault-recording.js'
import {
  encodeInvDesc,
  type InvDesc,
  QI_CC_GRAN,
  QI_EIOTLB_GRAN,
  QI_IOTLB_GRAN,
  QI_PC_GRAN,
} from './invalidation-descriptors.js'
import { encodePasidDirEntry, pasidDirIndex, PASID_DIR_ENTRY } from './pasid-directory.js'
import { encodePasidEntry, type PasidEntry, PGTT, pasidEntryAddress } from './pasid-entry.js'
import type { VtdMmio } from './register-file.js'
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
  DMAR_IQA_REG,
  DMAR_IQH_REG,
  DMAR_IQT_REG,
  DMAR_RTADDR_REG,
  decodeCap,
  decodeEcap,
  IQA,
  PRIMARY_FAULT_REG_LEN,
  RTADDR,
  type VtdCap,
  type VtdEcap,
} from './registers.js'
import type { EntrySeqlock } from './seqlock.js'
import { VtdEntryWriter } from './entry-writer.js'

/** Domain-selective IOTLB invalidation, draining reads and writes (VT-d spec 6.5.2.3). */
function domainIotlbInv(did: number): InvDesc {
  return {
    type: 'iotlb',
    granularity: QI_IOTLB_GRAN.DOMAIN,
    did,
    dr: true,
    dw: true,
    addr: 0,
    ih: false,
    am: 0,
  }
}

export type EntryWriteMethod = 'cmpxchg128' | 'two-stores'

export interface VtdDriverOptions {
  port: CpuStorePort
  frames: FrameAllocator
  mmio: VtdMmio
  /** Concurrent mode: the seqlock the hardware's 128-bit reads honour. */
  seqlock?: EntrySeqlock
  /** Program scalable mode (RTADDR.TTM=01). Default: ECAP.SMTS. */
  scalable?: boolean
  /** How long to wait for the hardware (GSTS, wait descriptors) before giving up. Default 2000 ms. */
  timeoutMs?: number
}

/**
 * The kernel side of VT-d: the low-level operations of drivers/iommu/intel/{iommu,pasid,dmar}.c
 * that the iommufd object model builds on, writing every structure through the CPU store port
 * and every command through MMIO, in the kernel's order:
 * - bring-up (init_dmars): enable queued invalidation (__dmar_enable_qi), set the root table
 *   (iommu_set_root_entry: RTADDR, GCMD.SRTP, wait RTPS), global context / PASID / IOTLB flushes,
 *   enable translation (GCMD.TE, wait TES);
 * - context tables allocated on demand and linked from the root entry's CTP / LCTP / UCTP
 *   (iommu_context_addr);
 * - context entries written with one cmpxchg128 or with two 64-bit stores (hi, then lo with P);
 * - teardown: clear P → context-cache + IOTLB (+ PASID cache) invalidation → wait → clear the rest
 *   (VT-d spec §6.5.3.3, context_clear_present);
 * - PASID entries: set up with P stored last; replaced by clear → invalidate → set, as upstream
 *   settled in Jan 2026 (the "replace" helpers were dropped: not hitless);
 * - invalidations batched into the queue and closed by a wait descriptor (qi_submit_sync):
 *   context-cache → PASID cache → IOTLB → wait.
 * State here is kernel state (lost at kexec); `adopt()` rebuilds it from the hardware registers.
 */
export class VtdDriver {
  readonly writer: VtdEntryWriter
  readonly cap: VtdCap
  readonly ecap: VtdEcap
  readonly scalable: boolean
  readonly frames: FrameAllocator
  readonly mmio: VtdMmio
  rootTable = -1
  private gcmd = 0
  private queueBase = -1
  private queueBytes = 0
  private descBytes = 16
  private tail = 0
  private statusPa = -1
  private waitSeq = 0
  private readonly timeoutMs: number
  private readonly i32: Int32Array

  constructor(opts: VtdDriverOptions) {
    this.writer = new VtdEntryWriter(opts.port, opts.seqlock)
    this.frames = opts.frames
    this.mmio = opts.mmio
    this.cap = decodeCap(opts.mmio.read64(DMAR_CAP_REG))
    this.ecap = decodeEcap(opts.mmio.read64(DMAR_ECAP_REG))
    this.scalable = opts.scalable ?? this.ecap.smts
    if (this.scalable && !this.ecap.smts) throw new Error('scalable mode requested but ECAP.SMTS is clear')
    this.timeoutMs = opts.timeoutMs ?? 2000
    this.i32 = new Int32Array(opts.port.memory.buffer)
  }

  private get memory() {
    return this.writer.port.memory
  }

  // ---- bring-up ------------------------------------------------------------------------------

  /** Full bring-up of a unit with translation off (a cold boot). */
  enable(): void {
    this.enableQueuedInvalidation()
    this.rootTable = this.frames.alloc()
    this.setRootEntry(this.rootTable)
    const flush: InvDesc[] = [
      { type: 'context-cache', granularity: QI_CC_GRAN.GLOBAL, did: 0, sid: 0, fm: 0 },
    ]
    if (this.scalable) flush.push({ type: 'pasid-cache', granularity: QI_PC_GRAN.GLOBAL, did: 0, pasid: 0 })
    flush.push({
      type: 'iotlb',
      granularity: QI_IOTLB_GRAN.GLOBAL,
      did: 0,
      dr: true,
      dw: true,
      addr: 0,
      ih: false,
      am: 0,
    })
    this.submit(flush)
    this.enableTranslation()
  }

  /**
   * Takes over a unit that is already translating (after kexec): RTADDR is not rewritten, the
   * invalidation queue continues at the hardware's IQT, GCMD is rebuilt from GSTS. Only a fresh
   * status frame is allocated.
   */
  adopt(): void {
    const gsts = this.mmio.read32(DMAR_GSTS_REG)
    this.gcmd = (gsts & DMA_GSTS.TES ? DMA_GCMD.TE : 0) | (gsts & DMA_GSTS.QIES ? DMA_GCMD.QIE : 0)
    const rt = this.mmio.read64(DMAR_RTADDR_REG)
    const ttm = Number((rt >> 10n) & 3n)
    if ((ttm === 1) !== this.scalable) throw new Error('the running unit is in the other translation mode')
    this.rootTable = Number(rt & ~0xfffn)
    const iqa = this.mmio.read64(DMAR_IQA_REG)
    this.queueBase = Number(iqa & ~0xfffn)
    this.queueBytes = 4096 * 2 ** Number(iqa & BigInt(IQA.QS_MASK))
    this.descBytes = (iqa & BigInt(IQA.DW)) !== 0n ? 32 : 16
    this.tail = Number(this.mmio.read64(DMAR_IQT_REG)) % this.queueBytes
    this.statusPa = this.frames.alloc()
  }

  /**
   * What a booting intel-iommu does to a unit the previous kernel left enabled, before its own
   * bring-up (iommu_disable_translation, dmar_disable_qi): GCMD = 0, then wait until GSTS shows
   * TES and QIES clear. The wait matters when the unit runs on another thread (concurrent mode):
   * it acts on the latest GCMD it sees, so a bring-up that sets QIE again before the unit saw the
   * 0 leaves QIES set and the queue head where the old kernel left it (enabling QI is what resets
   * IQH), and the new queue never has space.
   */
  disable(): void {
    this.gcmd = 0
    this.mmio.write32(DMAR_GCMD_REG, 0)
    this.waitStatus(DMA_GSTS.TES | DMA_GSTS.QIES, false)
  }

  enableQueuedInvalidation(): void {
    // __dmar_enable_qi: IQT = 0, IQA = queue | DW | QS, GCMD.QIE, wait QIES.
    this.descBytes = this.scalable ? 32 : 16
    const pages = this.scalable ? 2 : 1
    this.queueBase = this.frames.allocContiguous(pages, pages)
    this.queueBytes = pages * 4096
    this.statusPa = this.frames.alloc()
    this.tail = 0
    this.mmio.write64(DMAR_IQT_REG, 0n)
    const qs = pages === 2 ? 1 : 0
    this.mmio.write64(
      DMAR_IQA_REG,
      BigInt(this.queueBase) | (this.scalable ? BigInt(IQA.DW) : 0n) | BigInt(qs),
    )
    this.gcmd |= DMA_GCMD.QIE
    this.mmio.write32(DMAR_GCMD_REG, this.gcmd)
    this.waitStatus(DMA_GSTS.QIES, true)
  }

  /** iommu_set_root_entry: RTADDR (with TTM), GCMD.SRTP, wait GSTS.RTPS. */
  setRootEntry(rootTable: number): void {
    this.rootTable = rootTable
    this.mmio.write64(DMAR_RTADDR_REG, BigInt(rootTable) | (this.scalable ? BigInt(RTADDR.SMT) : 0n))
    this.mmio.write32(DMAR_GCMD_REG, this.gcmd | DMA_GCMD.SRTP)
    this.waitStatus(DMA_GSTS.RTPS, true)
  }

  enableTranslation(): void {
    this.gcmd |= DMA_GCMD.TE
    this.mmio.write32(DMAR_GCMD_REG, this.gcmd)
    this.waitStatus(DMA_GSTS.TES, true)
  }

  disableTranslation(): void {
    this.gcmd &= ~DMA_GCMD.TE
    this.mmio.write32(DMAR_GCMD_REG, this.gcmd)
    this.waitStatus(DMA_GSTS.TES, false)
  }

  // ---- root and context tables ----------------------------------------------------------------

  /**
   * Physical address of the context entry for `sid` (iommu_context_addr): legacy tables hold
   * 256 × 16 B entries; scalable ones 128 × 32 B, devfn ≥ 0x80 in the table behind UCTP (root
   * hi). With `alloc`, a missing context table is allocated zeroed and linked with one 64-bit
   * store of the root entry half. Returns -1 when absent and not allocated.
   */
  contextEntryAddress(sid: number, alloc: boolean): number {
    const bus = (sid >>> 8) & 0xff
    let devfn = sid & 0xff
    let slot = this.rootTable + bus * 16
    if (this.scalable) {
      if (devfn >= 0x80) {
        devfn -= 0x80
        slot += 8
      }
      devfn *= 2
    }
    let v = this.writer.read64(slot)
    if ((v & 1n) === 0n) {
      if (!alloc) return -1
      const table = this.frames.alloc()
      v = BigInt(table) | 1n
      this.writer.store64(slot, v)
    }
    return Number(v & ~0xfffn) + devfn * 16
  }

  readContextEntry(sid: number): bigint[] {
    const pa = this.contextEntryAddress(sid, false)
    if (pa < 0) return [0n, 0n]
    return [this.writer.read64(pa), this.writer.read64(pa + 8)]
  }

  /**
   * Writes a legacy context entry (domain_context_mapping_one). Over a not-present entry no
   * invalidation is needed (CAP.CM=0). Over a present one (a replace), both the old and the new
   * DID are flushed afterwards. `two-stores` writes hi then lo (P last for a new entry; a device
   * may see new hi + old lo during a replace); `cmpxchg128` is one store boundary.
   * Returns false when the cmpxchg lost a race (the entry changed under it).
   */
  setLegacyContext(
    sid: number,
    e: Omit<LegacyContextEntry, 'avail'> & { avail?: number },
    method: EntryWriteMethod = 'cmpxchg128',
  ): boolean {
    if (this.scalable) throw new Error('legacy context entries need legacy mode')
    const pa = this.contextEntryAddress(sid, true)
    const [oldLo, oldHi] = [this.writer.read64(pa), this.writer.read64(pa + 8)]
    const [lo, hi] = encodeLegacyContextEntry({ ...e, avail: e.avail ?? 0 })
    const ok = this.writeEntry128(pa, oldLo, oldHi, lo, hi, method)
    if (ok && (oldLo & 1n) !== 0n) {
      const oldDid = Number((oldHi >> 8n) & 0xffffn)
      this.flushDevice(sid, [oldDid, e.did])
    }
    return ok
  }

  /**
   * Writes a scalable-mode context entry pointing at a PASID directory
   * (context_entry_set_pasid_table). Only the first 128 bits carry fields.
   */
  setScalableContext(
    sid: number,
    e: Partial<ScalableContextEntry> & { pasidDirPtr: number },
    method: EntryWriteMethod = 'cmpxchg128',
  ): boolean {
    if (!this.scalable) throw new Error('scalable context entries need scalable mode')
    const pa = this.contextEntryAddress(sid, true)
    const [oldLo, oldHi] = [this.writer.read64(pa), this.writer.read64(pa + 8)]
    const [lo, hi] = encodeScalableContextEntry({
      p: e.p ?? true,
      fpd: e.fpd ?? false,
      dte: e.dte ?? false,
      paside: e.paside ?? true,
      pre: e.pre ?? false,
      pdts: e.pdts ?? 2,
      pasidDirPtr: e.pasidDirPtr,
      ridPasid: e.ridPasid ?? 0,
      ridPriv: e.ridPriv ?? false,
    })
    const ok = this.writeEntry128(pa, oldLo, oldHi, lo, hi, method)
    if (ok && (oldLo & 1n) !== 0n) this.flushDevice(sid, [])
    return ok
  }

  /**
   * Detaches `sid`: clear P (one 64-bit store) → invalidate context cache (device-selective),
   * PASID cache and IOTLB of the DIDs in use → wait → zero the entry (spec §6.5.3.3).
   */
  clearContext(sid: number, dids: number[] = []): void {
    const pa = this.contextEntryAddress(sid, false)
    if (pa < 0) return
    const lo = this.writer.read64(pa)
    if ((lo & 1n) === 0n) return
    const hi = this.writer.read64(pa + 8)
    this.writer.store64(pa, lo & ~1n)
    const all = this.scalable ? dids : [Number((hi >> 8n) & 0xffffn), ...dids]
    this.flushDevice(sid, all)
    this.writer.store64(pa + 8, 0n)
    this.writer.store64(pa, 0n)
  }

  private writeEntry128(
    pa: number,
    oldLo: bigint,
    oldHi: bigint,
    lo: bigint,
    hi: bigint,
    method: EntryWriteMethod,
  ): boolean {
    if (method === 'cmpxchg128') return this.writer.cmpxchg128(pa, oldLo, oldHi, lo, hi)
    this.writer.store64(pa + 8, hi)
    this.writer.store64(pa, lo)
    return true
  }

  private flushDevice(sid: number, dids: number[]): void {
    const descs: InvDesc[] = [
      { type: 'context-cache', granularity: QI_CC_GRAN.DEVICE, did: dids[0] ?? 0, sid, fm: 0 },
    ]
    if (this.scalable) {
      for (const did of dids)
        descs.push({ type: 'pasid-cache', granularity: QI_PC_GRAN.ALL_PASIDS, did, pasid: 0 })
      if (dids.length === 0)
        descs.push({ type: 'pasid-cache', granularity: QI_PC_GRAN.GLOBAL, did: 0, pasid: 0 })
    }
    for (const did of new Set(dids)) {
      descs.push(domainIotlbInv(did))
    }
    this.submit(descs)
  }

  // ---- PASID directory and table ---------------------------------------------------------------

  /**
   * Allocates a PASID directory of one page: 512 entries, PDTS = 2 (2^(2+7)), PASIDs 0..32767
   * (intel_pasid_alloc_table sizes it from the max PASID; one page is enough here).
   */
  allocPasidDirectory(): { dir: number; pdts: number } {
    return { dir: this.frames.alloc(), pdts: 2 }
  }

  /** Address of the PASID entry, allocating and linking its PASID table (intel_pasid_get_entry). */
  pasidEntryAddress(dir: number, pasid: number, alloc: boolean): number {
    const pdeAddr = dir + pasidDirIndex(pasid) * 8
    let pde = this.writer.read64(pdeAddr)
    if ((pde & BigInt(PASID_DIR_ENTRY.P)) === 0n) {
      if (!alloc) return -1
      const table = this.frames.alloc()
      pde = encodePasidDirEntry({ p: true, fpd: false, smptblptr: table })
      this.writer.store64(pdeAddr, pde)
    }
    return pasidEntryAddress(Number(pde & ~0xfffn), pasid)
  }

  /**
   * Sets up a PASID entry that must not be present (intel_pasid_setup_second_level /
   * _pass_through: -EBUSY otherwise). qwords 7..1 are stored first, val0 with P last, so the
   * device never sees P with stale fields in another chunk.
   */
  setPasidEntry(dir: number, pasid: number, e: Partial<PasidEntry> & { did: number; pgtt: number }): void {
    const pa = this.pasidEntryAddress(dir, pasid, true)
    if ((this.writer.read64(pa) & 1n) !== 0n) throw new Error(`PASID ${pasid} entry is present (EBUSY)`)
    const q = encodePasidEntry({ ...e, p: true })
    this.writer.storeQwords(pa, q, [7, 6, 5, 4, 3, 2, 1, 0])
  }

  setPasidSecondLevel(dir: number, pasid: number, did: number, slptptr: number, aw = 2): void {
    this.setPasidEntry(dir, pasid, { did, pgtt: PGTT.SL_ONLY, slptptr, aw })
  }

  setPasidPassThrough(dir: number, pasid: number, did: number): void {
    this.setPasidEntry(dir, pasid, { did, pgtt: PGTT.PT })
  }

  /**
   * intel_pasid_tear_down_entry: clear P → PASID-cache (PASID-selective) → IOTLB (domain-selective
   * for second-level / PASID-based for pass-through) → wait → clear the rest of the entry.
   */
  clearPasidEntry(sid: number, dir: number, pasid: number): void {
    const pa = this.pasidEntryAddress(dir, pasid, false)
    if (pa < 0) return
    const v0 = this.writer.read64(pa)
    if ((v0 & 1n) === 0n) return
    const did = Number(this.writer.read64(pa + 8) & 0xffffn)
    const pgtt = Number((v0 >> 6n) & 7n)
    this.writer.store64(pa, v0 & ~1n)
    const descs: InvDesc[] = [{ type: 'pasid-cache', granularity: QI_PC_GRAN.PASID_SEL, did, pasid }]
    if (pgtt === PGTT.PT || pgtt === PGTT.FL_ONLY) {
      descs.push({
        type: 'pasid-iotlb',
        granularity: QI_EIOTLB_GRAN.NONG_PASID,
        did,
        pasid,
        addr: 0,
        ih: false,
        am: 0,
      })
    } else {
      descs.push(domainIotlbInv(did))
    }
    void sid
    this.submit(descs)
    this.writer.storeQwords(pa, [0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n], [0, 1, 2, 3, 4, 5, 6, 7])
  }

  /** Replaces a PASID entry the upstream way: clear → invalidate → set (a window of faults). */
  replacePasidEntry(
    sid: number,
    dir: number,
    pasid: number,
    e: Partial<PasidEntry> & { did: number; pgtt: number },
  ): void {
    this.clearPasidEntry(sid, dir, pasid)
    this.setPasidEntry(dir, pasid, e)
  }

  // ---- invalidation -------------------------------------------------------------------------------

  /**
   * qi_submit_sync: writes the descriptors and a wait descriptor (SW=1, status = a fresh
   * sequence number) at the tail, advances IQT, and waits until the status appears in memory.
   */
  submit(descs: readonly InvDesc[]): void {
    this.waitSeq = (this.waitSeq + 1) & 0x7fffffff
    const seq = this.waitSeq
    const all: InvDesc[] = [
      ...descs,
      {
        type: 'wait',
        interruptFlag: false,
        statusWrite: true,
        fence: true,
        statusData: seq,
        statusAddr: this.statusPa,
      },
    ]
    if (all.length * this.descBytes >= this.queueBytes)
      throw new RangeError('invalidation batch larger than the queue')
    this.waitQueueSpace(all.length)
    for (const d of all) {
      const [q0, q1] = encodeInvDesc(d)
      const pa = this.queueBase + this.tail
      this.writer.store64(pa, q0)
      this.writer.store64(pa + 8, q1)
      if (this.descBytes === 32) {
        this.writer.store64(pa + 16, 0n)
        this.writer.store64(pa + 24, 0n)
      }
      this.tail = (this.tail + this.descBytes) % this.queueBytes
    }
    this.mmio.write64(DMAR_IQT_REG, BigInt(this.tail))
    this.waitFor(
      () => Atomics.load(this.i32, this.statusPa >>> 2) === seq,
      'invalidation wait descriptor',
      this.statusPa,
    )
    if ((this.mmio.read32(DMAR_FSTS_REG) & DMA_FSTS.IQE) !== 0)
      throw new Error('invalidation queue error (FSTS.IQE)')
  }

  flushContextGlobal(): void {
    this.submit([{ type: 'context-cache', granularity: QI_CC_GRAN.GLOBAL, did: 0, sid: 0, fm: 0 }])
  }

  flushIotlbDomain(did: number): void {
    this.submit([domainIotlbInv(did)])
  }

  /** Page-selective IOTLB invalidation of 2^am pages at `addr` (must be aligned to them). */
  flushIotlbPages(did: number, addr: number, am = 0): void {
    this.submit([
      { type: 'iotlb', granularity: QI_IOTLB_GRAN.PAGE, did, dr: true, dw: true, addr, ih: false, am },
    ])
  }

  flushPasidCache(did: number, pasid?: number): void {
    this.submit([
      pasid === undefined
        ? { type: 'pasid-cache', granularity: QI_PC_GRAN.ALL_PASIDS, did, pasid: 0 }
        : { type: 'pasid-cache', granularity: QI_PC_GRAN.PASID_SEL, did, pasid },
    ])
  }

  // ---- faults -------------------------------------------------------------------------------------

  /**
   * dmar_fault: from FSTS.FRI, reads every record with F=1, clears F (write 1), wraps at NFR;
   * then clears PFO (and PPF/PRO, as the kernel writes them). Returns the records read.
   */
  drainFaults(): FaultRecord[] {
    const out: FaultRecord[] = []
    const fsts = this.mmio.read32(DMAR_FSTS_REG)
    if ((fsts & DMA_FSTS.PPF) !== 0) {
      let idx = (fsts & DMA_FSTS.FRI_MASK) >>> DMA_FSTS.FRI_SHIFT
      for (let n = 0; n < this.cap.nfr; n++) {
        const base = this.cap.fro + idx * PRIMARY_FAULT_REG_LEN
        const w3 = this.mmio.read32(base + 12)
        if ((w3 & DMA_FRCD.F) === 0) break
        const w = [this.mmio.read32(base), this.mmio.read32(base + 4), this.mmio.read32(base + 8), w3]
        out.push(decodeFaultRecord(idx, w))
        this.mmio.write32(base + 12, DMA_FRCD.F)
        idx = (idx + 1) % this.cap.nfr
      }
    }
    this.mmio.write32(DMAR_FSTS_REG, DMA_FSTS.PFO | DMA_FSTS.PPF | DMA_FSTS.PRO)
    return out
  }

  // ---- waiting for the hardware -------------------------------------------------------------------

  private waitStatus(bit: number, set: boolean): void {
    this.waitFor(
      () => ((this.mmio.read32(DMAR_GSTS_REG) & bit) !== 0) === set,
      `GSTS bit 0x${(bit >>> 0).toString(16)}`,
    )
  }

  private waitQueueSpace(n: number): void {
    this.waitFor(() => {
      const head = Number(this.mmio.read64(DMAR_IQH_REG)) % this.queueBytes
      const used = (this.tail - head + this.queueBytes) % this.queueBytes
      return used + n * this.descBytes < this.queueBytes
    }, 'invalidation queue space')
  }

  /**
   * Deterministic mode: the hardware acted synchronously, the condition already holds. Concurrent
   * mode: the hardware acts on its thread; block with Atomics.wait (on the status word when there
   * is one) until it does, or time out (IOMMU_WAIT_OP panics: "DMAR hardware is malfunctioning").
   */
  private waitFor(cond: () => boolean, what: string, pa = -1): void {
    if (cond()) return
    const deadline = Date.now() + this.timeoutMs
    while (!cond()) {
      if (Date.now() > deadline) throw new Error(`VT-d hardware did not complete: ${what}`)
      if (pa >= 0) Atomics.wait(this.i32, pa >>> 2, Atomics.load(this.i32, pa >>> 2), 1)
      else Atomics.wait(this.i32, 0, Atomics.load(this.i32, 0), 1)
    }
  }
}
