import type { FaultInjection, Strategy } from '@hitless/protocol'
import type { HandoverState } from '../handover/handover-format.js'
import type { GuestVmm } from '../machine/guest-vmm.js'
import type { Kernel } from '../machine/kernel.js'
import type { KernelPlatform } from '../machine/kernel-platform.js'

/** What a strategy may do where the hitless-switch analysis says the hardware cannot switch. */
export type FreshSwitchFallback = 'replay-verify' | 'refuse'

export interface RestoreContext {
  machine: KernelPlatform
  /** The new kernel. */
  kernel: Kernel
  /** The decoded, checked handover. */
  state: HandoverState
  /** The restarted VMM (memfds reopened from the LUO session). */
  vmm: GuestVmm
  inject: ReadonlySet<FaultInjection>
  fallback: FreshSwitchFallback
}

export interface RestoreReport {
  /** HWPTs adopted from preserved tables. */
  adopted: number
  /** HWPTs switched to fresh tables. */
  switched: number
  /** HWPTs rebuilt from nothing (naive). */
  rebuilt: number
  /** Leaves checked against the preserved tables (replay-verify). */
  checkedLeaves: number
  notes: string[]
}

/**
 * How the new kernel gets the IOMMU state back (docs/live-update.md): one implementation per
 * protocol Strategy. `preservesTables` says whether the old kernel keeps its tables and
 * configuration live through the kexec (all but naive).
 */
export interface RestoreStrategy {
  readonly name: Strategy
  readonly preservesTables: boolean
  restore(ctx: RestoreContext): Promise<RestoreReport>
}

export const emptyReport = (): RestoreReport => ({
  adopted: 0,
  switched: 0,
  rebuilt: 0,
  checkedLeaves: 0,
  notes: [],
})
