import type { DmaAccessKind, IommuTranslator, TranslationOutcome } from '../iommu/translator.js'
import type { PhysicalMemory } from '../memory/physical-memory.js'
import { SL_PTE, type SlReservedMasks, slReservedMasks } from '../pagetable/vtd-sl/sl-pte.js'
import {
  SL_WALK_ACCESS_ERROR,
  SL_WALK_OK,
  SL_WALK_PERMISSION,
  SlWalkResult,
  slWalk,
} from '../pagetable/vtd-sl/walk.js'
import { resolveVtdConfig, type VtdConfig } from './config.js'
import { type CachedContext, ContextCache, type TranslationRoot } from './context-cache.js'
import {
  CONTEXT_ENTRY,
  CONTEXT_TT,
  pasidDirEntries,
  SM_CONTEXT_ENTRY,
  scalableContextEntryReserved,
} from './context-entry.js'
import { aboveHawHi, entryAddr, readChunk128, readQword } from './entry-chunk.js'
import { type FaultFate, FaultRecorder } from './fault-recording.js'
import { VTD_FR } from './fault-reasons.js'
import { InvalidationQueue } from './invalidation-queue.js'
import { VtdIotlb, NO_PASID } from './iotlb.js'
import { PasidCache } from './pasid-cache.js'
import { PASID_DIR_ENTRY, pasidDirEntryReserved } from './pasid-directory.js'
import { PASID_ENTRY, PGTT, pasidEntryReserved } from './pasid-entry.js'
import { LATCH, VtdMmio, VtdRegisterFile } from './register-file.js'
import {
  DMA_GCMD,
  DMA_GSTS,
  DMAR_CAP_REG,
  DMAR_ECAP_REG,
  DMAR_GCMD_REG,
  DMAR_GSTS_REG,
  DMAR_IQH_REG,
  DMAR_RTADDR_REG,
  DMAR_VER_REG,
  decodeCap,
  decodeEcap,
  encodeCap,
  encodeEcap,
  RTADDR,
  TTM,
  type VtdCap,
  type VtdEcap,
} from './registers.js'
import { ROOT_ENTRY, scalableRootHalfReserved } from './root-entry.js'
import type { EntrySeqlock } from './seqlock.js'

// Hot-path copies of imported bindings, read once at module load: tsx may compile an imported
// binding to a getter, which would put a call on every use in translate().
const walkSl = slWalk
const WALK_OK = SL_WALK_OK
const WALK_PERMISSION = SL_WALK_PERMISSION
const WALK_ACCESS_ERROR = SL_WALK_ACCESS_ERROR
const CTX_P = CONTEXT_ENTRY.P
const CTX_FPD = CONTEXT_ENTRY.FPD
const CTX_RSVD_LO = CONTEXT_ENTRY.RSVD_LO
const CTX_RSVD_HI_LO = CONTEXT_ENTRY.RSVD_HI_LO
const ROOT_RSVD_LOW = ROOT_ENTRY.RSVD_LOW
const FR_ROOT_TABLE_INV = VTD_FR.ROOT_TABLE_INV
const FR_ROOT_ENTRY_P = VTD_FR.ROOT_ENTRY_P
const FR_ROOT_ENTRY_RSVD = VTD_FR.ROOT_ENTRY_RSVD
const FR_CONTEXT_TABLE_INV = VTD_FR.CONTEXT_TABLE_INV
const FR_CONTEXT_ENTRY_P = VTD_FR.CONTEXT_ENTRY_P
const FR_CONTEXT_ENTRY_RSVD = VTD_FR.CONTEXT_ENTRY_RSVD
const SL_PS = SL_PTE.PS
/** Offset mask of an IOTLB entry's leaf, by IotlbDomain.hitLevel (1: 4 KiB, 2: 2 MiB, 3: 1 GiB). */
const HIT_OFFSET_MASK = [0, 0xfff, 0x1fffff, 0x3fffffff]

export interface VtdIommuOptions {
  memory: PhysicalMemory
  /** CAP/ECAP to report when the register file is new. Ignored when `registers` is given. */
  config?: VtdConfig
  /** Host address width (reserved-bit checks). Default 46. */
  haw?: number
  /**
   * An existing register file to attach to: the DMA worker's side in concurrent mode, or the
   * same hardware after a kexec. CAP/ECAP are then read from it.
   */
  registers?: VtdRegisterFile
  /** Concurrent mode: 128-bit entry reads honour this sequence lock (see seqlock.ts). */
  seqlock?: EntrySeqlock
  /** Concurrent mode: 64-bit entry reads use Atomics. Default: true when `seqlock` is given. */
  atomic?: boolean
}

