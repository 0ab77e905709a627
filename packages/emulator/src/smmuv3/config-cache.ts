import type { WalkRegime } from '../pagetable/vmsav8/walk.js'
import type { IotlbBucket } from './iotlb.js'

/**
 * The SMMU's configuration cache (IHI 0070, 16.1 "Configuration cache"): STEs by StreamID and CDs
 * by (StreamID, SubstreamID), decoded. Hardware-internal state in JS objects; it survives kexec and
 * keeps serving a cached entry after memory changed ("stale but valid") until a CFGI_* command
 * drops it, as on real hardware and in QEMU (s->configs, dropped by smmuv3_flush_config). Only
 * valid, legal structures are cached: a fetch that ends in C_BAD_STE / C_BAD_CD caches nothing.
 */
export const StreamMode = {
  Abort: 0,
  Bypass: 1,
  Stage1: 2,
  Stage2: 3,
} as const

export interface SteCacheEntry {
  sid: number
  mode: number
  /** STE.S2VMID: tags stage-2 and (with stage 2 implemented) stage-1 TLB entries. */
  vmid: number
  s1ContextPtr: number
  s1Fmt: number
  s1CdMax: number
  s1dss: number
  /** Stage-2 regime when mode is Stage2. */
  s2: WalkRegime | null
  s2Bucket: IotlbBucket | null
}

export interface CdCacheEntry {
  asid: number
  epd0: boolean
  regime: WalkRegime
  /** IOTLB bucket for (VMID, ASID), resolved lazily for the VMID of the STE in use. */
  bucket: IotlbBucket | null
  bucketVmid: number
}

/** Key of a CD in the cache: StreamID * 2^20 + SubstreamID (SSIDs are at most 20 bits). */
export function cdKey(sid: number, ssid: number): number {
  return sid * 1048576 + ssid
}

/** StreamIDs below this are cached in arrays indexed by StreamID (IDR1.SIDSIZE 16 by default). */
const DIRECT_SIDS = 65536

export class ConfigCache {
  /**
   * STEs by StreamID: an array for SIDs below 2^16 (no hashing on the translation path), a Map
   * beyond. The CD of SubstreamID 0 (every stream without substreams) likewise has an array
   * slot per StreamID; other CDs are in a Map keyed by `cdKey`.
   */
  private steBySid: (SteCacheEntry | undefined)[] = []
  private cd0BySid: (CdCacheEntry | undefined)[] = []
  private readonly steFar = new Map<number, SteCacheEntry>()
  private readonly cdMap = new Map<number, CdCacheEntry>()
  fetches = 0

  getSte(sid: number): SteCacheEntry | undefined {
    return sid < DIRECT_SIDS ? this.steBySid[sid] : this.steFar.get(sid)
  }

  setSte(sid: number, e: SteCacheEntry): void {
    if (sid < DIRECT_SIDS) {
      if (this.steBySid.length === 0) this.steBySid = new Array(DIRECT_SIDS).fill(undefined)
      this.steBySid[sid] = e
    } else this.steFar.set(sid, e)
  }

  getCd(sid: number, ssid: number): CdCacheEntry | undefined {
    return ssid === 0 && sid < DIRECT_SIDS ? this.cd0BySid[sid] : this.cdMap.get(cdKey(sid, ssid))
  }

  setCd(sid: number, ssid: number, e: CdCacheEntry): void {
    if (ssid === 0 && sid < DIRECT_SIDS) {
      if (this.cd0BySid.length === 0) this.cd0BySid = new Array(DIRECT_SIDS).fill(undefined)
      this.cd0BySid[sid] = e
    } else this.cdMap.set(cdKey(sid, ssid), e)
  }

  /**
   * CMD_CFGI_STE: drops the STE of `sid` and, as QEMU's smmuv3_flush_config does, every CD cached
   * through it (a new STE may point at another CD table).
   */
  invalidateSte(sid: number): void {
    if (sid < DIRECT_SIDS) {
      if (this.steBySid.length !== 0) this.steBySid[sid] = undefined
    } else this.steFar.delete(sid)
    this.invalidateCdAll(sid)
  }

  /** CMD_CFGI_CD: one CD of `sid`. */
  invalidateCd(sid: number, ssid: number): void {
    if (ssid === 0 && sid < DIRECT_SIDS) {
      if (this.cd0BySid.length !== 0) this.cd0BySid[sid] = undefined
    } else this.cdMap.delete(cdKey(sid, ssid))
  }

  /** CMD_CFGI_CD_ALL: every CD of `sid`. */
  invalidateCdAll(sid: number): void {
    if (sid < DIRECT_SIDS && this.cd0BySid.length !== 0) this.cd0BySid[sid] = undefined
    for (const k of this.cdMap.keys()) if (Math.floor(k / 1048576) === sid) this.cdMap.delete(k)
  }

  /** CMD_CFGI_ALL. */
  invalidateAll(): void {
    if (this.steBySid.length !== 0) this.steBySid.fill(undefined)
    if (this.cd0BySid.length !== 0) this.cd0BySid.fill(undefined)
    this.steFar.clear()
    this.cdMap.clear()
  }
}
