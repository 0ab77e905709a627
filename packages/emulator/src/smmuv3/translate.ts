import type { DmaAccessKind, IommuTranslator, TranslationOutcome } from '../iommu/translator.js'
import type { PhysicalMemory } from '../memory/physical-memory.js'
import { LEVEL_SIZE, addressSizeBits, stage2StartLevel } from '../pagetable/vmsav8/descriptor.js'
import { PERM_EXEC, PERM_READ, PERM_WRITE, Vmsav8Walker, type WalkRegime } from '../pagetable/vmsav8/walk.js'
import { type CdCacheEntry, type ConfigCache, type SteCacheEntry, StreamMode } from './config-cache.js'
import { CD } from './context-descriptor.js'
import { EVENT_CLASS_CD, EVENT_CLASS_IN, EventId, type EventRecord } from './events.js'
import type { EventQueue } from './event-queue.js'
import type { Iotlb, IotlbBucket } from './iotlb.js'
import { getAddress, getHalf } from './qword-field.js'
import { CR0_SMMUEN, GBPA_ABORT, REG, type SmmuRegisters } from './registers.js'
import { LOCATE_BAD_STE, LOCATE_BAD_STREAMID, STRTAB_BASE, locateSte } from './stream-table.js'
import { STE, SteConfig } from './stream-table-entry.js'

// Hot-path copies of imported constants, read once at module load: tsx may compile imported
// bindings to getters, which would put a call on every use in translateTransaction.
const CR0_WORD = REG.CR0 >> 2
const GBPA_WORD = REG.GBPA >> 2
const SMMUEN = CR0_SMMUEN
const ABORT = GBPA_ABORT
const MODE_STAGE1 = StreamMode.Stage1
const MODE_STAGE2 = StreamMode.Stage2
const MODE_BYPASS = StreamMode.Bypass
const P_READ = PERM_READ
const P_WRITE = PERM_WRITE
const P_EXEC = PERM_EXEC
/** LEVEL_SIZE[level] - 1: the offset mask of a leaf at each level. */
const LEVEL_OFFSET_MASK = LEVEL_SIZE.map((s) => s - 1)

const STE_S2TTB_LO = 0xfffffff0
const L1CD_L2PTR_LO = 0xfffff000

/**
 * The SMMU's translation unit (IHI 0070, 3.3 and 3.4; QEMU smmuv3_translate): StreamID → STE
 * (config cache or stream table) → CD (config cache or CD table) → IOTLB or VMSAv8-64 walk →
 * permission check, recording an event for every fault.
 *
 * Atomicity: every structure word is read as one 64-bit single-copy-atomic access (two 32-bit
 * halves of the shared buffer in deterministic mode, where no store can fall between them; one
 * Atomics.load in concurrent mode). The words of one STE or CD are separate reads: a device may
 * combine words written at different store boundaries, exactly what arm_smmu_write_entry guards
 * against.
 *
 * The outcome object is reused: read it before the next call.
 */
export class SmmuV3Translator implements IommuTranslator {
  readonly outcome: TranslationOutcome = { pa: -1, iotlbHit: false, fault: 0, hazard: false, recorded: true }
  /** While true, the caches are not consulted (every access walks; results are inserted). */
  forceMiss = false
  readonly walker: Vmsav8Walker
  /** Walks performed and descriptors read by them (benchmarks). */
  walks = 0
  private readonly u32: Uint32Array
  private readonly i64: BigInt64Array
  private readonly regsI32: Int32Array
  private readonly scratch = new Uint32Array(2)
  /** Highest base of a whole 4 KiB table inside memory; -1 (concurrent mode) disables walk4k. */
  private readonly tableLimit: number
  private readonly readHalves = (pa: number, out: Uint32Array) => this.read(pa, out)
  private lo = 0
  private hi = 0

  constructor(
    readonly memory: PhysicalMemory,
    readonly regs: SmmuRegisters,
    readonly configCache: ConfigCache,
    readonly iotlb: Iotlb,
    readonly events: EventQueue,
    /** The SMMU's output address size (IDR5.OAS) in bits: caps IPS and S2PS. */
    readonly oasBits: number,
    readonly atomic = false,
  ) {
    this.walker = new Vmsav8Walker(memory, atomic)
    this.u32 = memory.u32
    this.i64 = memory.i64
    this.regsI32 = regs.i32
    // walk4k keeps table addresses in int32 arithmetic: memory must end below 2^31.
    this.tableLimit = !atomic && memory.size <= 2 ** 31 ? memory.size - 4096 : -1
  }

  forceCacheMiss(on: boolean): void {
    this.forceMiss = on
  }