export interface VtdTranslationStats {
  translations: number
  iotlbHits: number
  walks: number
  faults: number
  /** Faults by reason code. */
  faultsByReason: Map<number, number>
  passThrough: number
}

/**
 * The emulated Intel VT-d DMA-remapping unit: root / context / PASID resolution, second-level
 * walk, context cache, PASID cache, IOTLB, queued invalidation and primary fault recording.
 * Implements IommuTranslator so the DMA engines drive it.
 *
 * All hardware structures live in PhysicalMemory; registers live in a VtdRegisterFile
 * (SharedArrayBuffer); the caches are this object's (hardware-internal) state. Software
 * reaches the unit through `mmio` (deterministic mode: commands and invalidations are carried
 * out synchronously) or, in concurrent mode, through its own VtdMmio over the same register
 * file: this object then notices the doorbell at its next translation or `service()` call.
 *
 * Translation flow (VT-d spec §3.4-§3.7, QEMU vtd_do_iommu_translate):
 *   GSTS.TES=0 → untranslated (pa = iova);
 *   legacy (TTM=00): context cache, else root[bus] (128-bit) → context[devfn] (128-bit);
 *   scalable (TTM=01): context cache, else root[bus].LCTP/UCTP → 256-bit context[devfn & 0x7f];
 *     then PASID cache, else PASID directory[pasid>>6] (64-bit) → PASID entry[pasid&63] chunk 0;
 *   pass-through → pa = iova; else AGAW check, IOTLB, else second-level walk → IOTLB insert.
 * Any failure is a fault with the spec's reason code, offered to the fault recorder.
 */
export class VtdIommu implements IommuTranslator {
  readonly registers: VtdRegisterFile
  readonly mmio: VtdMmio
  readonly cap: VtdCap
  readonly ecap: VtdEcap
  readonly haw: number
  readonly contextCache = new ContextCache()
  readonly pasidCache = new PasidCache()
  readonly iotlb = new VtdIotlb()
  readonly faults: FaultRecorder
  readonly invalidation: InvalidationQueue
  readonly stats: VtdTranslationStats = {
    translations: 0,
    iotlbHits: 0,
    walks: 0,
    faults: 0,
    faultsByReason: new Map(),
    passThrough: 0,
  }
  /** Fate of the last fault offered to the recorder (for tests and the ground truth). */
  lastFaultFate: FaultFate | undefined

  private readonly memory: PhysicalMemory
  private readonly u32: Uint32Array
  private readonly memSize: number
  /**
   * The outcome of every successful translation, reused (read it before the next call, as with
   * the SMMUv3 model): no allocation per translation. Faults get an object of their own.
   */
  private readonly okOutcome: TranslationOutcome = { pa: 0, iotlbHit: false, fault: 0, hazard: false }
  private readonly seqlock: EntrySeqlock | undefined
  private readonly atomic: boolean
  private readonly aboveHaw: number
  private readonly rsvd: SlReservedMasks
  /**
   * The fast path's reserved-bit masks (`rsvd` as numbers): the low word at levels 1-3 with PS
   * added at 2 and 3 (a superpage leaves the fast path), at level 4 (PS reserved there); the high
   * word, and with address bits 51:32 added for table entries (a table beyond 4 GiB leaves it).
   */
  private readonly fastLo1: number
  private readonly fastLo2: number
  private readonly fastLo3: number
  private readonly fastLo4: number
  private readonly fastHi: number
  private readonly fastHiTable: number
  /** Deterministic mode, translation enabled, legacy mode: translateLegacyFast applies. */
  private fastLegacy = false
  private readonly walkOut = new SlWalkResult()
  private readonly w = new Uint32Array(4)
  private seenDoorbell = -1
  /** Software may write registers from elsewhere (concurrent mode, attached register file). */
  private readonly polled: boolean
  private forceMiss = false
  // Hardware state derived from GSTS and the SRTP latch, refreshed by service().
  private translationEnabled = false
  private scalable = false
  /** RTADDR.TTM latched by SRTP was a reserved value (10b / 11b). */
  private ttmInvalid = false
  private rta = 0
  /** FPD of the entries read so far during the current resolution. */
  private resolveFpd = false

