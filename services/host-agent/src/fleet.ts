import { HARDWARE } from '@hitless/protocol'
import type { HostRuntime } from './runtime/host-runtime.js'
import { StubEmulatedHost } from './runtime/stub-emulated-host.js'

export const BASE_KERNEL = '6.19.0-hitless0'

/**
 * An emulated fleet: N hosts with their own identities, spread over racks and zones (so that
 * waves and spread can be shown) and over every hardware model.
 */
export function emulatedFleet(agentId: string, n: number, stepMs: number): HostRuntime[] {
  return Array.from({ length: n }, (_, i) => {
    const labels = { rack: `r${Math.floor(i / 4) + 1}`, zone: `z${(i % 2) + 1}`, fleet: agentId }
    return new StubEmulatedHost(
      `${agentId}-h${String(i).padStart(3, '0')}`,
      HARDWARE[i % HARDWARE.length],
      labels,
      BASE_KERNEL,
      stepMs,
    )
  })
}