  translate(requesterId: number, iova: number, access: DmaAccessKind, pasid?: number): TranslationOutcome {
    return this.translateTransaction(requesterId, iova, access === 'write', pasid, false)
  }

  /** One 64-bit single-copy-atomic read of a structure word into `out` / `lo`,`hi`. */
  private read(pa: number, out?: Uint32Array): void {
    if (this.atomic) {
      const v = Atomics.load(this.i64, pa / 8)
      this.lo = Number(BigInt.asUintN(32, v))
      this.hi = Number(BigInt.asUintN(32, v >> 32n))
    } else {
      const i = pa / 4
      this.lo = this.u32[i]
      this.hi = this.u32[i + 1]
    }
    if (out) {
      out[0] = this.lo
      out[1] = this.hi
    }
  }

  /**
   * Full form: `ssid` undefined means no SubstreamID; `instruction` marks an instruction fetch
   * (checked against XN). Devices are modelled as unprivileged (PnU=0), as Linux maps them.
   */
  translateTransaction(
    sid: number,
    iova: number,
    write: boolean,
    ssid: number | undefined,
    instruction: boolean,
  ): TranslationOutcome {
    const o = this.outcome
    o.pa = -1
    o.iotlbHit = false
    o.fault = 0
    o.hazard = false
    o.recorded = true
    // SMMUEN=0: GBPA decides, abort or bypass, and no event is recorded (IHI 0070, 6.3.14).
    if ((this.regsI32[CR0_WORD] & SMMUEN) === 0) {
      if ((this.regsI32[GBPA_WORD] & ABORT) === 0) o.pa = iova
      return o
    }
    const cc = this.configCache
    let ste = this.forceMiss ? undefined : cc.getSte(sid)
    if (ste === undefined) {
      ste = this.fetchSte(sid, iova, write, ssid)
      if (ste === undefined) return o
      cc.setSte(sid, ste)
    }
    let regime: WalkRegime
    let bucket: IotlbBucket
    const mode = ste.mode
    if (mode === MODE_STAGE1) {
      let effSsid = 0
      if (ssid === undefined) {
        // No SubstreamID: S1DSS chooses (IHI 0070, 5.2, STE.S1DSS), when substreams exist.
        if (ste.s1CdMax !== 0) {
          if (ste.s1dss === 1) {
            o.pa = iova
            return o
          }
          if (ste.s1dss === 0) return this.fault(EventId.F_STREAM_DISABLED, sid, ssid, iova, write, 0, false)
        }
      } else {
        // SubstreamID beyond 2^S1CDMax (or any with S1CDMax=0): C_BAD_SUBSTREAMID.
        if (ssid >= 2 ** ste.s1CdMax || ste.s1CdMax === 0)
          return this.fault(EventId.C_BAD_SUBSTREAMID, sid, ssid, iova, write, 0, false)
        effSsid = ssid
      }
      let cd = this.forceMiss ? undefined : cc.getCd(sid, effSsid)
      if (cd === undefined) {
        cd = this.fetchCd(ste, sid, effSsid, ssid, iova, write)
        if (cd === undefined) return o
        cc.setCd(sid, effSsid, cd)
      }
      if (cd.bucket === null || cd.bucketVmid !== ste.vmid) {
        cd.bucket = this.iotlb.bucket(1, ste.vmid, cd.asid)
        cd.bucketVmid = ste.vmid
      }
      bucket = cd.bucket
      regime = cd.regime
      if (cd.epd0) {
        // A TTB0 walk is disabled: translation fault on a TLB miss.
        if (this.forceMiss || this.iotlb.lookup(bucket, iova) === 0)
          return this.fault(EventId.F_TRANSLATION, sid, ssid, iova, write, 0, false)
      }
    } else if (mode === MODE_STAGE2) {
      regime = ste.s2 as WalkRegime
      if (ste.s2Bucket === null) ste.s2Bucket = this.iotlb.bucket(2, ste.vmid, 0)
      bucket = ste.s2Bucket
    } else if (mode === MODE_BYPASS) {
      o.pa = iova
      return o
    } else {
      // V=1, Config=abort: the transaction is aborted silently, no event (IHI 0070, 5.2).
      return o
    }
    const need = instruction ? P_EXEC : write ? P_WRITE : P_READ
    const iotlb = this.iotlb
    if (!this.forceMiss) {
      const matches = iotlb.lookup(bucket, iova)
      if (matches > 1) {
        // Two leaf sizes cached for one address: TLB conflict abort (BBML0/1).
        o.hazard = true
        return this.fault(EventId.F_TLB_CONFLICT, sid, ssid, iova, write, 0, regime.stage === 2)
      }
      if (matches === 1) {
        const v = iotlb.value
        o.iotlbHit = true
        if ((v & need) === 0)
          return this.fault(EventId.F_PERMISSION, sid, ssid, iova, write, iova, regime.stage === 2)
        o.pa = Math.floor(v / 8) * 4096 + (iova & LEVEL_OFFSET_MASK[iotlb.level])
        return o
      }
    }
    this.walks++
    if (regime.startLevel === 0 && regime.inputBits === 48 && regime.outputBits >= 48) {
      const leaf = this.walk4k(regime.ttb, iova, regime.stage, regime.affd)
      if (leaf >= 0) {
        const perm = leaf & 7
        const out = (leaf - perm) * 512
        if (iotlb.insert(bucket, iova, 3, out, perm)) o.hazard = true
        if ((perm & need) === 0)
          return this.fault(EventId.F_PERMISSION, sid, ssid, iova, write, iova, regime.stage === 2)
        o.pa = out + (iova & 4095)
        return o
      }
    }
    const w = this.walker
    const f = w.walkRaw(
      regime.stage,
      regime.ttb,
      regime.startLevel,
      regime.inputBits,
      regime.outputBits,
      regime.affd,
      iova,
    )
    if (f !== 0)
      return this.fault(f, sid, ssid, iova, write, regime.stage === 2 ? iova : 0, regime.stage === 2)
    // Cache the translation before the permission check: it is a valid translation.
    if (iotlb.insert(bucket, iova, w.level, w.outputAddress, w.perm)) {
      // The IOTLB now holds two sizes for this address: this access used either (the walked one);
      // on BBML0/1 that is UNPREDICTABLE, so the ground truth flags it.
      o.hazard = true
    }
    if ((w.perm & need) === 0)
      return this.fault(EventId.F_PERMISSION, sid, ssid, iova, write, iova, regime.stage === 2)
    // Offset in the leaf (≤ 1 GiB) from the low 32 bits: `&` is exact for an integer IOVA.
    o.pa = w.outputAddress + (iova & (w.leafSize - 1))
    return o
  }