  constructor(opts: VtdIommuOptions) {
    const memory = opts.memory
    if (memory.size > 0x100000000) throw new RangeError('the VT-d model addresses at most 4 GiB of memory')
    this.memory = memory
    this.u32 = memory.u32
    this.memSize = memory.size
    this.seqlock = opts.seqlock
    this.atomic = opts.atomic ?? opts.seqlock !== undefined
    this.polled = this.atomic || opts.registers !== undefined
    if (opts.registers) {
      this.registers = opts.registers
    } else {
      const cfg = resolveVtdConfig(opts.config)
      this.registers = new VtdRegisterFile()
      this.registers.set32(DMAR_VER_REG, 0x60) // architecture version 6.0
      this.registers.set64(DMAR_CAP_REG, encodeCap(cfg.cap))
      this.registers.set64(DMAR_ECAP_REG, encodeEcap(cfg.ecap))
    }
    this.haw = opts.haw ?? opts.config?.haw ?? 46
    this.cap = decodeCap(this.registers.get64(DMAR_CAP_REG))
    this.ecap = decodeEcap(this.registers.get64(DMAR_ECAP_REG))
    this.aboveHaw = aboveHawHi(this.haw)
    this.rsvd = slReservedMasks(this.haw, this.cap.sllps)
    this.fastLo1 = this.rsvd.lo[1]
    this.fastLo2 = (this.rsvd.lo[2] | SL_PS) >>> 0
    this.fastLo3 = (this.rsvd.lo[3] | SL_PS) >>> 0
    this.fastLo4 = this.rsvd.lo[4]
    this.fastHi = this.rsvd.hi
    this.fastHiTable = (this.rsvd.hi | 0xfffff) >>> 0
    this.faults = new FaultRecorder(this.registers, this.cap.nfr, this.cap.fro)
    this.invalidation = new InvalidationQueue(memory, this.seqlock, this.registers, {
      context: this.contextCache,
      pasid: this.pasidCache,
      iotlb: this.iotlb,
    })
    this.mmio = new VtdMmio(this.registers, () => this.service())
    this.service()
  }

  /** While on, caches are not consulted (but still filled): every access walks memory. */
  forceCacheMiss(on: boolean): void {
    this.forceMiss = on
  }

  /**
   * Carries out what software asked through the registers since the last call: global commands
   * (GCMD: TE, SRTP, QIE; VT-d spec §11.4.4) and the invalidation queue. Runs synchronously on
   * MMIO writes in deterministic mode, on the hardware's own thread in concurrent mode.
   */
  service(): void {
    const regs = this.registers
    this.seenDoorbell = regs.doorbell
    const gcmd = regs.get32(DMAR_GCMD_REG)
    let gsts = regs.get32(DMAR_GSTS_REG)
    if ((gcmd & DMA_GCMD.SRTP) !== 0 && (gsts & DMA_GSTS.RTPS) === 0) {
      // Latch the root table: the hardware walks this one until the next SRTP, whatever
      // RTADDR_REG says meanwhile (spec §11.4.5).
      regs.set32(LATCH.RTA_LO, regs.get32(DMAR_RTADDR_REG))
      regs.set32(LATCH.RTA_HI, regs.get32(DMAR_RTADDR_REG + 4))
      gsts |= DMA_GSTS.RTPS
    }
    if ((gcmd & DMA_GCMD.TE) !== 0) gsts |= DMA_GSTS.TES
    else gsts &= ~DMA_GSTS.TES
    if ((gcmd & DMA_GCMD.QIE) !== 0) {
      if ((gsts & DMA_GSTS.QIES) === 0) {
        regs.set32(DMAR_IQH_REG, 0) // enabling queued invalidation resets the head (§6.5.2)
        regs.set32(DMAR_IQH_REG + 4, 0)
        gsts |= DMA_GSTS.QIES
      }
    } else {
      gsts &= ~DMA_GSTS.QIES
    }
    regs.set32(DMAR_GSTS_REG, gsts)
    const rtaLo = regs.get32(LATCH.RTA_LO)
    this.rta = regs.get32(LATCH.RTA_HI) * 0x100000000 + ((rtaLo & 0xfffff000) >>> 0)
    const ttm = (rtaLo & RTADDR.TTM_MASK) >>> RTADDR.TTM_SHIFT
    this.scalable = ttm === TTM.SCALABLE
    this.ttmInvalid = ttm > TTM.SCALABLE
    this.translationEnabled = (gsts & DMA_GSTS.TES) !== 0
    this.fastLegacy =
      this.translationEnabled &&
      !this.scalable &&
      !this.ttmInvalid &&
      !this.atomic &&
      this.seqlock === undefined
    this.invalidation.process()
  }

