import {
  decodeSnapshot,
  type FaultInjection,
  type Snapshot,
  type Strategy,
  snapshotDigest,
  UPDATE_STEPS,
  type UpdateStep,
} from '@hitless/protocol'
import {
  checkKernelArtifact,
  type KernelArtifact,
  type KernelFiles,
  kexecTargetOf,
} from '../kexec/kernel-artifact.js'
import {
  EmulatedKexecExecutor,
  HANDOVER_NAME,
  type KexecExecutor,
  type KexecTarget,
} from '../kexec/kexec-executor.js'
import type { JobContext } from '../handover/handover-format.js'
import type { EmulatedMachine } from '../machine/emulated-machine.js'
import type { GuestVmm } from '../machine/guest-vmm.js'
import { Kernel } from '../machine/kernel.js'
import type { FreshSwitchFallback, RestoreReport } from '../strategies/restore-strategy.js'
import { RESTORE_STRATEGIES } from '../strategies/strategies.js'
import { DiskJournalStore, type JournalStore, type UpdateJournal, type UpdateOutcome } from './journal.js'
import {
  alterConfig,
  finalHandover,
  preflightChecks,
  preserveFrames,
  restoreFromHandover,
  snapshotBytes,
  snapshotDetail,
  unpreserveAll,
  updatePlan,
} from './kernel-steps.js'

/** The agent died (an injected crash): nothing after this point of the step was journaled. */
export class AgentCrash extends Error {
  constructor(readonly step: UpdateStep) {
    super(`agent crashed during ${step}`)
    this.name = 'AgentCrash'
  }
}

export interface LiveUpdateOptions {
  updateId: string
  strategy: Strategy
  targetKernel: string
  inject?: readonly FaultInjection[]
  /** fresh-switch where the hardware cannot switch hitlessly. Default replay-verify. */
  fallback?: FreshSwitchFallback
  /**
   * The handover format both kernels read (the job's `handoverFormat`: the older of the two
   * kernels' declared formats). KEXEC writes the newest version not newer than it. Default: the
   * newest (3).
   */
  handoverFormat?: number
  /** DMA boundaries the new kernel's boot lasts. Default 256. */
  bootTicks?: number
  /** slow-kexec: extra wall-clock ms of the boot. Default 1500. */
  slowKexecMs?: number
  /** The job this update runs for, carried across the kexec. */
  job?: Omit<JobContext, 'done' | 'stoppedAt' | 'accessesAtStop'>
  /** Host name in snapshots. */
  host?: string
  /** Where the journal lives. Default the machine's disk. */
  journal?: JournalStore
  /**
   * The target kernel's artifact (the job's `kernel`): PREFLIGHT checks its image's SHA-256 on the
   * host through `kernelFiles`, KEXEC stages exactly its image, initrd and command line. Without
   * it (`hitless simulate`, no job) KEXEC stages a simulated `vmlinuz-<targetKernel>`.
   */
  kernelImage?: KernelArtifact
  /** The host's boot files (required with `kernelImage`). */
  kernelFiles?: KernelFiles
  /** The executor KEXEC goes through. Default the emulated machine's (`EmulatedKexecExecutor`). */
  kexecExecutor?: (
    machine: EmulatedMachine,
    preservedFrames: () => Iterable<number>,
    bootTicks: number,
  ) => KexecExecutor
}

export interface LiveUpdateResult {
  outcome: UpdateOutcome
  reason?: string
  /** The step that failed, if one did. */
  failedStep?: UpdateStep
  steps: { step: UpdateStep; status: string; durationMs: number; detail?: Record<string, unknown> }[]
  blackoutMs?: number
  dmaDuringBlackout?: number
  pre?: Snapshot
  post?: Snapshot
  preDigest?: string
  postDigest?: string
  handoverBytes?: number
  restore?: RestoreReport
}

