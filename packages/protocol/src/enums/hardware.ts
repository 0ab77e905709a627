import Type from 'typebox'

/**
 * The emulated and real IOMMU models a host can run. BBML is SMMU IDR3.BBML (break-before-make
 * level); VT-d comes in legacy (context entries hold the second-level pointer) and scalable mode
 * (context entries point at PASID tables).
 */
export const HARDWARE = ['smmuv3-bbml0', 'smmuv3-bbml2', 'vtd-legacy', 'vtd-scalable'] as const
export type Hardware = (typeof HARDWARE)[number]
export const HardwareSchema = Type.Enum(HARDWARE)