  translate(requesterId: number, iova: number, access: DmaAccessKind, pasid?: number): TranslationOutcome {
    // Deterministic mode services every command synchronously (mmio); otherwise look at the doorbell.
    if (this.polled && Atomics.load(this.registers.i32, LATCH.DOORBELL >>> 2) !== this.seenDoorbell)
      this.service()
    if (this.fastLegacy && pasid === undefined) return this.translateLegacyFast(requesterId, iova, access)
    return this.translateGeneral(requesterId, iova, access, pasid)
  }

  /** The whole translation, every mode and every fault (after the doorbell check). */
  private translateGeneral(
    requesterId: number,
    iova: number,
    access: DmaAccessKind,
    pasid: number | undefined,
  ): TranslationOutcome {
    const stats = this.stats
    stats.translations++
    if (!this.translationEnabled) {
      stats.passThrough++
      return this.ok(iova, false)
    }
    const sid = requesterId & 0xffff
    const isWrite = access === 'write'
    const reqPasid = pasid === undefined ? -1 : pasid
    this.resolveFpd = false
    let root: TranslationRoot | undefined
    let reason: number
    if (this.ttmInvalid) {
      // A reserved translation-table mode: every request faults (SM reason 0x30).
      reason = VTD_FR.SM_RTADDR_INV
    } else if (this.scalable) {
      reason = this.resolveScalable(sid, reqPasid)
      root = this.resolved
    } else if (reqPasid >= 0) {
      // A request with PASID while the root table is in legacy mode (spec §7.1.3, reason 0x31).
      reason = VTD_FR.SM_TTM0_WITH_PASID
    } else {
      reason = this.resolveLegacy(sid)
      root = this.resolved
    }
    if (root === undefined) return this.fault(sid, reason, iova, isWrite, reqPasid, this.resolveFpd)
    if (root.passThrough) {
      stats.passThrough++
      return this.ok(iova, false)
    }
    if (iova >= root.limit || iova < 0) {
      return this.fault(
        sid,
        this.scalable ? VTD_FR.SM_ADDR_BEYOND_MGAW : VTD_FR.ADDR_BEYOND_MGAW,
        iova,
        isWrite,
        reqPasid,
        root.fpd,
      )
    }
    const accessBit = isWrite ? 2 : 1
    const tlb = root.iotlb
    if (!this.forceMiss) {
      const v = tlb.lookup(iova)
      if (v >= 0) {
        // v = frame * 4 + perms; `&` keeps the low bits of an integer exactly.
        const perms = v & 3
        if ((perms & accessBit) === 0) {
          return this.fault(sid, this.permissionReason(isWrite), iova, isWrite, reqPasid, root.fpd)
        }
        stats.iotlbHits++
        return this.ok((v - perms) * 1024 + (iova & HIT_OFFSET_MASK[tlb.hitLevel]), true)
      }
    }
    stats.walks++
    const out = this.walkOut
    const code = walkSl(this.memory, this.atomic, root.slptptr, root.levels, iova, accessBit, this.rsvd, out)
    if (code === WALK_OK) {
      tlb.insert(iova, out.leafLevel, out.leafBase, out.perms)
      return this.ok(out.pa, false)
    }
    return this.walkFault(code, root, sid, iova, isWrite, reqPasid)
  }

