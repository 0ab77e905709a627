import { randomUUID } from 'node:crypto'
import {
  checkKernelArtifact,
  type KernelFiles,
  type KexecTarget,
  kexecTargetOf,
  localKernelFiles,
} from '@hitless/live-update'
import type { Hardware, HostUpdateJob, Labels, UpdateStep } from '@hitless/protocol'
import type { HostRuntime } from './host-runtime.js'

/**
 * Test hooks of a stub host (a later issue brings real fault injection): fail a step, or hang
 * in one (a host that never comes back from KEXEC), optionally only on one attempt.
 */
export interface StubFault {
  step: UpdateStep
  kind: 'fail' | 'hang'
  /** Only this attempt (default: every attempt). */
  attempt?: number
}

export interface StubHostOptions {
  /** Duration of each step (ms). */
  stepMs: number
  /** Per-step duration instead (the benchmark draws these from a seeded distribution). */
  stepMsFor?: (step: UpdateStep) => number
  fault?: StubFault
  /** How long a hanging step hangs before giving up (ms); default 1 hour. */
  hangMs?: number
  /** Where PREFLIGHT reads the target kernel's image (default: paths as given). */
  kernelFiles?: KernelFiles
}

/**
 * An emulated host without IOMMU emulation: its KEXEC replaces the kernel version and the boot
 * ID, and it takes no snapshots, so its updates are verified `unverified`, never `hitless`.
 * Stands in until the live update on the emulated hardware drives these steps.
 */
export class StubEmulatedHost implements HostRuntime {
  private currentKernel: string
  /** A new boot ID at construction: an emulated host's process restarting is a power loss. */
  private currentBootId = randomUUID()
  private readonly opts: StubHostOptions
  private readonly hangs = new Set<NodeJS.Timeout>()
  private readonly kernelFiles: KernelFiles

  constructor(
    readonly name: string,
    readonly hardware: Hardware,
    readonly labels: Labels,
    kernel: string,
    opts: number | StubHostOptions,
  ) {
    this.currentKernel = kernel
    this.opts = typeof opts === 'number' ? { stepMs: opts } : opts
    this.kernelFiles = this.opts.kernelFiles ?? localKernelFiles()
  }

  /** The kernel this host staged last (KEXEC), for tests. */
  staged: KexecTarget | undefined

  kernel(): string {
    return this.currentKernel
  }

  bootId(): string {
    return this.currentBootId
  }

  async runStep(step: UpdateStep, job: HostUpdateJob): Promise<Record<string, unknown>> {
    const ms = this.opts.stepMsFor ? this.opts.stepMsFor(step) : this.opts.stepMs
    if (ms) await new Promise((r) => setTimeout(r, ms))
    const f = this.opts.fault
    if (f && f.step === step && (f.attempt === undefined || f.attempt === job.attempt)) {
      if (f.kind === 'hang') {
        await new Promise((r) => {
          const t = setTimeout(r, this.opts.hangMs ?? 3600000)
          t.unref()
          this.hangs.add(t)
        })
        throw new Error(`${step}: host did not come back (emulated hang)`)
      }
      throw new Error(`emulated failure injected at ${step}`)
    }
    if (step === 'PREFLIGHT') {
      // As the live update's PREFLIGHT: the image is on the host and is the artifact's.
      return (await checkKernelArtifact(this.kernelFiles, job.kernel)).detail
    }
    if (step === 'KEXEC') {
      // Stages the artifact PREFLIGHT checked (the same job's), as the live update does.
      this.staged = kexecTargetOf(job.kernel)
      // Idempotent across a redelivered job: a second KEXEC to the same kernel is a no-op.
      if (this.currentKernel !== job.kernel.version) {
        this.currentKernel = job.kernel.version
        this.currentBootId = randomUUID()
      }
      return {
        kernel: this.currentKernel,
        bootId: this.currentBootId,
        direction: job.direction ?? 'forward',
        handoverFormat: job.handoverFormat ?? 1,
      }
    }
    return {}
  }

  async snapshot(): Promise<undefined> {
    return undefined
  }

  lastUpdateReport() {
    return {}
  }
}

/**
 * Parses `HITLESS_EMU_FAULTS`: `host:STEP[:fail|hang][@attempt],...` (e.g.
 * `emu-h003:PREFLIGHT,emu-h007:KEXEC:hang`) into faults by host name.
 */
export function parseStubFaults(spec: string | undefined): Map<string, StubFault> {
  const out = new Map<string, StubFault>()
  for (const part of (spec ?? '').split(',').filter(Boolean)) {
    const [main, attempt] = part.split('@')
    const [host, step, kind = 'fail'] = main.split(':')
    if (!host || !step || (kind !== 'fail' && kind !== 'hang'))
      throw new Error(`HITLESS_EMU_FAULTS: "${part}" is not host:STEP[:fail|hang][@attempt]`)
    out.set(host, {
      step: step as UpdateStep,
      kind,
      ...(attempt ? { attempt: Number(attempt) } : {}),
    })
  }
  return out
}
