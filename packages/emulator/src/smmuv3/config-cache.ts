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

export class ConfigCache {
  readonly ste = new Map<number, SteCacheEntry>()
  readonly cd = new Map<number, CdCacheEntry>()
  fetches = 0

  /**
   * CMD_CFGI_STE: drops the STE of `sid` and, as QEMU's smmuv3_flush_config does, every CD cached
   * through it (a new STE may point at another CD table).
   */
  invalidateSte(sid: number): void {
    this.ste.delete(sid)
    this.invalidateCdAll(sid)
  }

  /** CMD_CFGI_CD: one CD of `sid`. */
  invalidateCd(sid: number, ssid: number): void {
    this.cd.delete(cdKey(sid, ssid))
  }

  /** CMD_CFGI_CD_ALL: every CD of `sid`. */
  invalidateCdAll(sid: number): void {
    for (const k of this.cd.keys()) if (Math.floor(k / 1048576) === sid) this.cd.delete(k)
  }

  /** CMD_CFGI_ALL. */
  invalidateAll(): void {
    this.ste.clear()
    this.cd.clear()
  }
}
