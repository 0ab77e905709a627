import { HARDWARE, type UpdateStep } from '@hitless/protocol'
import type { HostRuntime } from './runtime/host-runtime.js'
import { type StubFault, StubEmulatedHost } from './runtime/stub-emulated-host.js'

export const BASE_KERNEL = '6.19.0-hitless0'

export interface FleetOptions {
  /** Test hooks: faults by host name (HITLESS_EMU_FAULTS). */
  faults?: Map<string, StubFault>
  /** Per-host, per-step durations (the benchmark's seeded distribution). */
  stepMsFor?: (hostIndex: number, step: UpdateStep) => number
  hangMs?: number
}

/**
 * An emulated fleet: N hosts with their own identities, spread over racks and zones (so that
 * waves and spread can be shown) and over every hardware model.
 */
export function emulatedFleet(
  agentId: string,
  n: number,
  stepMs: number,
  opts: FleetOptions = {},
): HostRuntime[] {
  return Array.from({ length: n }, (_, i) => {
    const labels = { rack: `r${Math.floor(i / 4) + 1}`, zone: `z${(i % 2) + 1}`, fleet: agentId }
    const name = `${agentId}-h${String(i).padStart(3, '0')}`
    const stepMsFor = opts.stepMsFor
    return new StubEmulatedHost(name, HARDWARE[i % HARDWARE.length], labels, BASE_KERNEL, {
      stepMs,
      ...(stepMsFor ? { stepMsFor: (s: UpdateStep) => stepMsFor(i, s) } : {}),
      ...(opts.faults?.get(name) ? { fault: opts.faults.get(name) } : {}),
      ...(opts.hangMs !== undefined ? { hangMs: opts.hangMs } : {}),
    })
  })
}
