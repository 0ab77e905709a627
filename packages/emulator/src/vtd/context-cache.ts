import type { IotlbDomain } from './iotlb.js'

/**
 * What the hardware needs to translate a request once its context (and, in scalable mode, its
 * PASID entry) is resolved: the domain, the second-level table and its depth, and where its
 * IOTLB entries live.
 */
export interface TranslationRoot {
  did: number
  /** PASID the IOTLB tags this with (NO_PASID in legacy mode). */
  pasid: number
  passThrough: boolean
  slptptr: number
  /** 3 or 4 second-level levels. */
  levels: number
  /** First IOVA beyond the AGAW (2^39 or 2^48). */
  limit: number
  /** Fault processing disabled by the context / PASID-directory / PASID entry. */
  fpd: boolean
  iotlb: IotlbDomain
  /**
   * The words this was decoded from (legacy: context chunk; scalable: PASID-entry chunk 0 and
   * the PASID-directory entry), so that a forced re-read finding them unchanged reuses it.
   */
  raw: Uint32Array
}

/** A cached context entry: legacy (with its translation root) or scalable (PASID-dir pointer). */
export interface CachedContext {
  scalable: boolean
  /** DID for domain-selective invalidation (legacy only; -1 in scalable mode). */
  did: number
  fpd: boolean
  /** Legacy mode: the translation root. */
  root: TranslationRoot | undefined
  /** Scalable mode fields. */
  pasidDirPtr: number
  pdts: number
  paside: boolean
  ridPasid: number
  /** The context-entry chunk this was decoded from. */
  raw: Uint32Array
}

/**
 * The context cache: decoded context entries by source-id (VT-d spec §6.2.1 "Context-Cache";
 * QEMU VTDContextCacheEntry). Only present, valid entries are cached (a not-present entry is
 * re-read each time, as the spec forbids caching it). Dropped only by context-cache
 * invalidation descriptors: global, domain-selective (DID), device-selective (SID + function
 * mask). In scalable mode entries carry no DID, so a domain-selective invalidation drops every
 * scalable entry (hardware may always invalidate more than asked).
 */
export class ContextCache {
  private readonly bySid: (CachedContext | undefined)[] = new Array(65536).fill(undefined)
  private count = 0

  get(sid: number): CachedContext | undefined {
    return this.bySid[sid]
  }

  set(sid: number, e: CachedContext): void {
    if (this.bySid[sid] === undefined) this.count++
    this.bySid[sid] = e
  }

  get size(): number {
    return this.count
  }

  invalidateGlobal(): void {
    if (this.count === 0) return
    this.bySid.fill(undefined)
    this.count = 0
  }

  invalidateDomain(did: number): void {
    for (let sid = 0; sid < 65536 && this.count > 0; sid++) {
      const e = this.bySid[sid]
      if (e !== undefined && (e.scalable || e.did === did)) this.drop(sid)
    }
  }

  /**
   * Device-selective: `fm` (function mask, 2 bits) ignores the low 0, 1, 2 or 3 function bits
   * of `sid` (VT-d spec §6.5.2.1 "Context-cache Invalidate Descriptor").
   */
  invalidateDevice(sid: number, fm: number): void {
    const mask = fm === 0 ? 0 : (1 << fm) - 1
    const first = sid & ~mask & 0xffff
    for (let s = first; s <= (first | mask); s++) if (this.bySid[s] !== undefined) this.drop(s)
  }

  private drop(sid: number): void {
    this.bySid[sid] = undefined
    this.count--
  }
}