  /**
   * The common walk in line: 48-bit input and output, start level 0, table descriptors inside
   * memory down to a valid 4 KiB page with AF set (or AFFD) — Vmsav8Walker.walkRaw's unrolled
   * path, with the same reads and checks. Returns the leaf as the IOTLB packs it (output frame * 8
   * + PERM_* bits), or -1 for anything else (then walkRaw walks again from the start and reports
   * the fault: the same reads, since nothing runs between them in deterministic mode; in
   * concurrent mode `tableLimit` is -1 and walkRaw always walks).
   */
  private walk4k(ttb: number, iova: number, stage: number, affd: boolean): number {
    const limit = this.tableLimit
    if (ttb > limit || !(iova >= 0 && iova < 281474976710656)) return -1
    const u32 = this.u32
    const ilo = iova >>> 0
    const ihi = (iova / 4294967296) >>> 0
    let d = (ttb >>> 2) + (((ihi >>> 7) & 511) << 1)
    let lo = u32[d]
    if ((lo & 3) !== 3 || (u32[d + 1] & 0xffff) !== 0) return -1
    let t = (lo & 0xfffff000) >>> 0
    if (t > limit) return -1
    d = (t >>> 2) + ((((ilo >>> 30) | (ihi << 2)) & 511) << 1)
    lo = u32[d]
    if ((lo & 3) !== 3 || (u32[d + 1] & 0xffff) !== 0) return -1
    t = (lo & 0xfffff000) >>> 0
    if (t > limit) return -1
    d = (t >>> 2) + (((ilo >>> 21) & 511) << 1)
    lo = u32[d]
    if ((lo & 3) !== 3 || (u32[d + 1] & 0xffff) !== 0) return -1
    t = (lo & 0xfffff000) >>> 0
    if (t > limit) return -1
    d = (t >>> 2) + (((ilo >>> 12) & 511) << 1)
    lo = u32[d]
    const hi = u32[d + 1]
    // Page descriptor (0b11 at level 3), AF (bit 10) set or AFFD.
    if ((lo & 3) !== 3 || ((lo & 0x400) === 0 && !affd)) return -1
    let perm: number
    if (stage === 1) {
      // AP[1] (bit 6) grants EL0 access, AP[2] (bit 7) makes it read-only; XN is bit 54.
      perm = (lo & 0x40) === 0 ? 0 : (lo & 0x80) === 0 ? P_READ | P_WRITE : P_READ
      if ((hi & 0x400000) === 0 && perm !== 0) perm |= P_EXEC
    } else {
      perm = ((lo & 0x40) === 0 ? 0 : P_READ) | ((lo & 0x80) === 0 ? 0 : P_WRITE)
      if ((hi & 0x400000) === 0) perm |= P_EXEC
    }
    return ((hi & 0xffff) * 1048576 + (lo >>> 12)) * 8 + perm
  }

