import {
  decodeSnapshot,
  type FaultInjection,
  snapshotDigest,
  UPDATE_STEPS,
  type UpdateStep,
} from '@hitless/protocol'
import type { JobContext } from '../handover/handover-format.js'
import { snapshotDetail, type UpdatePlan, updatePlan } from '../state-machine/kernel-steps.js'
import { IRREVERSIBLE, type LiveUpdateOptions, type LiveUpdateResult } from '../state-machine/live-update.js'
import type { RestoreReport } from '../strategies/restore-strategy.js'
import { RESTORE_STRATEGIES } from '../strategies/strategies.js'
import type { ConcurrentMachine } from './concurrent-machine.js'
import type { KernelWorkerData, Syscall, SyscallResults } from './kernel-syscalls.js'
import { KernelThread } from './kernel-thread.js'

/**
 * Deterministic mode's options less its journal, bootTicks and job; slow-kexec's delay falls
 * between the old kernel thread's exit and the new one's start.
 */
export type ConcurrentUpdateOptions = Pick<
  LiveUpdateOptions,
  'updateId' | 'strategy' | 'targetKernel' | 'inject' | 'fallback' | 'handoverFormat' | 'slowKexecMs' | 'host'
>

/** One kernel thread in the run, as the agent saw it (performance.now() ms). */
export interface KernelThreadRecord {
  boot: number
  version: string
  bootId: string
  spawnedAt: number
  bootedAt: number
  exitedAt?: number
  exitCode?: number
  /**
   * What its workerData held: the keys, each value's type, the boot options' keys, and the
   * registers' parts (VT-d: the register file, the entry seqlock, the host address width).
   */
  workerData: {
    keys: string[]
    types: Record<string, string>
    optionKeys: string[]
    registerParts: Record<string, string>
  }
}

/**
 * Where the blackout went (ms, wall time on the agent's thread), in order: the old kernel's last
 * act (blob, preserved frames), its thread's exit, the KHO map and poisoning, the slow-kexec
 * delay (if injected), the new kernel thread's start up to its boot (thread, code, Kernel.boot),
 * and the restore (from that boot to the new kernel's answer, the agent's step hand-off included):
 * they add up to the blackout.
 */
export interface BlackoutPhases {
  handoverMs: number
  exitMs: number
  poisonMs: number
  delayMs: number
  kernelStartMs: number
  restoreMs: number
}

export interface ConcurrentUpdateResult extends LiveUpdateResult {
  /** Every kernel thread of the update, in boot order. */
  kernels: KernelThreadRecord[]
  blackoutPhases?: BlackoutPhases
}

const typeOf = (v: unknown) => (v === null ? 'null' : typeof v === 'object' ? v.constructor.name : typeof v)

/**
 * The live update in concurrent mode, driven from the agent's thread: the same seven steps as the
 * deterministic state machine, each one a syscall to the kernel worker running the same step body
 * (state-machine/kernel-steps.ts), with DMA running on the DMA worker throughout. At KEXEC the old
 * kernel hands over (blob, preserved frames) and its thread is terminated; memory outside the
 * preserved frames is poisoned; a new thread boots from memory, registers, KHO map, blob and
 * options only. Blackout: from the old kernel's stop (KEXEC's call) to the new kernel's answer
 * that RESTORE is done, wall time on this thread; DMA during it from the DMA worker's shared
 * access counter read at both ends.
 *
 * Not here (deterministic mode has them): the persisted journal and resume after an agent crash.
 */
export class ConcurrentLiveUpdate {
  private readonly inject: Set<FaultInjection>
  private readonly steps: LiveUpdateResult['steps'] = []
  private readonly kernels: KernelThreadRecord[] = []
  private outcome: LiveUpdateResult['outcome'] | undefined
  private reason: string | undefined
  private failedStep: UpdateStep | undefined
  private stop: { t0: number; accesses: number } | undefined
  /** When the new kernel thread answered its boot (performance.now()). */
  private booted: number | undefined
  private blackout: { blackoutMs: number; dmaDuringBlackout: number } | undefined
  private phases: Partial<BlackoutPhases> = {}
  private pre: Uint8Array | undefined
  private post: Uint8Array | undefined
  private handoverBytes: number | undefined
  private report: RestoreReport | undefined

