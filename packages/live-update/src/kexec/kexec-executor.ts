import type { EmulatedMachine } from '../machine/emulated-machine.js'

/** The kernel to kexec into: image, initrd, command line (a staged KernelSpec on a real host). */
export interface KexecTarget {
  image: string
  initrd?: string
  cmdline: string
}

/**
 * What the KEXEC step needs from the host, emulated or real: load the next kernel, keep named
 * bytes for it (a LUO session on a real host, KHO on the emulated one), and reboot into it.
 * Issue 5 item 5. The state machine drives the emulated one; the real one is for real hosts.
 */
export interface KexecExecutor {
  /** Loads the next kernel (kexec_file_load); nothing is stopped yet. */
  stage(target: KexecTarget): Promise<void>
  /** Keeps `bytes` under `name` across the reboot. */
  preserve(name: string, bytes: Uint8Array): Promise<void>
  /** Reboots into the staged kernel. On a real host this does not return. */
  reboot(): Promise<void>
}

/** The name the handover blob is preserved under. */
export const HANDOVER_NAME = 'hitless-handover'

/**
 * The emulated machine behind the interface: exactly what the state machine's KEXEC did before —
 * `machine.kexec(blob, preservedFrames, bootTicks)` — split into its three parts. The frames to
 * keep (KHO-marked by the old kernel's allocator) and the boot's length are given at construction.
 */
export class EmulatedKexecExecutor implements KexecExecutor {
  private staged: KexecTarget | undefined
  private blob: Uint8Array | undefined

  constructor(
    private readonly machine: EmulatedMachine,
    private readonly preservedFrames: () => Iterable<number>,
    private readonly bootTicks: number,
  ) {}

  async stage(target: KexecTarget): Promise<void> {
    this.staged = target
  }

  async preserve(name: string, bytes: Uint8Array): Promise<void> {
    if (name !== HANDOVER_NAME)
      throw new Error(`the emulated machine keeps only ${HANDOVER_NAME}, not ${name}`)
    this.blob = bytes
  }

  async reboot(): Promise<void> {
    if (!this.staged) throw new Error('kexec: no kernel staged')
    this.machine.kexec(this.blob, this.preservedFrames(), this.bootTicks)
  }

  /** The kernel staged last (the emulated boot takes its version from the update's options). */
  get target(): KexecTarget | undefined {
    return this.staged
  }
}