/** Steps after which a failure can no longer leave the old state live (both modes). */
export const IRREVERSIBLE: ReadonlySet<UpdateStep> = new Set(['KEXEC', 'RESTORE', 'SNAPSHOT_POST', 'FINISH'])

/** Host-side state that outlives the agent process (not the kexec): the VMM, the kernel's pending blob. */
export interface HostSession {
  machine: EmulatedMachine
  vmm: GuestVmm
}

/**
 * The host agent's live update as a persisted state machine: PREFLIGHT → SNAPSHOT_PRE → PRESERVE →
 * KEXEC → RESTORE → SNAPSHOT_POST → FINISH. Every step is journaled `running` before and `done`
 * after; a new agent (after a crash anywhere) calls `run()` again and resumes: a done step is
 * skipped, a step found `running` is redone unless its effect is known to have happened (a new
 * boot ID after KEXEC, a kernel already restored after RESTORE). A failure up to PRESERVE leaves
 * the old state live (`failed`); from KEXEC on, the host is `failed-held`.
 */
export class LiveUpdate {
  private readonly inject: Set<FaultInjection>
  private readonly journalStore: JournalStore
  private journal: UpdateJournal

  constructor(
    readonly host: HostSession,
    readonly o: LiveUpdateOptions,
  ) {
    this.inject = new Set(o.inject ?? [])
    this.journalStore = o.journal ?? new DiskJournalStore(host.machine.disk)
    this.journal = this.journalStore.load(o.updateId) ?? {
      updateId: o.updateId,
      strategy: o.strategy,
      targetKernel: o.targetKernel,
      steps: {},
    }
  }

  private get machine(): EmulatedMachine {
    return this.host.machine
  }

  private get kernel(): Kernel {
    const k = this.machine.kernel
    if (!k) throw new Error('no kernel is running')
    return k
  }

  private save(): void {
    this.journalStore.save(this.journal)
  }

  private disk<T>(key: string): T | undefined {
    return this.machine.disk.get(`${this.o.updateId}/${key}`) as T | undefined
  }

  private setDisk(key: string, v: unknown): void {
    this.machine.disk.set(`${this.o.updateId}/${key}`, v)
  }

  /** Runs (or resumes) every step; an AgentCrash propagates (the process is gone). */
  async run(): Promise<LiveUpdateResult> {
    if (!this.journal.outcome) {
      for (const step of UPDATE_STEPS) {
        const r = await this.runStep(step)
        if (r === 'failed') break
      }
      if (!this.journal.outcome) {
        this.journal.outcome = 'completed'
        this.save()
      }
    }
    return this.result()
  }

  /** One step: skipped if journaled done; throws AgentCrash on an injected crash. */
  async runStep(step: UpdateStep): Promise<'done' | 'skipped' | 'failed'> {
    const rec = this.journal.steps[step]
    if (rec?.status === 'done') return 'skipped'
    if (rec?.status === 'failed' || this.journal.outcome) return 'failed'
    if (rec?.status === 'running' && this.effectHappened(step)) {
      rec.status = 'done'
      rec.detail = { ...rec.detail, resumed: true }
      this.save()
      return 'done'
    }
    const startedAt = Date.now()
    this.journal.steps[step] = { status: 'running', startedAt }
    this.save()
    const t0 = performance.now()
    let detail: Record<string, unknown>
    try {
      detail = await this.execute(step)
    } catch (e) {
      if (e instanceof AgentCrash) throw e
      const reason = `${step}: ${(e as Error).message}`
      this.journal.steps[step] = {
        status: 'failed',
        startedAt,
        durationMs: performance.now() - t0,
        error: reason,
      }
      if (!IRREVERSIBLE.has(step)) this.rollBack()
      this.journal.outcome = IRREVERSIBLE.has(step) ? 'failed-held' : 'failed'
      this.journal.reason = reason
      this.save()
      return 'failed'
    }
    if (this.inject.has(`crash:${step}`)) throw new AgentCrash(step)
    this.journal.steps[step] = { status: 'done', startedAt, durationMs: performance.now() - t0, detail }
    this.save()
    return 'done'
  }

