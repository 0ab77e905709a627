import type { TranslationOutcome } from '../iommu/translator.js'

/**
 * Ground truth: did an access reach the page it should have? Independent of what the IOMMU
 * reported: a fault that was lost from the event queue is still a wrong outcome, and a
 * translation the architecture leaves UNPREDICTABLE (a BBM hazard) counts even if it happened to
 * land on the right page.
 */
export type GroundTruthKind =
  /** Reached a page other than the expected one. */
  | 'wrong-page'
  /** Faulted or was aborted although the working set says it must succeed. */
  | 'aborted'
  /** Reached memory although the working set says the device is blocked there. */
  | 'not-blocked'
  /** UNPREDICTABLE by the architecture (e.g. two live leaf sizes on BBML0). */
  | 'hazard'

export interface GroundTruthCounters {
  wrongPage: number
  aborted: number
  notBlocked: number
  hazard: number
  /** Accesses with at least one of the above. */
  total: number
}

export interface GroundTruthViolation {
  kind: GroundTruthKind
  device: string
  requesterId: number
  iova: number
  access: 'read' | 'write'
  expectedPa: number
  pa: number
  fault: number
  /** The fault record was lost (event queue overflow). */
  lost: boolean
  /** Store boundary at which the access ran (deterministic mode), -1 otherwise. */
  boundary: number
}

export function emptyGroundTruth(): GroundTruthCounters {
  return { wrongPage: 0, aborted: 0, notBlocked: 0, hazard: 0, total: 0 }
}

/**
 * Classifies one outcome. `expectedPa` is the exact byte address the access should reach, or -1
 * when the device must be blocked. Returns null when the access was right.
 */
export function classify(expectedPa: number, o: TranslationOutcome): GroundTruthKind | null {
  if (expectedPa < 0) return o.pa >= 0 ? 'not-blocked' : o.hazard ? 'hazard' : null
  if (o.pa < 0) return 'aborted'
  if (o.pa !== expectedPa) return 'wrong-page'
  return o.hazard ? 'hazard' : null
}
