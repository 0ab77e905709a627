import type { FaultCounts, Hardware, HostUpdateJob, Labels, UpdateStep } from '@hitless/protocol'
import {
  EmulatedMachine,
  GuestVmm,
  Kernel,
  type KernelFiles,
  LiveUpdate,
  localKernelFiles,
  memoryFor,
} from '@hitless/live-update'
import type { HostRuntime } from './host-runtime.js'

export interface EmulatedHostOptions {
  /** 4 KiB guest mappings the host's VM keeps in its IOAS. Default 256. */
  mappings?: number
  /** Passthrough devices doing DMA. Default 2. */
  devices?: number
  seed?: number
  /** Extra wall-clock time per step, so that an update takes visible time (ms). */
  stepMs?: number
  /** Where PREFLIGHT reads the target kernel's image (default: paths as given). */
  kernelFiles?: KernelFiles
}

/**
 * A host on the emulated hardware: a machine (memory, SMMUv3 or VT-d, DMA engines) that lives for
 * the process's life, a kernel that the live update replaces by kexec, and a VM whose devices
 * keep doing DMA through it. Each step of a host-update job runs the live-update state machine
 * (packages/live-update), whose journal lives on the machine's disk: a redelivered job resumes
 * it. Snapshots are the backend's own, in the shared format, so the verifier can call it
 * hitless. Killing the process is a power loss: the next process boots a new machine.
 */
export class EmulatedHost implements HostRuntime {
  private readonly session: { machine: EmulatedMachine; vmm: GuestVmm }
  private current: { updateId: string; update: LiveUpdate; baseline: FaultCounts } | undefined

  private constructor(
    readonly name: string,
    readonly hardware: Hardware,
    readonly labels: Labels,
    machine: EmulatedMachine,
    vmm: GuestVmm,
    private readonly stepMs: number,
    private readonly kernelFiles: KernelFiles,
  ) {
    this.session = { machine, vmm }
  }

  static async boot(
    name: string,
    hardware: Hardware,
    labels: Labels,
    kernelVersion: string,
    o: EmulatedHostOptions = {},
  ): Promise<EmulatedHost> {
    const mappings = o.mappings ?? 256
    const machine = new EmulatedMachine({
      hardware,
      memoryBytes: memoryFor(mappings),
      devices: o.devices ?? 2,
      seed: o.seed ?? 1,
    })
    const kernel = Kernel.boot(machine, { version: kernelVersion, iommu: 'reset' })
    const vmm = await GuestVmm.setup(kernel, { mappings, seed: o.seed ?? 1 })
    machine.tick(128)
    return new EmulatedHost(
      name,
      hardware,
      labels,
      machine,
      vmm,
      o.stepMs ?? 0,
      o.kernelFiles ?? localKernelFiles(),
    )
  }

  private get kernelInstance(): Kernel {
    const k = this.session.machine.kernel
    if (!k) throw new Error(`${this.name}: no kernel is running`)
    return k
  }

  kernel(): string {
    return this.kernelInstance.version
  }

  bootId(): string {
    return this.kernelInstance.bootId
  }

  /** Kexecs this machine has been through: what exactly-once is checked on. */
  boots(): number {
    return this.session.machine.boots
  }

  private updateFor(job: HostUpdateJob): LiveUpdate {
    if (this.current?.updateId !== job.updateId) {
      const { groundTruth, recorded, lost } = this.session.machine.faultCounters()
      this.current = {
        updateId: job.updateId,
        baseline: { groundTruth, recorded, lost },
        update: new LiveUpdate(this.session, {
          updateId: job.updateId,
          strategy: job.strategy,
          targetKernel: job.kernel.version,
          // PREFLIGHT checks this image's sha256 on the host; KEXEC stages image, initrd, cmdline.
          kernelImage: job.kernel,
          kernelFiles: this.kernelFiles,
          host: this.name,
          job: { updateId: job.updateId, attempt: job.attempt, epoch: job.epoch },
          // The older of the two kernels' formats, as the controller put it in the job.
          ...(job.handoverFormat !== undefined ? { handoverFormat: job.handoverFormat } : {}),
        }),
      }
    }
    return this.current.update
  }

  async runStep(step: UpdateStep, job: HostUpdateJob): Promise<Record<string, unknown>> {
    if (this.stepMs) await new Promise((r) => setTimeout(r, this.stepMs))
    const update = this.updateFor(job)
    const r = await update.runStep(step)
    const result = update.result()
    // The live update's reason is `STEP: why`; the update runner names the step itself.
    if (r === 'failed') throw new Error(result.reason?.replace(`${step}: `, '') ?? `${step} failed`)
    const detail = result.steps.find((s) => s.step === step)?.detail ?? {}
    // Snapshot bytes and large plans stay on the host; the journal keeps the small facts.
    return Object.fromEntries(Object.entries(detail).filter(([, v]) => typeof v !== 'object' || v === null))
  }

  async snapshot(phase: 'pre' | 'post'): Promise<{ data: Uint8Array; format: string } | undefined> {
    if (!this.current) return undefined
    const bytes = this.session.machine.disk.get(`${this.current.updateId}/${phase}`) as Uint8Array | undefined
    return bytes ? { data: bytes, format: 'hitless-snapshot/v1' } : undefined
  }

  lastUpdateReport(): { blackoutMs?: number; dmaDuringBlackout?: number; faults?: FaultCounts } {
    if (!this.current) return {}
    const r = this.current.update.result()
    const now = this.session.machine.faultCounters()
    const b = this.current.baseline
    return {
      ...(r.blackoutMs !== undefined ? { blackoutMs: r.blackoutMs } : {}),
      ...(r.dmaDuringBlackout !== undefined ? { dmaDuringBlackout: r.dmaDuringBlackout } : {}),
      faults: {
        groundTruth: now.groundTruth - b.groundTruth,
        recorded: now.recorded - b.recorded,
        lost: now.lost - b.lost,
      },
    }
  }
}