  /**
   * The common legacy-mode translation in deterministic mode, in one piece: the cached context
   * (with caches forced to miss: the root entry re-read and checked, the context entry re-read and
   * found equal to the cached one, as resolveLegacy does), the IOTLB, else a walk through table
   * entries to a 4 KiB leaf with every check of slWalk, and the IOTLB fill. Anything else — a
   * fault, a superpage, a changed or missing context entry, pass-through — goes, before any
   * state has changed, to translateGeneral, which does the whole translation again from the
   * start: the same reads, since nothing runs between them in deterministic mode. One function
   * with literal masks, no result object, no calls on the way (and `translate` small enough to
   * inline into its caller): the general path's calls and decoding cost more than its reads.
   */
  private translateLegacyFast(requesterId: number, iova: number, access: DmaAccessKind): TranslationOutcome {
    const sid = requesterId & 0xffff
    const cached = this.contextCache.get(sid)
    if (cached === undefined || cached.scalable)
      return this.translateGeneral(requesterId, iova, access, undefined)
    const root = cached.root
    if (root === undefined || root.passThrough || !(iova >= 0 && iova < root.limit))
      return this.translateGeneral(requesterId, iova, access, undefined)
    const u32 = this.u32
    const size = this.memSize
    const forceMiss = this.forceMiss
    if (forceMiss) {
      const rta = this.rta
      if (rta + 4096 > size) return this.translateGeneral(requesterId, iova, access, undefined)
      let i = (rta + (sid >>> 8) * 16) >>> 2
      const r0 = u32[i]
      const r1 = u32[i + 1]
      // Present (bit 0) and no reserved bit: [11:1], at or above HAW, the high qword.
      if ((r0 & 0xfff) !== 1 || (r1 & this.aboveHaw) !== 0 || u32[i + 2] !== 0 || u32[i + 3] !== 0)
        return this.translateGeneral(requesterId, iova, access, undefined)
      const ctp = (r1 & 0xfffff) * 4294967296 + ((r0 & 0xfffff000) >>> 0)
      if (ctp + 4096 > size) return this.translateGeneral(requesterId, iova, access, undefined)
      i = (ctp + (sid & 0xff) * 16) >>> 2
      // The cached entry passed every check when it was decoded: equal words pass them again.
      const raw = cached.raw
      if (u32[i] !== raw[0] || u32[i + 1] !== raw[1] || u32[i + 2] !== raw[2] || u32[i + 3] !== raw[3])
        return this.translateGeneral(requesterId, iova, access, undefined)
    }
    const accessBit = access === 'write' ? 2 : 1
    const tlb = root.iotlb
    const stats = this.stats
    if (!forceMiss) {
      const v = tlb.lookup(iova)
      if (v >= 0) {
        const perms = v & 3
        if ((perms & accessBit) === 0) return this.translateGeneral(requesterId, iova, access, undefined)
        stats.translations++
        stats.iotlbHits++
        return this.ok((v - perms) * 1024 + (iova & HIT_OFFSET_MASK[tlb.hitLevel]), true)
      }
    }
    // slWalk's success path: every entry present with the access allowed (R/W ANDed over the
    // levels), no reserved bit, table entries below 4 GiB and inside memory, PS clear above level 1.
    // One test per entry word: the access bit set and no reserved bit is (e & (mask | access))
    // === access, since the AND over the levels has the access bit when every level has it.
    const lo = iova >>> 0
    const hi = (iova / 4294967296) >>> 0
    const hiTable = this.fastHiTable
    const limit = size - 4096
    let table = root.slptptr
    if (table > limit) return this.translateGeneral(requesterId, iova, access, undefined)
    let perms = 3
    let w: number
    let e: number
    if (root.levels === 4) {
      w = (table >>> 2) + (((hi >>> 7) & 511) << 1)
      e = u32[w]
      if ((e & (this.fastLo4 | accessBit)) !== accessBit || (u32[w + 1] & hiTable) !== 0)
        return this.translateGeneral(requesterId, iova, access, undefined)
      perms &= e
      table = (e & 0xfffff000) >>> 0
      if (table > limit) return this.translateGeneral(requesterId, iova, access, undefined)
    } else if (root.levels !== 3) return this.translateGeneral(requesterId, iova, access, undefined)
    w = (table >>> 2) + ((((lo >>> 30) | (hi << 2)) & 511) << 1)
    e = u32[w]
    if ((e & (this.fastLo3 | accessBit)) !== accessBit || (u32[w + 1] & hiTable) !== 0)
      return this.translateGeneral(requesterId, iova, access, undefined)
    perms &= e
    table = (e & 0xfffff000) >>> 0
    if (table > limit) return this.translateGeneral(requesterId, iova, access, undefined)
    w = (table >>> 2) + (((lo >>> 21) & 511) << 1)
    e = u32[w]
    if ((e & (this.fastLo2 | accessBit)) !== accessBit || (u32[w + 1] & hiTable) !== 0)
      return this.translateGeneral(requesterId, iova, access, undefined)
    perms &= e
    table = (e & 0xfffff000) >>> 0
    if (table > limit) return this.translateGeneral(requesterId, iova, access, undefined)
    w = (table >>> 2) + (((lo >>> 12) & 511) << 1)
    e = u32[w]
    const eh = u32[w + 1]
    if ((e & (this.fastLo1 | accessBit)) !== accessBit || (eh & this.fastHi) !== 0)
      return this.translateGeneral(requesterId, iova, access, undefined)
    perms &= e
    const addr = (eh & 0xfffff) * 4294967296 + ((e & 0xfffff000) >>> 0)
    stats.translations++
    stats.walks++
    tlb.insert(iova, 1, addr, perms)
    return this.ok(addr + (lo & 0xfff), false)
  }

  /** The reused success outcome. */
  private ok(pa: number, iotlbHit: boolean): TranslationOutcome {
    const o = this.okOutcome
    o.pa = pa
    o.iotlbHit = iotlbHit
    return o
  }