  /** The kernel running now: the first one until KEXEC, then the one the kexec booted. */
  private kernel!: KernelThread

  private constructor(
    private readonly machine: ConcurrentMachine,
    private readonly image: URL,
    private readonly o: ConcurrentUpdateOptions,
  ) {
    this.inject = new Set(o.inject ?? [])
  }

  /** Boots the first kernel (cold: the IOMMU is reset) and returns the update ready to run on it. */
  static async bootFirst(
    machine: ConcurrentMachine,
    image: URL,
    version: string,
    o: ConcurrentUpdateOptions,
  ): Promise<ConcurrentLiveUpdate> {
    const u = new ConcurrentLiveUpdate(machine, image, o)
    u.kernel = await u.boot(machine.bootData({ version, iommu: 'reset' }, null))
    return u
  }

  /** The kernel running now (the agent's syscalls go to it). */
  get running(): KernelThread {
    return this.kernel
  }

  private async boot(data: KernelWorkerData): Promise<KernelThread> {
    const t = await KernelThread.boot(this.image, data)
    this.kernels.push({
      boot: this.kernels.length + 1,
      version: t.version,
      bootId: t.bootId,
      spawnedAt: t.events.spawnedAt,
      bootedAt: t.events.bootedAt!,
      workerData: {
        keys: Object.keys(data),
        types: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, typeOf(v)])),
        optionKeys: Object.keys(data.options),
        registerParts:
          data.registers instanceof SharedArrayBuffer
            ? {}
            : Object.fromEntries(Object.entries(data.registers).map(([k, v]) => [k, typeOf(v)])),
      },
    })
    void t.exited.then(() => {
      const r = this.kernels.find((k) => k.bootId === t.bootId)!
      r.exitedAt = t.events.exitedAt
      r.exitCode = t.events.exitCode
    })
    return t
  }

  /** A syscall to the running kernel, with the DMA counters as read now. */
  private call<C extends Syscall>(call: C): Promise<SyscallResults[C['op']]> {
    return this.kernel.call(call, this.machine.dmaReading())
  }

  private get plan(): UpdatePlan {
    return updatePlan(this.o)
  }

  async run(): Promise<ConcurrentUpdateResult> {
    for (const step of UPDATE_STEPS) {
      const t0 = performance.now()
      try {
        const detail = await this.execute(step)
        this.steps.push({ step, status: 'done', durationMs: performance.now() - t0, detail })
      } catch (e) {
        let reason = `${step}: ${(e as Error).message}`
        this.steps.push({ step, status: 'failed', durationMs: performance.now() - t0 })
        // Before KEXEC nothing is irreversible: the preserve marks are undone. If that fails too,
        // the reason says so (marks may be left behind), as deterministic mode's rollback throws.
        if (!IRREVERSIBLE.has(step))
          await this.call({ op: 'unpreserve' }).catch((u: unknown) => {
            reason += `; undoing the preserve marks failed: ${(u as Error).message}`
          })
        this.outcome = IRREVERSIBLE.has(step) ? 'failed-held' : 'failed'
        this.reason = reason
        this.failedStep = step
        break
      }
    }
    this.outcome ??= 'completed'
    return this.result()
  }

  private async execute(step: UpdateStep): Promise<Record<string, unknown>> {
    switch (step) {
      case 'PREFLIGHT':
        return this.call({ op: 'preflight', plan: this.plan })
      case 'SNAPSHOT_PRE': {
        this.pre = (await this.call({ op: 'snapshot', phase: 'pre', ...this.hostOpt })).bytes
        return snapshotDetail(this.pre)
      }
      case 'PRESERVE':
        return this.call({ op: 'preserve', plan: this.plan })
      case 'KEXEC':
        return this.kexec()
      case 'RESTORE':
        return this.restore()
      case 'SNAPSHOT_POST': {
        this.post = (
          await this.call({
            op: 'snapshot',
            phase: 'post',
            ...this.hostOpt,
            ...(this.blackout ? { blackout: this.blackout } : {}),
          })
        ).bytes
        return snapshotDetail(this.post)
      }
      case 'FINISH': {
        const r = await this.call({ op: 'finish' })
        // LUO_SESSION_FINISH: the handover is released; nothing is marked preserved any more.
        this.machine.finishHandover()
        return r
      }
    }
  }

  private get hostOpt() {
    return this.o.host ? { host: this.o.host } : {}
  }

  private async kexec(): Promise<Record<string, unknown>> {
    const old = this.kernel
    const strategy = RESTORE_STRATEGIES[this.o.strategy]
    // The old kernel stops here: blackout starts.
    this.stop = { t0: performance.now(), accesses: this.machine.dmaAccesses }
    const done: Record<string, Record<string, unknown>> = {}
    for (const s of this.steps) if (s.status === 'done') done[s.step] = s.detail ?? {}
    const job: JobContext = {
      updateId: this.o.updateId,
      attempt: 1,
      epoch: 0,
      done,
      stoppedAt: Date.now(),
      accessesAtStop: this.stop.accesses,
    }
    const { blob, preservedFrames, handoverVersion } = await this.call({
      op: 'kexec',
      plan: this.plan,
      inject: [...this.inject],
      job,
    })
    const t1 = performance.now()
    this.handoverBytes = blob.length
    // Nothing of the old kernel survives but memory, the KHO map and the blob.
    const oldExit = await old.terminate()
    const t2 = performance.now()
    this.machine.kexec(preservedFrames)
    const t3 = performance.now()
    if (this.inject.has('slow-kexec')) {
      // Until the clock says so: a timer may fire up to a millisecond early by performance.now().
      const until = t3 + (this.o.slowKexecMs ?? 1500)
      while (performance.now() < until) await new Promise((r) => setTimeout(r, until - performance.now()))
    }
    const t4 = performance.now()
    const data = this.machine.bootData(
      { version: this.o.targetKernel, iommu: strategy.preservesTables ? 'adopt' : 'reset' },
      blob,
    )
    this.kernel = await this.boot(data)
    this.booted = performance.now()
    this.phases = {
      handoverMs: t1 - this.stop.t0,
      exitMs: t2 - t1,
      poisonMs: t3 - t2,
      delayMs: t4 - t3,
      kernelStartMs: this.booted - t4,
    }
    return {
      kernel: this.kernel.version,
      bootId: this.kernel.bootId,
      handoverBytes: blob.length,
      handoverVersion,
      oldKernelExitCode: oldExit,
      preservedFrames: preservedFrames.length,
      workerData: Object.keys(data),
    }
  }

  private async restore(): Promise<Record<string, unknown>> {
    const r = await this.call({
      op: 'restore',
      strategy: this.o.strategy,
      inject: [...this.inject],
      ...(this.o.fallback ? { fallback: this.o.fallback } : {}),
    })
    // Blackout ends: the new kernel said its IOMMU state is restored.
    const stop = this.stop!
    const end = performance.now()
    this.blackout = {
      blackoutMs: end - stop.t0,
      dmaDuringBlackout: this.machine.dmaAccesses - stop.accesses,
    }
    // From the new kernel's boot, not from this call: the agent's step hand-off in between (an
    // await or two, longer on a loaded machine) is blackout too, and the phases add up to it.
    this.phases.restoreMs = end - this.booted!
    this.report = r.report
    if (this.inject.has('alter-config')) await this.call({ op: 'alter-config' })
    return { ...r.report, ...this.blackout, job: r.job }
  }

  private result(): ConcurrentUpdateResult {
    return {
      outcome: this.outcome ?? 'failed-held',
      ...(this.reason ? { reason: this.reason } : {}),
      ...(this.failedStep ? { failedStep: this.failedStep } : {}),
      steps: this.steps,
      ...(this.blackout ?? {}),
      ...(this.pre ? { pre: decodeSnapshot(this.pre), preDigest: snapshotDigest(this.pre) } : {}),
      ...(this.post ? { post: decodeSnapshot(this.post), postDigest: snapshotDigest(this.post) } : {}),
      ...(this.handoverBytes !== undefined ? { handoverBytes: this.handoverBytes } : {}),
      ...(this.report ? { restore: this.report } : {}),
      kernels: this.kernels,
      ...(this.phases.restoreMs !== undefined ? { blackoutPhases: this.phases as BlackoutPhases } : {}),
    }
  }
}
