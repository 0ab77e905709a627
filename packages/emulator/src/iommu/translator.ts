/**
 * What a DMA engine sees of an IOMMU: one transaction in, a physical address or a fault out.
 * SMMUv3 and VT-d both implement it; the DMA engines and the hitless-switch analysis are written
 * against this interface only.
 */
export type DmaAccessKind = 'read' | 'write'

/**
 * Outcome of one translation. `pa` is -1 when the transaction was aborted/faulted. A translator
 * may return the same object again from its next call (the SMMUv3 model always does; VT-d for
 * successful translations): read it before translating again, do not keep it.
 */
export interface TranslationOutcome {
  pa: number
  /** True when the IOTLB (or a configuration cache) answered without a table walk. */
  iotlbHit: boolean
  /**
   * Hardware-specific fault identifier when the transaction faulted (SMMUv3 event ID such as
   * 0x10 F_TRANSLATION; VT-d fault reason such as 0x06), else 0. A fault may be recorded or lost;
   * the hardware's own fault log decides that, not the caller.
   */
  fault: number
  /**
   * True when the architecture leaves this access UNPREDICTABLE (e.g. SMMUv3 BBML0 with two
   * live leaf sizes for one address): the ground truth counts it as a hazard even if `pa`
   * happens to be right.
   */
  hazard: boolean
  /**
   * When `fault` is non-zero: false if the hardware's fault log lost the record (SMMUv3 event
   * queue full or disabled, VT-d PFO). Optional: undefined means "recorded or not known".
   */
  recorded?: boolean
}

export interface IommuTranslator {
  /**
   * Translates one DMA transaction from `requesterId` (SMMUv3 StreamID, VT-d source-id
   * bus:dev.fn) at `iova`. `pasid` is the SubstreamID / PASID when the device uses one.
   */
  translate(requesterId: number, iova: number, access: DmaAccessKind, pasid?: number): TranslationOutcome

  /**
   * Optional: while `on`, translations are not answered by the IOMMU's caches (configuration cache,
   * IOTLB): every access walks memory, and the walk's results are inserted as on any miss. A
   * deterministic scheduler uses it to explore "cold cache" interleavings: a window that only a
   * miss would observe (an STE with V=0) must not hide behind a warm cache.
   */
  forceCacheMiss?(on: boolean): void
}