  private walkFault(
    code: number,
    root: TranslationRoot,
    sid: number,
    iova: number,
    isWrite: boolean,
    reqPasid: number,
  ): TranslationOutcome {
    const sm = this.scalable
    let walkReason: number
    if (code === WALK_PERMISSION) walkReason = this.permissionReason(isWrite)
    else if (code === WALK_ACCESS_ERROR) {
      walkReason = sm
        ? this.walkOut.faultLevel === root.levels
          ? VTD_FR.SM_SLPTPTR_INV
          : VTD_FR.SM_SL_ENTRY_ACCESS
        : VTD_FR.PAGING_ENTRY_INV
    } else walkReason = sm ? VTD_FR.SM_SL_ENTRY_RSVD : VTD_FR.PAGING_ENTRY_RSVD
    return this.fault(sid, walkReason, iova, isWrite, reqPasid, root.fpd)
  }

  /** The root resolved by the last resolve*() call (undefined on fault). */
  private resolved: TranslationRoot | undefined

  private permissionReason(isWrite: boolean): number {
    if (this.scalable) return isWrite ? VTD_FR.SM_WRITE : VTD_FR.SM_READ
    return isWrite ? VTD_FR.WRITE : VTD_FR.READ
  }

  private fault(
    sid: number,
    reason: number,
    iova: number,
    isWrite: boolean,
    pasid: number,
    fpd: boolean,
  ): TranslationOutcome {
    const s = this.stats
    s.faults++
    s.faultsByReason.set(reason, (s.faultsByReason.get(reason) ?? 0) + 1)
    const fate = this.faults.record(sid, reason, iova, !isWrite, pasid, fpd)
    this.lastFaultFate = fate
    return { pa: -1, iotlbHit: false, fault: reason, hazard: false, recorded: fate === 'recorded' }
  }

  /** Legacy mode: root[bus] → context[devfn]. Sets `resolved`; returns a fault reason. */
  private resolveLegacy(sid: number): number {
    this.resolved = undefined
    const cached = this.contextCache.get(sid)
    if (!this.forceMiss && cached !== undefined && !cached.scalable && cached.root !== undefined) {
      this.resolved = cached.root
      return 0
    }
    // The root and context entries are read into locals (each one 128-bit chunk: two plain reads
    // of the buffer in deterministic mode, the seqlocked read in concurrent mode) and decoded
    // only as far as the checks need.
    const size = this.memSize
    const seqlock = this.seqlock
    const u32 = this.u32
    const w = this.w
    const rta = this.rta
    if (rta + 4096 > size) return FR_ROOT_TABLE_INV
    let x0: number
    let x1: number
    let x2: number
    let x3: number
    let i = (rta + (sid >>> 8) * 16) >>> 2
    if (seqlock === undefined) {
      x0 = u32[i]
      x1 = u32[i + 1]
      x2 = u32[i + 2]
      x3 = u32[i + 3]
    } else {
      readChunk128(this.memory, seqlock, i * 4, w)
      x0 = w[0]
      x1 = w[1]
      x2 = w[2]
      x3 = w[3]
    }
    if ((x0 & 1) === 0) return FR_ROOT_ENTRY_P
    // Reserved: lo [11:1], address bits at or above HAW, all of hi (legacyRootEntryReserved).
    if ((x0 & ROOT_RSVD_LOW) !== 0 || (x1 & this.aboveHaw) !== 0 || x2 !== 0 || x3 !== 0)
      return FR_ROOT_ENTRY_RSVD
    const ctp = (x1 & 0xfffff) * 0x100000000 + ((x0 & 0xfffff000) >>> 0)
    if (ctp + 4096 > size) return FR_CONTEXT_TABLE_INV
    i = (ctp + (sid & 0xff) * 16) >>> 2
    if (seqlock === undefined) {
      x0 = u32[i]
      x1 = u32[i + 1]
      x2 = u32[i + 2]
      x3 = u32[i + 3]
    } else {
      readChunk128(this.memory, seqlock, i * 4, w)
      x0 = w[0]
      x1 = w[1]
      x2 = w[2]
      x3 = w[3]
    }
    if ((x0 & CTX_P) === 0) return FR_CONTEXT_ENTRY_P
    const fpd = (x0 & CTX_FPD) !== 0
    this.resolveFpd = fpd
    // Reserved (legacyContextEntryReserved): lo [11:4], address bits at or above HAW, hi bit 7
    // and [31:24], the whole high qword's upper word.
    if ((x0 & CTX_RSVD_LO) !== 0 || (x1 & this.aboveHaw) !== 0 || (x2 & CTX_RSVD_HI_LO) !== 0 || x3 !== 0)
      return FR_CONTEXT_ENTRY_RSVD
    if (cached !== undefined && cached.root !== undefined) {
      const raw = cached.raw
      if (raw[0] === x0 && raw[1] === x1 && raw[2] === x2 && raw[3] === x3) {
        // A forced re-read found the cached entry unchanged: keep it (no allocation).
        this.resolved = cached.root
        return 0
      }
    }
    w[0] = x0
    w[1] = x1
    w[2] = x2
    w[3] = x3
    const tt = (w[0] & CONTEXT_ENTRY.TT_MASK) >>> CONTEXT_ENTRY.TT_SHIFT
    const aw = w[2] & CONTEXT_ENTRY.AW_MASK
    const did = (w[2] >>> CONTEXT_ENTRY.DID_SHIFT) & 0xffff
    // TT=3 is reserved; device-TLB and pass-through need ECAP.DT / ECAP.PT; a multi-level
    // entry's AW must be one CAP.SAGAW reports (QEMU vtd_dev_to_context_entry).
    if (
      tt === 3 ||
      (tt === CONTEXT_TT.DEV_IOTLB && !this.ecap.dt) ||
      (tt === CONTEXT_TT.PASS_THROUGH && !this.ecap.pt) ||
      (tt !== CONTEXT_TT.PASS_THROUGH && !this.agawSupported(aw))
    ) {
      return VTD_FR.CONTEXT_ENTRY_INV
    }
    const root = this.makeRoot(
      did,
      NO_PASID,
      tt === CONTEXT_TT.PASS_THROUGH,
      entryAddr(w[0], w[1]),
      aw,
      fpd,
      w,
    )
    const ctx: CachedContext = {
      raw: root.raw,
      scalable: false,
      did,
      fpd,
      root,
      pasidDirPtr: 0,
      pdts: 0,
      paside: false,
      ridPasid: 0,
    }
    this.contextCache.set(sid, ctx)
    this.resolved = root
    return 0
  }