  /** A step found `running` whose effect is visible in the machine: the agent died after it. */
  private effectHappened(step: UpdateStep): boolean {
    if (step === 'KEXEC')
      return this.journal.preBootId !== undefined && this.kernel.bootId !== this.journal.preBootId
    if (step === 'RESTORE') return this.kernel.restored
    return false
  }

  /** Before KEXEC nothing is irreversible: unmark the preserved frames, drop the blob. */
  private rollBack(): void {
    const k = this.machine.kernel
    if (!k) return
    unpreserveAll(k)
    this.setDisk('blob', undefined)
  }

  private async execute(step: UpdateStep): Promise<Record<string, unknown>> {
    switch (step) {
      case 'PREFLIGHT':
        return this.preflight()
      case 'SNAPSHOT_PRE': {
        const bytes = await snapshotBytes(this.kernel, 'pre', { host: this.o.host })
        this.setDisk('pre', bytes)
        return snapshotDetail(bytes)
      }
      case 'PRESERVE':
        return this.preserve()
      case 'KEXEC':
        return this.kexec()
      case 'RESTORE':
        return this.restore()
      case 'SNAPSHOT_POST': {
        const blackout = this.disk<{ blackoutMs: number; dmaDuringBlackout: number }>('blackout')
        const bytes = await snapshotBytes(this.kernel, 'post', { host: this.o.host, blackout })
        this.setDisk('post', bytes)
        return snapshotDetail(bytes)
      }
      case 'FINISH': {
        // LUO_SESSION_FINISH: the new kernel owns everything; the handover is released.
        this.machine.handover = undefined
        this.machine.khoMap.fill(0)
        this.machine.tick(16)
        return { kernel: this.kernel.version, bootId: this.kernel.bootId }
      }
    }
  }

  private async preflight(): Promise<Record<string, unknown>> {
    // The target kernel's image is on the host and is the artifact's (a failure: old state live).
    let artifact: Record<string, unknown> = {}
    if (this.o.kernelImage) {
      if (!this.o.kernelFiles) throw new Error("no way to read the host's boot files (kernelFiles)")
      artifact = (await checkKernelArtifact(this.o.kernelFiles, this.o.kernelImage)).detail
    }
    const checks = await preflightChecks(this.kernel, this.host.vmm, {
      ...this.plan,
      resumedAfterKexec: this.journal.preBootId !== undefined,
    })
    return { ...checks, ...artifact }
  }

  /** What KEXEC stages: the artifact checked in PREFLIGHT, or (simulation, no artifact) a stand-in. */
  private get kexecTarget(): KexecTarget {
    return this.o.kernelImage
      ? kexecTargetOf(this.o.kernelImage)
      : { image: `vmlinuz-${this.o.targetKernel}`, cmdline: '' }
  }

  private async preserve(): Promise<Record<string, unknown>> {
    return preserveFrames(this.kernel, this.host.vmm, this.plan)
  }

  private get plan() {
    return updatePlan(this.o)
  }