  private fault(
    id: number,
    sid: number,
    ssid: number | undefined,
    iova: number,
    write: boolean,
    ipa: number,
    s2: boolean,
  ): TranslationOutcome {
    const o = this.outcome
    o.pa = -1
    o.fault = id
    const e: EventRecord = {
      id,
      sid,
      ssv: ssid !== undefined,
      ssid: ssid ?? 0,
      pnu: false,
      ind: false,
      rnw: !write,
      s2,
      class: id === EventId.C_BAD_CD ? EVENT_CLASS_CD : EVENT_CLASS_IN,
      addr: iova,
      ipa,
    }
    o.recorded = this.events.record(e)
    return o
  }

  /** Fetches and decodes the STE of `sid` (IHI 0070, 5.2); undefined after recording a fault. */
  private fetchSte(
    sid: number,
    iova: number,
    write: boolean,
    ssid: number | undefined,
  ): SteCacheEntry | undefined {
    this.configCache.fetches++
    const regs = this.regs
    const base = getAddress(regs.read32(REG.STRTAB_BASE), regs.read32(REG.STRTAB_BASE_HI), STRTAB_BASE.ADDR)
    const cfg = regs.read32(REG.STRTAB_BASE_CFG)
    const pa = locateSte(this.readHalves, base, cfg, sid, this.scratch)
    if (pa === LOCATE_BAD_STREAMID) return this.configFault(EventId.C_BAD_STREAMID, sid, ssid, iova, write)
    if (pa === LOCATE_BAD_STE) return this.configFault(EventId.C_BAD_STE, sid, ssid, iova, write)
    if (!this.memory.contains(pa, 64)) return this.configFault(EventId.F_STE_FETCH, sid, ssid, iova, write)
    this.read(pa)
    const q0lo = this.lo
    const q0hi = this.hi
    if ((q0lo & 1) === 0) return this.configFault(EventId.C_BAD_STE, sid, ssid, iova, write)
    const config = getHalf(q0lo, q0hi, STE.Config)
    const entry: SteCacheEntry = {
      sid,
      mode: StreamMode.Abort,
      vmid: 0,
      s1ContextPtr: 0,
      s1Fmt: 0,
      s1CdMax: 0,
      s1dss: 0,
      s2: null,
      s2Bucket: null,
    }
    switch (config) {
      case SteConfig.Abort:
        return entry
      case SteConfig.Bypass:
        entry.mode = StreamMode.Bypass
        return entry
      case SteConfig.S1Trans: {
        this.read(pa + 8)
        const q1lo = this.lo
        this.read(pa + 16)
        entry.mode = StreamMode.Stage1
        entry.vmid = getHalf(this.lo, this.hi, STE.S2VMID)
        entry.s1ContextPtr = getAddress(q0lo, q0hi, STE.S1ContextPtr)
        entry.s1Fmt = getHalf(q0lo, q0hi, STE.S1Fmt)
        entry.s1CdMax = getHalf(q0lo, q0hi, STE.S1CDMax)
        entry.s1dss = getHalf(q1lo, 0, STE.S1DSS)
        // S1Fmt 3 and S1DSS 3 are reserved: ILLEGAL STE.
        if (entry.s1Fmt === 3 || entry.s1dss === 3)
          return this.configFault(EventId.C_BAD_STE, sid, ssid, iova, write)
        return entry
      }
      case SteConfig.S2Trans: {
        this.read(pa + 16)
        const q2lo = this.lo
        const q2hi = this.hi
        this.read(pa + 24)
        const s2ttb = (this.hi & 0xfffff) * 4294967296 + ((this.lo & STE_S2TTB_LO) >>> 0)
        const t0sz = getHalf(q2lo, q2hi, STE.S2T0SZ)
        const start = stage2StartLevel(getHalf(q2lo, q2hi, STE.S2SL0))
        const inputBits = 64 - t0sz
        // Only AArch64 little-endian 4 KiB-granule stage 2 is modelled; S2T0SZ/S2SL0 must give a
        // start level with at most 16 concatenated tables (Arm ARM D8.2.3) — otherwise ILLEGAL.
        if (
          getHalf(q2lo, q2hi, STE.S2AA64) !== 1 ||
          getHalf(q2lo, q2hi, STE.S2ENDI) !== 0 ||
          getHalf(q2lo, q2hi, STE.S2TG) !== 0 ||
          start < 0 ||
          t0sz < 16 ||
          inputBits > Math.log2(LEVEL_SIZE[start]) + 13 ||
          inputBits <= Math.log2(LEVEL_SIZE[start])
        )
          return this.configFault(EventId.C_BAD_STE, sid, ssid, iova, write)
        entry.mode = StreamMode.Stage2
        entry.vmid = getHalf(q2lo, q2hi, STE.S2VMID)
        entry.s2 = {
          stage: 2,
          ttb: s2ttb,
          startLevel: start,
          inputBits,
          outputBits: Math.min(addressSizeBits(getHalf(q2lo, q2hi, STE.S2PS)), this.oasBits),
          affd: getHalf(q2lo, q2hi, STE.S2AFFD) === 1,
        }
        return entry
      }
      default:
        // Reserved Config values, and nested (stage 1 + 2) which this model does not implement.
        return this.configFault(EventId.C_BAD_STE, sid, ssid, iova, write)
    }
  }

