import type { VtdShared } from '@hitless/emulator/vtd/index'
import type { FaultInjection, Hardware, Strategy } from '@hitless/protocol'
import type { JobContext } from '../handover/handover-format.js'
import type { UpdatePlan } from '../state-machine/kernel-steps.js'
import type { FreshSwitchFallback, RestoreReport } from '../strategies/restore-strategy.js'

/**
 * What crosses between the agent (main thread) and a kernel worker in concurrent mode: the
 * worker's start data, the agent's requests ("syscalls": each one the kernel-side body of a
 * live-update step, state-machine/kernel-steps.ts) and the kernel's answers. Everything here is
 * plain data (structured clone): no object of one thread is ever seen by another.
 */

/** What firmware tells a booting kernel, and how to take over the IOMMU. Plain values only. */
export interface KernelBootOptions {
  /** uname -r of the kernel that boots. */
  version: string
  /** `adopt` after a live-update kexec (no reset); `reset` on a cold boot or a plain kexec. */
  iommu: 'adopt' | 'reset'
  hardware: Hardware
  /** PCI devices behind the IOMMU (firmware enumerates the same ones at every boot). */
  devices: number
  /** DMA rate the VMM sets its devices up with (per DMA loop turn). */
  dmaRate: number
}

/**
 * The IOMMU's registers as they are shared with the unit on the DMA worker: the SMMUv3 register
 * file; or the VT-d register file with the entry seqlock (the model's stand-in for 128-bit
 * single-copy atomicity of entry reads, emulator/vtd/seqlock.ts) and the host address width.
 */
export type IommuRegisters = SharedArrayBuffer | VtdShared

/**
 * A kernel worker's whole start: the workerData of every kernel thread, old or new. The new
 * kernel after a kexec starts from these five and nothing else: emulated physical memory and the
 * IOMMU's registers (both shared, the hardware), the KHO preserved-frame map, the handover blob
 * (null on a cold boot) and its boot options.
 */
export interface KernelWorkerData {
  memory: SharedArrayBuffer
  registers: IommuRegisters
  khoMap: Uint8Array
  handover: Uint8Array | null
  options: KernelBootOptions
}

export const KERNEL_WORKER_DATA_KEYS = ['memory', 'registers', 'khoMap', 'handover', 'options'] as const

/**
 * The DMA engine's counters as the agent read them when it made the call: the kernel's backend
 * puts them in its fault counters and snapshots (the DMA worker's control block is not the
 * kernel's to read — it is the test bench's instrument, not hardware a kernel has).
 */
export interface DmaReading {
  accesses: number
  groundTruth: number
}

/** One device's DMA as the VMM set it up: the working set is the ground truth. */
export interface DmaDeviceSpec {
  name: string
  requesterId: number
  rate: number
  iova: Float64Array
  pa: Float64Array
  perm: Uint8Array
}

export type Syscall =
  | { op: 'setup-guest'; mappings: number; seed: number }
  | { op: 'preflight'; plan: UpdatePlan }
  | {
      op: 'snapshot'
      phase: 'pre' | 'post'
      host?: string
      blackout?: { blackoutMs: number; dmaDuringBlackout: number }
    }
  | { op: 'preserve'; plan: UpdatePlan }
  | { op: 'unpreserve' }
  | { op: 'kexec'; plan: UpdatePlan; inject: FaultInjection[]; job: JobContext }
  | { op: 'restore'; strategy: Strategy; inject: FaultInjection[]; fallback?: FreshSwitchFallback }
  | { op: 'alter-config' }
  | { op: 'finish' }

export interface SyscallResults {
  'setup-guest': { devices: DmaDeviceSpec[] }
  preflight: Record<string, unknown>
  snapshot: { bytes: Uint8Array }
  preserve: Record<string, unknown>
  unpreserve: Record<string, never>
  /** The old kernel's last answer: the blob and the frames it marked preserved (KHO). */
  kexec: { blob: Uint8Array; preservedFrames: Float64Array; handoverVersion: number }
  restore: { report: RestoreReport; job: { updateId: string; done: string[] } | null }
  'alter-config': Record<string, never>
  finish: { kernel: string; bootId: string }
}

export type SyscallOp = Syscall['op']

/** agent → kernel */
export interface SyscallRequest {
  id: number
  call: Syscall
  dma: DmaReading
}

/** An error as it crosses threads: enough to rebuild a HitlessError with its code and details. */
export interface SerializedError {
  name: string
  message: string
  code?: string
  details?: Record<string, unknown>
}

/** kernel → agent */
export type KernelMessage =
  | { type: 'booted'; version: string; bootId: string }
  | { type: 'boot-failed'; error: SerializedError }
  | { type: 'reply'; id: number; ok: true; value: unknown }
  | { type: 'reply'; id: number; ok: false; error: SerializedError }
