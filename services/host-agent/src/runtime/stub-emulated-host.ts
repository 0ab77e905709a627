import { randomUUID } from 'node:crypto'
import type { Hardware, HostUpdateJob, Labels, UpdateStep } from '@hitless/protocol'
import type { HostRuntime } from './host-runtime.js'

/**
 * An emulated host without IOMMU emulation: its KEXEC replaces the kernel version and the boot
 * ID, and it takes no snapshots, so its updates are verified `unverified`, never `hitless`.
 * Stands in until the live update on the emulated hardware drives these steps.
 */
export class StubEmulatedHost implements HostRuntime {
  private currentKernel: string
  /** A new boot ID at construction: an emulated host's process restarting is a power loss. */
  private currentBootId = randomUUID()

  constructor(
    readonly name: string,
    readonly hardware: Hardware,
    readonly labels: Labels,
    kernel: string,
    private readonly stepMs: number,
  ) {
    this.currentKernel = kernel
  }

  kernel(): string {
    return this.currentKernel
  }

  bootId(): string {
    return this.currentBootId
  }

  async runStep(step: UpdateStep, job: HostUpdateJob): Promise<Record<string, unknown>> {
    if (this.stepMs) await new Promise((r) => setTimeout(r, this.stepMs))
    if (step === 'KEXEC') {
      // Idempotent across a redelivered job: a second KEXEC to the same kernel is a no-op.
      if (this.currentKernel !== job.kernel.version) {
        this.currentKernel = job.kernel.version
        this.currentBootId = randomUUID()
      }
      return { kernel: this.currentKernel, bootId: this.currentBootId }
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