  /** Fetches and decodes the CD for (sid, ssid) (IHI 0070, 5.4); undefined after a fault. */
  private fetchCd(
    ste: SteCacheEntry,
    sid: number,
    ssid: number,
    reportedSsid: number | undefined,
    iova: number,
    write: boolean,
  ): CdCacheEntry | undefined {
    this.configCache.fetches++
    let cdPa: number
    if (ste.s1Fmt === 0) cdPa = ste.s1ContextPtr + ssid * 64
    else {
      // 2-level: S1Fmt 1 → 4 KiB L2 tables (64 CDs), 2 → 64 KiB L2 tables (1024 CDs; Linux's choice).
      const split = ste.s1Fmt === 1 ? 6 : 10
      const l1pa = ste.s1ContextPtr + Math.floor(ssid / 2 ** split) * 8
      if (!this.memory.contains(l1pa, 8))
        return this.configFault(EventId.F_CD_FETCH, sid, reportedSsid, iova, write)
      this.read(l1pa)
      if ((this.lo & 1) === 0) return this.configFault(EventId.C_BAD_CD, sid, reportedSsid, iova, write)
      cdPa = (this.hi & 0xfffff) * 4294967296 + ((this.lo & L1CD_L2PTR_LO) >>> 0) + (ssid % 2 ** split) * 64
    }
    if (!this.memory.contains(cdPa, 64))
      return this.configFault(EventId.F_CD_FETCH, sid, reportedSsid, iova, write)
    this.read(cdPa)
    const q0lo = this.lo
    const q0hi = this.hi
    if (getHalf(q0lo, q0hi, CD.V) === 0)
      return this.configFault(EventId.C_BAD_CD, sid, reportedSsid, iova, write)
    const epd0 = getHalf(q0lo, q0hi, CD.EPD0) === 1
    const t0sz = getHalf(q0lo, q0hi, CD.T0SZ)
    // Only AArch64 little-endian tables are modelled; with TTB0 in use, the 4 KiB granule and a
    // T0SZ in [16, 39] are required (IHI 0070, 5.4: otherwise the CD is ILLEGAL → C_BAD_CD).
    if (
      getHalf(q0lo, q0hi, CD.AA64) !== 1 ||
      getHalf(q0lo, q0hi, CD.ENDI) !== 0 ||
      (!epd0 && (getHalf(q0lo, q0hi, CD.TG0) !== 0 || t0sz < 16 || t0sz > 39))
    )
      return this.configFault(EventId.C_BAD_CD, sid, reportedSsid, iova, write)
    this.read(cdPa + 8)
    const ttb0 = getAddress(this.lo, this.hi, CD.TTB0)
    const inputBits = 64 - t0sz
    return {
      asid: getHalf(q0lo, q0hi, CD.ASID),
      epd0,
      regime: {
        stage: 1,
        ttb: ttb0,
        startLevel: 4 - Math.ceil((inputBits - 12) / 9),
        inputBits,
        outputBits: Math.min(addressSizeBits(getHalf(q0lo, q0hi, CD.IPS)), this.oasBits),
        affd: getHalf(q0lo, q0hi, CD.AFFD) === 1,
      },
      bucket: null,
      bucketVmid: -1,
    }
  }

  private configFault(
    id: number,
    sid: number,
    ssid: number | undefined,
    iova: number,
    write: boolean,
  ): undefined {
    this.fault(id, sid, ssid, iova, write, 0, false)
    return undefined
  }
}
