import {
  decodeSnapshot,
  encodeSnapshot,
  type FaultInjection,
  type Snapshot,
  type Strategy,
  snapshotDigest,
  UPDATE_STEPS,
  type UpdateStep,
} from '@hitless/protocol'
import { injectIntoBlob, injectIntoState } from '../faults/fault-injection.js'
import { EmulatedKexecExecutor, HANDOVER_NAME } from '../kexec/kexec-executor.js'
import { planPreserve } from '../handover/handover-builder.js'
import { decodeHandover, encodeHandover } from '../handover/handover-codec.js'
import { handoverVersionFor, type JobContext } from '../handover/handover-format.js'
import type { EmulatedMachine } from '../machine/emulated-machine.js'
import { GuestVmm } from '../machine/guest-vmm.js'
import { Kernel } from '../machine/kernel.js'
import type { FreshSwitchFallback, RestoreReport } from '../strategies/restore-strategy.js'
import { RESTORE_STRATEGIES } from '../strategies/strategies.js'
import { DiskJournalStore, type JournalStore, type UpdateJournal, type UpdateOutcome } from './journal.js'

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

/** Steps after which a failure can no longer leave the old state live. */
const IRREVERSIBLE: ReadonlySet<UpdateStep> = new Set(['KEXEC', 'RESTORE', 'SNAPSHOT_POST', 'FINISH'])

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
    for (const pa of k.allocator.preservedFrames()) k.allocator.unpreserve(pa)
    this.setDisk('blob', undefined)
  }

  private async execute(step: UpdateStep): Promise<Record<string, unknown>> {
    switch (step) {
      case 'PREFLIGHT':
        return this.preflight()
      case 'SNAPSHOT_PRE': {
        const s = await this.kernel.backend.snapshot({
          phase: 'pre',
          ...(this.o.host ? { host: this.o.host } : {}),
        })
        const bytes = encodeSnapshot(s)
        this.setDisk('pre', bytes)
        return { digest: snapshotDigest(bytes), bytes: bytes.length }
      }
      case 'PRESERVE':
        return this.preserve()
      case 'KEXEC':
        return this.kexec()
      case 'RESTORE':
        return this.restore()
      case 'SNAPSHOT_POST': {
        const s = await this.kernel.backend.snapshot({
          phase: 'post',
          ...(this.o.host ? { host: this.o.host } : {}),
        })
        const m = this.disk<{ blackoutMs: number; dmaDuringBlackout: number }>('blackout')
        if (m) {
          s.header.blackoutMs = m.blackoutMs
          s.header.dma = { ...s.header.dma, duringBlackout: m.dmaDuringBlackout }
        }
        const bytes = encodeSnapshot(s)
        this.setDisk('post', bytes)
        return { digest: snapshotDigest(bytes), bytes: bytes.length }
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
    const k = this.kernel
    const b = k.backend
    await b.objects()
    const baseline = await b.faultCounters()
    if (!/^\d+\.\d+(\.\d+)?[-.\w]*$/.test(this.o.targetKernel))
      throw new Error(`target kernel "${this.o.targetKernel}" is not a staged kernel version`)
    if (this.o.targetKernel === k.version && !this.journal.preBootId)
      throw new Error(`target kernel ${this.o.targetKernel} is already running`)
    // A format no version of ours fits fails here, while the old state is still live.
    const handoverVersion = handoverVersionFor(this.o.handoverFormat)
    const strategy = RESTORE_STRATEGIES[this.o.strategy]
    const plan = await planPreserve(k, this.host.vmm, {
      strategy: this.o.strategy,
      targetKernel: this.o.targetKernel,
      preservesTables: strategy.preservesTables,
      job: null,
    })
    // Preserved-memory capacity: the new kernel must boot in what is left (KHO scratch), and the
    // blob must fit a page-aligned KHO subtree we can spare.
    const free = k.allocator.framesFree
    const spare = Math.floor(this.machine.memory.frameCount / 16)
    if (free < spare)
      throw new Error(`only ${free} free frames; the new kernel needs ${spare} outside preserved memory`)
    return {
      baseline,
      preserveFrames: plan.frames.length,
      tableFrames: plan.tableFrames,
      freeFrames: free,
      target: this.o.targetKernel,
      handoverVersion,
    }
  }

  private async preserve(): Promise<Record<string, unknown>> {
    const k = this.kernel
    const strategy = RESTORE_STRATEGIES[this.o.strategy]
    const plan = await planPreserve(k, this.host.vmm, {
      strategy: this.o.strategy,
      targetKernel: this.o.targetKernel,
      preservesTables: strategy.preservesTables,
      job: null,
    })
    for (const pa of plan.frames) k.allocator.preserve(pa)
    return { frames: plan.frames.length, tableFrames: plan.tableFrames, hwpts: plan.state.hwpts.length }
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
    const plan = await planPreserve(old, this.host.vmm, {
      strategy: this.o.strategy,
      targetKernel: this.o.targetKernel,
      preservesTables: strategy.preservesTables,
      job,
    })
    const handoverVersion = handoverVersionFor(this.o.handoverFormat)
    const blob = injectIntoBlob(
      encodeHandover(injectIntoState(plan.state, this.inject), handoverVersion),
      this.inject,
    )
    if (!strategy.preservesTables) old.shutdownIommu()
    this.setDisk('t0', t0)
    // The emulated host behind the KexecExecutor interface (src/kexec/): stage, keep the blob, reboot.
    const executor = new EmulatedKexecExecutor(
      this.machine,
      () => old.allocator.preservedFrames(),
      this.o.bootTicks ?? 256,
    )
    await executor.stage({ image: `vmlinuz-${this.o.targetKernel}`, cmdline: '' })
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
    const state = decodeHandover(blob)
    this.host.vmm = GuestVmm.reopen(k, state.memfds, state.userspace)
    const strategy = RESTORE_STRATEGIES[this.o.strategy]
    const report = await strategy.restore({
      machine: this.machine,
      kernel: k,
      state,
      vmm: this.host.vmm,
      inject: this.inject,
      fallback: this.o.fallback ?? 'replay-verify',
    })
    k.restored = true
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

/**
 * alter-config: the new kernel rewrites the first device's live entry with another tag over the
 * same tables (a driver that re-derives ASIDs/DIDs instead of adopting them).
 */
function alterConfig(k: Kernel): void {
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
