import {
  encodeSnapshot,
  type FaultInjection,
  type Snapshot,
  type Strategy,
  snapshotDigest,
} from '@hitless/protocol'
import { injectIntoBlob, injectIntoState } from '../faults/fault-injection.js'
import { planPreserve } from '../handover/handover-builder.js'
import { decodeHandover, encodeHandover } from '../handover/handover-codec.js'
import { type HandoverState, handoverVersionFor, type JobContext } from '../handover/handover-format.js'
import { GuestVmm } from '../machine/guest-vmm.js'
import type { Kernel } from '../machine/kernel.js'
import type { FreshSwitchFallback, RestoreReport } from '../strategies/restore-strategy.js'
import { RESTORE_STRATEGIES } from '../strategies/strategies.js'

/**
 * The kernel-side body of each live-update step, on whichever thread the kernel runs: the
 * deterministic state machine (state-machine/live-update.ts) calls these in-line, the concurrent
 * mode's kernel worker (concurrent/kernel-worker.ts) calls them on a syscall from the agent. One
 * implementation, so both modes check, preserve and restore exactly alike.
 */

export interface UpdatePlan {
  strategy: Strategy
  targetKernel: string
  /** The job's handover format (LiveUpdateOptions.handoverFormat). */
  handoverFormat?: number
}

/** The plan alone out of an update's options (in concurrent mode it crosses to the kernel thread). */
export function updatePlan(o: UpdatePlan): UpdatePlan {
  return {
    strategy: o.strategy,
    targetKernel: o.targetKernel,
    ...(o.handoverFormat !== undefined ? { handoverFormat: o.handoverFormat } : {}),
  }
}

/** What the strategy preserves and the blob would hold, as of now. */
function planFor(k: Kernel, vmm: GuestVmm, o: UpdatePlan, job: JobContext | null) {
  return planPreserve(k, vmm, {
    strategy: o.strategy,
    targetKernel: o.targetKernel,
    preservesTables: RESTORE_STRATEGIES[o.strategy].preservesTables,
    job,
  })
}

/** PREFLIGHT: backend healthy, target staged and new, the handover fits, capacity for the new kernel. */
export async function preflightChecks(
  k: Kernel,
  vmm: GuestVmm,
  o: UpdatePlan & { resumedAfterKexec: boolean },
): Promise<Record<string, unknown>> {
  const b = k.backend
  await b.objects()
  const baseline = await b.faultCounters()
  if (!/^\d+\.\d+(\.\d+)?[-.\w]*$/.test(o.targetKernel))
    throw new Error(`target kernel "${o.targetKernel}" is not a staged kernel version`)
  if (o.targetKernel === k.version && !o.resumedAfterKexec)
    throw new Error(`target kernel ${o.targetKernel} is already running`)
  // A format no version of ours fits fails here, while the old state is still live.
  const handoverVersion = handoverVersionFor(o.handoverFormat)
  const plan = await planFor(k, vmm, o, null)
  // Preserved-memory capacity: the new kernel must boot in what is left (KHO scratch), and the
  // blob must fit a page-aligned KHO subtree we can spare.
  const free = k.allocator.framesFree
  const spare = Math.floor(k.machine.memory.frameCount / 16)
  if (free < spare)
    throw new Error(`only ${free} free frames; the new kernel needs ${spare} outside preserved memory`)
  return {
    baseline,
    preserveFrames: plan.frames.length,
    tableFrames: plan.tableFrames,
    freeFrames: free,
    target: o.targetKernel,
    handoverVersion,
  }
}

/** SNAPSHOT_PRE / SNAPSHOT_POST: the protocol snapshot, encoded; the post one carries the blackout. */
export async function snapshotBytes(
  k: Kernel,
  phase: 'pre' | 'post',
  o: { host?: string; blackout?: { blackoutMs: number; dmaDuringBlackout: number } },
): Promise<Uint8Array> {
  const s: Snapshot = await k.backend.snapshot({ phase, ...(o.host ? { host: o.host } : {}) })
  if (o.blackout) {
    s.header.blackoutMs = o.blackout.blackoutMs
    s.header.dma = { ...s.header.dma, duringBlackout: o.blackout.dmaDuringBlackout }
  }
  return encodeSnapshot(s)
}

export const snapshotDetail = (bytes: Uint8Array) => ({ digest: snapshotDigest(bytes), bytes: bytes.length })

/** PRESERVE: marks (KHO) every frame the strategy keeps across the kexec. */
export async function preserveFrames(
  k: Kernel,
  vmm: GuestVmm,
  o: UpdatePlan,
): Promise<Record<string, unknown>> {
  const plan = await planFor(k, vmm, o, null)
  for (const pa of plan.frames) k.allocator.preserve(pa)
  return { frames: plan.frames.length, tableFrames: plan.tableFrames, hwpts: plan.state.hwpts.length }
}

/** Before KEXEC nothing is irreversible: the preserve marks are undone. */
export function unpreserveAll(k: Kernel): void {
  for (const pa of k.allocator.preservedFrames()) k.allocator.unpreserve(pa)
}

/**
 * KEXEC, the old kernel's last act: the blob with the job context (state injections applied as a
 * buggy old kernel would get them wrong, blob damage after encoding), and for a strategy that
 * does not preserve tables, translation shut off as a plain kexec's shutdown does.
 */
export async function finalHandover(
  old: Kernel,
  vmm: GuestVmm,
  o: UpdatePlan & { inject: ReadonlySet<FaultInjection> },
  job: JobContext,
): Promise<{ blob: Uint8Array; handoverVersion: number }> {
  const plan = await planFor(old, vmm, o, job)
  const handoverVersion = handoverVersionFor(o.handoverFormat)
  const blob = injectIntoBlob(
    encodeHandover(injectIntoState(plan.state, o.inject), handoverVersion),
    o.inject,
  )
  if (!RESTORE_STRATEGIES[o.strategy].preservesTables) old.shutdownIommu()
  return { blob, handoverVersion }
}

/**
 * RESTORE on the new kernel: decode and check the blob, reopen the VMM's memfds from the LUO
 * session, let the strategy rebuild the IOMMU state. Throws (the handover's or the strategy's
 * refusal) with the preserved tables left live.
 */
export async function restoreFromHandover(
  k: Kernel,
  blob: Uint8Array,
  o: { strategy: Strategy; inject: ReadonlySet<FaultInjection>; fallback?: FreshSwitchFallback },
): Promise<{ state: HandoverState; vmm: GuestVmm; report: RestoreReport }> {
  const state = decodeHandover(blob)
  const vmm = GuestVmm.reopen(k, state.memfds, state.userspace)
  const report = await RESTORE_STRATEGIES[o.strategy].restore({
    machine: k.machine,
    kernel: k,
    state,
    vmm,
    inject: o.inject,
    fallback: o.fallback ?? 'replay-verify',
  })
  k.restored = true
  return { state, vmm, report }
}

/**
 * alter-config: the new kernel rewrites the first device's live entry with another tag over the
 * same tables (a driver that re-derives ASIDs/DIDs instead of adopting them). After the blackout.
 */
export function alterConfig(k: Kernel): void {
  const ctx = k.backend.context
  const dev = ctx.boundDevices().find((d) => d.hwpt)
  if (!dev) return
  const d = k.driver
  const old = dev.hwpt!.domain
  const other =
    'asids' in d
      ? d.domainAdopt((old as unknown as { stage: 1 | 2 }).stage, old.tag + 100, old.root)
      : d.domainAdopt(old.tag + 100, old.root)
  d.attach(dev.dev, other, old)
}
