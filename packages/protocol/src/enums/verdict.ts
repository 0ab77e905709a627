import Type from 'typebox'

/**
 * The verifier's verdict on one host update.
 * - hitless: state equal, no fault, and evidence that DMA ran through the update.
 * - consistent: state equal and no fault seen, but the backend cannot observe DMA continuity.
 * - faulted: at least one DMA fault (or a lost one) between the snapshots.
 * - diverged: the IOMMU state after the update differs from before.
 * - unverified: data missing or unreadable; never counted as success.
 */
export const VERDICTS = ['hitless', 'consistent', 'faulted', 'diverged', 'unverified'] as const
export type Verdict = (typeof VERDICTS)[number]
export const VerdictSchema = Type.Enum(VERDICTS)
