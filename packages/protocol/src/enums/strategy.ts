import Type from 'typebox'

/**
 * How a host's IOMMU state crosses the kexec.
 * - serialise: the kernel serialises its objects and the new kernel adopts the preserved tables.
 * - replay-verify: userspace replays its ioctls; the kernel adopts preserved tables only after checking them.
 * - fresh-switch: new tables are built and switched to atomically where the hardware allows it.
 * - naive: what a plain kexec does today; it must fault (the control experiment).
 */
export const STRATEGIES = ['serialise', 'replay-verify', 'fresh-switch', 'naive'] as const
export type Strategy = (typeof STRATEGIES)[number]
export const StrategySchema = Type.Enum(STRATEGIES)