  private async kexec(): Promise<Record<string, unknown>> {
    const old = this.kernel
    this.journal.preBootId = old.bootId
    this.save()
    const strategy = RESTORE_STRATEGIES[this.o.strategy]
    // The old kernel stops here: blackout starts.
    const stoppedAt = Date.now()
    const t0 = performance.now()
    const accessesAtStop = this.machine.dmaAccesses
    const done: Record<string, Record<string, unknown>> = {}
    for (const [s, r] of Object.entries(this.journal.steps))
      if (r?.status === 'done') done[s] = r.detail ?? {}
    const job: JobContext = {
      updateId: this.o.updateId,
      attempt: 1,
      epoch: 0,
      ...this.o.job,
      done,
      stoppedAt,
      accessesAtStop,
    }
    const { blob, handoverVersion } = await finalHandover(
      old,
      this.host.vmm,
      { ...this.plan, inject: this.inject },
      job,
    )
    this.setDisk('t0', t0)
    // The emulated host behind the KexecExecutor interface (src/kexec/): stage, keep the blob, reboot.
    const executor = (this.o.kexecExecutor ?? ((m, f, t) => new EmulatedKexecExecutor(m, f, t)))(
      this.machine,
      () => old.allocator.preservedFrames(),
      this.o.bootTicks ?? 256,
    )
    await executor.stage(this.kexecTarget)
    await executor.preserve(HANDOVER_NAME, blob)
    await executor.reboot()
    if (this.inject.has('slow-kexec')) {
      const until = performance.now() + (this.o.slowKexecMs ?? 1500)
      while (performance.now() < until) {
        this.machine.tick(8)
        await new Promise((r) => setTimeout(r, 5))
      }
    }
    const k = Kernel.boot(this.machine, {
      version: this.o.targetKernel,
      iommu: strategy.preservesTables ? 'adopt' : 'reset',
    })
    return { kernel: k.version, bootId: k.bootId, handoverBytes: blob.length, handoverVersion }
  }

  private async restore(): Promise<Record<string, unknown>> {
    const k = this.kernel
    const blob = this.machine.handover
    if (!blob) throw new Error('no handover blob: nothing to restore from')
    const { state, vmm, report } = await restoreFromHandover(k, blob, {
      strategy: this.o.strategy,
      inject: this.inject,
      ...(this.o.fallback ? { fallback: this.o.fallback } : {}),
    })
    this.host.vmm = vmm
    // Blackout ends: the new kernel's IOMMU state is restored.
    const t0 = this.disk<number>('t0')
    const blackoutMs =
      t0 !== undefined ? performance.now() - t0 : Date.now() - (state.job?.stoppedAt ?? Date.now())
    const dmaDuringBlackout =
      this.machine.dmaAccesses - (state.job?.accessesAtStop ?? this.machine.dmaAccesses)
    this.setDisk('blackout', { blackoutMs, dmaDuringBlackout })
    this.setDisk('restore', report)
    if (this.inject.has('alter-config')) alterConfig(k)
    this.machine.tick(64)
    return {
      ...report,
      blackoutMs,
      dmaDuringBlackout,
      job: state.job ? { updateId: state.job.updateId, done: Object.keys(state.job.done) } : null,
    }
  }

  result(): LiveUpdateResult {
    const steps = UPDATE_STEPS.filter((s) => this.journal.steps[s]).map((s) => {
      const r = this.journal.steps[s]!
      return {
        step: s,
        status: r.status,
        durationMs: r.durationMs ?? 0,
        ...(r.detail ? { detail: r.detail } : {}),
      }
    })
    const pre = this.disk<Uint8Array>('pre')
    const post = this.disk<Uint8Array>('post')
    const m = this.disk<{ blackoutMs: number; dmaDuringBlackout: number }>('blackout')
    const failed = UPDATE_STEPS.find((s) => this.journal.steps[s]?.status === 'failed')
    return {
      outcome: this.journal.outcome ?? 'failed-held',
      ...(this.journal.reason ? { reason: this.journal.reason } : {}),
      ...(failed ? { failedStep: failed } : {}),
      steps,
      ...(m ? m : {}),
      ...(pre ? { pre: decodeSnapshot(pre), preDigest: snapshotDigest(pre) } : {}),
      ...(post ? { post: decodeSnapshot(post), postDigest: snapshotDigest(post) } : {}),
      ...(this.journal.steps.KEXEC?.detail?.handoverBytes
        ? { handoverBytes: this.journal.steps.KEXEC.detail.handoverBytes as number }
        : {}),
      ...(this.disk<RestoreReport>('restore') ? { restore: this.disk<RestoreReport>('restore') } : {}),
    }
  }
}
