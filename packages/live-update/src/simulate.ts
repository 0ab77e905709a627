import {
  crashStep,
  type FaultCounts,
  type FaultInjection,
  type Hardware,
  type Strategy,
  type Verdict,
} from '@hitless/protocol'
import type { BlackoutPhases, KernelThreadRecord } from './concurrent/concurrent-update.js'
import { simulateConcurrent } from './concurrent/simulate-concurrent.js'
import { EmulatedMachine } from './machine/emulated-machine.js'
import { GuestVmm, memoryFor } from './machine/guest-vmm.js'
import { Kernel } from './machine/kernel.js'
import { faultsBetween, simulateResult } from './simulate-result.js'
import { AgentCrash, LiveUpdate, type LiveUpdateResult } from './state-machine/live-update.js'
import type { FreshSwitchFallback, RestoreReport } from './strategies/restore-strategy.js'

export const BASE_KERNEL = '6.19.0-hitless0'
export const TARGET_KERNEL = '7.2.13-hitless1'

/**
 * `deterministic`: one thread; DMA runs at the kernel's store boundaries and during idle ticks,
 * seeded (one seed, one run). `concurrent`: the kernel on a worker thread (a new worker after the
 * kexec), the SMMU and DMA on another, in parallel for real (docs/live-update.md).
 */
export const SIMULATE_MODES = ['deterministic', 'concurrent'] as const
export type SimulateMode = (typeof SIMULATE_MODES)[number]

export interface SimulateOptions {
  hardware: Hardware
  strategy: Strategy
  /** Default deterministic. Concurrent mode refuses what it does not support (HITLESS_E_UNPROCESSABLE). */
  mode?: SimulateMode
  /** 4 KiB mappings in the guest IOAS. Default 1024. */
  mappings?: number
  /** Devices doing DMA. Default 2. */
  devices?: number
  inject?: readonly FaultInjection[]
  seed?: number
  /** The verifier's blackout SLO. Default 1000 ms. */
  blackoutSloMs?: number
  /** DMA accesses the blackout must see at least. Default 64. */
  dmaFloor?: number
  fallback?: FreshSwitchFallback
  bootTicks?: number
  slowKexecMs?: number
  /** The handover format both kernels read (LiveUpdateOptions.handoverFormat). Default the newest. */
  handoverFormat?: number
}

export interface SimulateResult {
  mode: SimulateMode
  hardware: Hardware
  strategy: Strategy
  seed: number
  mappings: number
  devices: number
  inject: FaultInjection[]
  outcome: LiveUpdateResult['outcome']
  failedStep?: string
  reason?: string
  /** Agent crashes survived (each resumed by a new agent from the journal). */
  crashes: string[]
  steps: LiveUpdateResult['steps']
  blackoutMs: number | null
  dmaDuringBlackout: number | null
  dmaFloor: number
  faults: FaultCounts
  preDigest: string | null
  postDigest: string | null
  handoverBytes: number | null
  restore: RestoreReport | null
  verdict: Verdict
  reasons: string[]
  /** Concurrent mode: each kernel thread (spawn, boot, exit, what its workerData held). */
  kernels?: KernelThreadRecord[]
  /** Concurrent mode: where the blackout went. */
  blackoutPhases?: BlackoutPhases
}

/**
 * One host's whole live update on the emulator, no servers: boot, set up a guest (memfds, IOAS,
 * HWPTs, devices doing DMA), run the state machine (resuming after each injected agent crash),
 * and judge the snapshots with the verifier's own comparison (@hitless/verify).
 */
export async function simulateUpdate(o: SimulateOptions): Promise<SimulateResult> {
  if ((o.mode ?? 'deterministic') === 'concurrent')
    return simulateConcurrent(o, { base: BASE_KERNEL, target: TARGET_KERNEL })
  const mappings = o.mappings ?? 1024
  const devices = o.devices ?? 2
  const seed = o.seed ?? 1
  const inject = [...(o.inject ?? [])]
  const dmaFloor = o.dmaFloor ?? 64
  const machine = new EmulatedMachine({
    hardware: o.hardware,
    memoryBytes: memoryFor(mappings),
    devices,
    seed,
  })
  const kernel = Kernel.boot(machine, { version: BASE_KERNEL, iommu: 'reset' })
  const vmm = await GuestVmm.setup(kernel, { mappings, seed })
  machine.tick(128)
  const baseline = machine.faultCounters()
  const host = { machine, vmm }
  const opts = {
    updateId: `sim-${o.hardware}-${o.strategy}-${seed}`,
    strategy: o.strategy,
    targetKernel: TARGET_KERNEL,
    host: 'sim-host',
    ...(o.fallback ? { fallback: o.fallback } : {}),
    ...(o.bootTicks !== undefined ? { bootTicks: o.bootTicks } : {}),
    ...(o.slowKexecMs !== undefined ? { slowKexecMs: o.slowKexecMs } : {}),
    ...(o.handoverFormat !== undefined ? { handoverFormat: o.handoverFormat } : {}),
  }
  const crashes: string[] = []
  let pending = inject
  let result: LiveUpdateResult
  for (;;) {
    try {
      result = await new LiveUpdate(host, { ...opts, inject: pending }).run()
      break
    } catch (e) {
      if (!(e instanceof AgentCrash)) throw e
      crashes.push(e.step)
      // A new agent process: the same journal, without the crash that killed the last one.
      pending = pending.filter((f) => crashStep(f) !== e.step)
    }
  }
  machine.tick(64)
  const faults = faultsBetween(baseline, machine.faultCounters())
  return simulateResult(o, {
    mode: 'deterministic',
    targetKernel: TARGET_KERNEL,
    seed,
    mappings,
    devices,
    inject,
    dmaFloor,
    result,
    faults,
    crashes,
  })
}
