import Type from 'typebox'

/**
 * DMA fault counts. groundTruth: accesses that did not reach the page they should have, whether
 * or not the hardware recorded them; recorded: what the hardware's fault log holds; lost: faults
 * the hardware dropped (event-queue overflow, VT-d primary fault overflow).
 */
export const FaultCountsSchema = Type.Object({
  groundTruth: Type.Integer({ minimum: 0 }),
  recorded: Type.Integer({ minimum: 0 }),
  lost: Type.Integer({ minimum: 0 }),
})
export type FaultCounts = Type.Static<typeof FaultCountsSchema>

export const zeroFaults = (): FaultCounts => ({ groundTruth: 0, recorded: 0, lost: 0 })
