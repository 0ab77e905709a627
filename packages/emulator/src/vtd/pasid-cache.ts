import type { TranslationRoot } from './context-cache.js'

/**
 * The PASID cache: decoded scalable-mode PASID entries by (source-id, PASID) (VT-d spec §6.2.2
 * "PASID-Cache"; the kernel flushes it with QI_PC_TYPE descriptors, qi_flush_pasid_cache).
 * Only present, valid entries are cached. Dropped only by PASID-cache invalidation descriptors:
 * domain-selective (every PASID of a DID, QI_PC_ALL_PASIDS), PASID-selective (DID + PASID,
 * QI_PC_PASID_SEL) or global (QI_PC_GLOBAL).
 */
export class PasidCache {
  private readonly entries = new Map<number, TranslationRoot>()

  static key(sid: number, pasid: number): number {
    return sid * 0x100000 + pasid
  }

  get(key: number): TranslationRoot | undefined {
    return this.entries.get(key)
  }

  set(key: number, root: TranslationRoot): void {
    this.entries.set(key, root)
  }

  get size(): number {
    return this.entries.size
  }

  invalidateGlobal(): void {
    this.entries.clear()
  }

  invalidateDomain(did: number): void {
    for (const [k, e] of this.entries) if (e.did === did) this.entries.delete(k)
  }

  invalidatePasid(did: number, pasid: number): void {
    for (const [k, e] of this.entries) if (e.did === did && k % 0x100000 === pasid) this.entries.delete(k)
  }
}
