import { type KernelFiles, localKernelFiles } from '@hitless/live-update'
import { HARDWARE, type UpdateStep } from '@hitless/protocol'
import { EmulatedHost } from './runtime/emulated-host.js'
import type { HostRuntime } from './runtime/host-runtime.js'
import { type StubFault, StubEmulatedHost } from './runtime/stub-emulated-host.js'

export const BASE_KERNEL = '6.19.0-hitless0'

/** Share of a host's update time each step takes (KEXEC and RESTORE the largest, as on real hosts). */
const STEP_SHARE: Record<UpdateStep, number> = {
  PREFLIGHT: 0.1,
  SNAPSHOT_PRE: 0.1,
  PRESERVE: 0.15,
  KEXEC: 0.3,
  RESTORE: 0.2,
  SNAPSHOT_POST: 0.1,
  FINISH: 0.05,
}

/**
 * Seeded per-host update times for benchmarks (HITLESS_EMU_DURATION_SEED): log-normal with the
 * given median and σ, clamped to [median/3, median*10/3], split over the steps by STEP_SHARE.
 * Deterministic: the same seed and fleet size give the same durations in any process.
 */
export function seededDurations(seed: number, n: number, medianMs = 1500, sigma = 0.4) {
  let a = seed >>> 0
  const rnd = () => {
    // mulberry32
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const hostMs = Array.from({ length: n }, () => {
    const z = Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd())
    return Math.min((medianMs * 10) / 3, Math.max(medianMs / 3, medianMs * Math.exp(sigma * z)))
  })
  return { hostMs, stepMs: (i: number, s: UpdateStep) => hostMs[i] * STEP_SHARE[s] }
}

/** Host i of an emulated fleet: its name and its labels (rack of 4, two zones, the fleet). */
export function fleetHost(agentId: string, i: number): { name: string; labels: Record<string, string> } {
  return {
    name: `${agentId}-h${String(i).padStart(3, '0')}`,
    labels: { rack: `r${Math.floor(i / 4) + 1}`, zone: `z${(i % 2) + 1}`, fleet: agentId },
  }
}

/**
 * The boot files of an emulated fleet: under `bootRoot` (the agent's HITLESS_BOOT_ROOT; default
 * this process's HITLESS_BOOT_ROOT), where PREFLIGHT finds each target kernel's image.
 */
export function fleetKernelFiles(bootRoot?: string): KernelFiles {
  if (bootRoot) return localKernelFiles(bootRoot)
  // Read at each use: a fleet built before its process's HITLESS_BOOT_ROOT is set still finds it.
  const files = () => localKernelFiles(process.env.HITLESS_BOOT_ROOT || undefined)
  return { digest: (path) => files().digest(path), missing: (path) => files().missing(path) }
}

/**
 * An emulated fleet on the emulated IOMMU hardware: every host runs the real live update
 * (packages/live-update) with DMA running, uploads its snapshots, and can be verified hitless.
 * Heavier than `emulatedFleet` (each host has its own emulated physical memory), so the scale
 * benchmarks use the light fleet.
 */
export async function emulatedIommuFleet(
  agentId: string,
  n: number,
  o: { stepMs?: number; mappings?: number; bootRoot?: string } = {},
): Promise<HostRuntime[]> {
  const hosts: HostRuntime[] = []
  const kernelFiles = fleetKernelFiles(o.bootRoot)
  for (let i = 0; i < n; i++) {
    const { name, labels } = fleetHost(agentId, i)
    hosts.push(
      await EmulatedHost.boot(name, HARDWARE[i % HARDWARE.length], labels, BASE_KERNEL, {
        seed: i + 1,
        kernelFiles,
        ...(o.stepMs !== undefined ? { stepMs: o.stepMs } : {}),
        ...(o.mappings !== undefined ? { mappings: o.mappings } : {}),
      }),
    )
  }
  return hosts
}

export interface FleetOptions {
  /** Test hooks: faults by host name (HITLESS_EMU_FAULTS). */
  faults?: Map<string, StubFault>
  /** Per-host, per-step durations (the benchmark's seeded distribution). */
  stepMsFor?: (hostIndex: number, step: UpdateStep) => number
  hangMs?: number
  /** HITLESS_BOOT_ROOT (default: this process's). */
  bootRoot?: string
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
  const kernelFiles = fleetKernelFiles(opts.bootRoot)
  return Array.from({ length: n }, (_, i) => {
    const { name, labels } = fleetHost(agentId, i)
    const stepMsFor = opts.stepMsFor
    return new StubEmulatedHost(name, HARDWARE[i % HARDWARE.length], labels, BASE_KERNEL, {
      stepMs,
      kernelFiles,
      ...(stepMsFor ? { stepMsFor: (s: UpdateStep) => stepMsFor(i, s) } : {}),
      ...(opts.faults?.get(name) ? { fault: opts.faults.get(name) } : {}),
      ...(opts.hangMs !== undefined ? { hangMs: opts.hangMs } : {}),
    })
  })
}
