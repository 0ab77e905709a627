import { crashStep, HitlessError } from '@hitless/protocol'
import type { SimulateOptions } from '../simulate.js'

/**
 * What concurrent mode does not do, refused up front with HITLESS_E_UNPROCESSABLE naming it —
 * never run in deterministic mode instead:
 * - crash:<STEP>: resuming after an agent crash needs the persisted journal, which only the
 *   deterministic state machine keeps.
 * - bootTicks: a deterministic-mode length (store boundaries of DMA during the boot); here the
 *   boot lasts what the new kernel thread takes.
 */
export function refuseUnsupportedInConcurrentMode(o: SimulateOptions): void {
  const refuse = (what: string, value: unknown, why: string) => {
    throw new HitlessError('HITLESS_E_UNPROCESSABLE', `concurrent mode does not support ${what}: ${why}`, {
      mode: 'concurrent',
      unsupported: what,
      value,
    })
  }
  const crashes = (o.inject ?? []).filter((f) => crashStep(f) !== undefined)
  if (crashes.length)
    refuse(
      `--inject ${crashes.join(' ')}`,
      crashes,
      'agent crash and resume needs the journal of the deterministic state machine',
    )
  if (o.bootTicks !== undefined)
    refuse(
      'bootTicks',
      o.bootTicks,
      'the boot is a kernel thread starting in real time, not store boundaries',
    )
}