  /**
   * Scalable mode: root[bus].LCTP/UCTP → context[devfn & 0x7f] → PASID directory → PASID entry.
   * Requests without PASID use the context entry's RID_PASID.
   */
  private resolveScalable(sid: number, reqPasid: number): number {
    this.resolved = undefined
    const mem = this.memory
    const w = this.w
    const cachedCtx = this.contextCache.get(sid)
    let ctx = this.forceMiss ? undefined : cachedCtx
    if (ctx === undefined || !ctx.scalable) {
      const rta = this.rta
      if (rta + 4096 > mem.size) return VTD_FR.SM_ROOT_ENTRY_ACCESS
      readChunk128(mem, this.seqlock, rta + (sid >>> 8) * 16, w)
      const devfn = sid & 0xff
      const half = devfn >= 128 ? 1 : 0
      if ((w[half * 2] & 1) === 0) return VTD_FR.SM_ROOT_ENTRY_P
      if (scalableRootHalfReserved(w, half, this.aboveHaw)) return VTD_FR.SM_ROOT_ENTRY_RSVD
      const ctp = entryAddr(w[half * 2], w[half * 2 + 1])
      if (ctp + 4096 > mem.size) return VTD_FR.SM_CONTEXT_ENTRY_ACCESS
      readChunk128(mem, this.seqlock, ctp + (devfn & 0x7f) * 32, w)
      if ((w[0] & SM_CONTEXT_ENTRY.P) === 0) return VTD_FR.SM_CONTEXT_ENTRY_P
      const fpd = (w[0] & SM_CONTEXT_ENTRY.FPD) !== 0
      this.resolveFpd = fpd
      if (scalableContextEntryReserved(w, this.aboveHaw)) return VTD_FR.SM_CONTEXT_ENTRY_RSVD
      // DTE needs device-TLB support, PRE page requests (not modelled): invalid entry (SCT.4).
      if ((w[0] & (SM_CONTEXT_ENTRY.DTE | SM_CONTEXT_ENTRY.PRE)) !== 0 && !this.ecap.dt) {
        return VTD_FR.SM_CONTEXT_ENTRY_INV
      }
      ctx =
        cachedCtx?.scalable && sameWords(cachedCtx.raw, w)
          ? cachedCtx
          : {
              raw: Uint32Array.from(w),
              scalable: true,
              did: -1,
              fpd,
              root: undefined,
              pasidDirPtr: entryAddr(w[0], w[1]),
              pdts: (w[0] & SM_CONTEXT_ENTRY.PDTS_MASK) >>> SM_CONTEXT_ENTRY.PDTS_SHIFT,
              paside: (w[0] & SM_CONTEXT_ENTRY.PASIDE) !== 0,
              ridPasid: w[2] & SM_CONTEXT_ENTRY.RID_PASID_MASK,
            }
      if (ctx !== cachedCtx) this.contextCache.set(sid, ctx)
    }
    this.resolveFpd = ctx.fpd
    let pasid = reqPasid
    if (pasid < 0) pasid = ctx.ridPasid
    else if (!ctx.paside) return VTD_FR.SM_CONTEXT_PASIDE_CLEAR
    const key = PasidCache.key(sid, pasid)
    const cachedPe = this.pasidCache.get(key)
    if (!this.forceMiss && cachedPe !== undefined) {
      this.resolved = cachedPe
      return 0
    }
    const dirIndex = pasid >>> 6
    if (dirIndex >= pasidDirEntries(ctx.pdts)) return VTD_FR.SM_PASID_BEYOND_PDTS
    const pdeAddr = ctx.pasidDirPtr + dirIndex * 8
    if (pdeAddr + 8 > mem.size) return VTD_FR.SM_PASID_DIR_ACCESS
    readQword(mem, this.atomic, pdeAddr, w)
    if ((w[0] & PASID_DIR_ENTRY.P) === 0) return VTD_FR.SM_PASID_DIR_P
    let fpd = ctx.fpd || (w[0] & PASID_DIR_ENTRY.FPD) !== 0
    this.resolveFpd = fpd
    if (pasidDirEntryReserved(w[0], w[1], this.aboveHaw)) return VTD_FR.SM_PASID_DIR_RSVD
    const peAddr = entryAddr(w[0], w[1]) + (pasid & 63) * 64
    if (peAddr + 64 > mem.size) return VTD_FR.SM_PASID_ENTRY_ACCESS
    readChunk128(mem, this.seqlock, peAddr, w)
    if ((w[0] & PASID_ENTRY.P) === 0) return VTD_FR.SM_PASID_ENTRY_P
    fpd = fpd || (w[0] & PASID_ENTRY.FPD) !== 0
    this.resolveFpd = fpd
    if (pasidEntryReserved(w, this.aboveHaw)) return VTD_FR.SM_PASID_ENTRY_RSVD
    const pgtt = (w[0] & PASID_ENTRY.PGTT_MASK) >>> PASID_ENTRY.PGTT_SHIFT
    const aw = (w[0] & PASID_ENTRY.AW_MASK) >>> PASID_ENTRY.AW_SHIFT
    // Only second-level and pass-through are modelled (ECAP.FLTS=0, no nesting): PGTT 1/3 and
    // the reserved codes are invalid programming (SPT.4, 0x5B), as is an unsupported AW.
    const valid =
      (pgtt === PGTT.SL_ONLY && this.ecap.slts && this.agawSupported(aw)) ||
      (pgtt === PGTT.PT && this.ecap.pt)
    if (!valid) return VTD_FR.SM_PASID_ENTRY_INV
    if (cachedPe !== undefined && cachedPe.fpd === fpd && sameWords(cachedPe.raw, w)) {
      this.resolved = cachedPe
      return 0
    }
    const did = w[2] & PASID_ENTRY.DID_MASK
    const root = this.makeRoot(did, pasid, pgtt === PGTT.PT, entryAddr(w[0], w[1]), aw, fpd, w)
    this.pasidCache.set(key, root)
    this.resolved = root
    return 0
  }

  private agawSupported(aw: number): boolean {
    // This model walks 3- and 4-level tables; SAGAW says which the unit claims.
    return (aw === 1 || aw === 2) && (this.cap.sagaw & (1 << aw)) !== 0
  }

  private makeRoot(
    did: number,
    pasid: number,
    pt: boolean,
    slptptr: number,
    aw: number,
    fpd: boolean,
    words: Uint32Array,
  ): TranslationRoot {
    const levels = aw + 2
    const width = Math.min(30 + 9 * aw, this.cap.mgaw)
    return {
      did,
      pasid,
      passThrough: pt,
      slptptr,
      levels,
      limit: 2 ** width,
      fpd,
      iotlb: this.iotlb.domain(did, pasid),
      raw: Uint32Array.from(words),
    }
  }
}

function sameWords(a: Uint32Array, b: Uint32Array): boolean {
  return a[0] === b[0] && a[1] === b[1] && a[2] === b[2] && a[3] === b[3]
}
