// A kernel on its own thread (concurrent mode): boots from its workerData alone — shared memory,
// the IOMMU's shared registers, the KHO map, the handover blob, boot options — and then serves
// the agent's syscalls, each the kernel-side body of a live-update step (kernel-steps.ts). At
// KEXEC the agent terminates this thread: whatever it held in JS dies with it. Started from the
// kernel image (kernel-image.ts), never imported by the main thread.
import { parentPort, workerData } from 'node:worker_threads'
import { GuestVmm } from '../machine/guest-vmm.js'
import { Kernel } from '../machine/kernel.js'
import {
  alterConfig,
  finalHandover,
  preflightChecks,
  preserveFrames,
  restoreFromHandover,
  snapshotBytes,
  unpreserveAll,
} from '../state-machine/kernel-steps.js'
import {
  KERNEL_WORKER_DATA_KEYS,
  type KernelMessage,
  type KernelWorkerData,
  type SerializedError,
  type Syscall,
  type SyscallRequest,
  type SyscallResults,
} from './kernel-syscalls.js'
import { SharedMachine } from './shared-machine.js'

const port = parentPort!
const data = workerData as KernelWorkerData
const send = (m: KernelMessage) => port.postMessage(m)

function serialize(e: unknown): SerializedError {
  const err = e as { name?: string; message?: string; code?: unknown; details?: unknown }
  return {
    name: String(err?.name ?? 'Error'),
    message: String(err?.message ?? e),
    ...(typeof err?.code === 'string' ? { code: err.code } : {}),
    ...(err?.details && typeof err.details === 'object'
      ? { details: err.details as Record<string, unknown> }
      : {}),
  }
}

let machine: SharedMachine
let kernel: Kernel
try {
  // A kernel boots from these and nothing else; anything more in its start data is refused.
  const extra = Object.keys(data).filter((k) => !(KERNEL_WORKER_DATA_KEYS as readonly string[]).includes(k))
  if (extra.length)
    throw new Error(`a kernel boots from ${KERNEL_WORKER_DATA_KEYS.join(', ')} only, not ${extra.join(', ')}`)
  machine = new SharedMachine(data)
  kernel = Kernel.boot(machine, { version: data.options.version, iommu: data.options.iommu })
} catch (e) {
  send({ type: 'boot-failed', error: serialize(e) })
  throw e
}
/** The VMM (userspace) on this kernel: set up on a cold boot, reopened from the blob at RESTORE. */
let vmm: GuestVmm | undefined
/** Set once this kernel has handed over (KEXEC): it serves nothing after. */
let stopped = false

function needVmm(): GuestVmm {
  if (!vmm) throw new Error('no VMM runs on this kernel (no guest set up, nothing restored)')
  return vmm
}

async function execute(call: Syscall): Promise<SyscallResults[Syscall['op']]> {
  if (stopped) throw new Error(`the kernel has stopped for kexec: ${call.op} refused`)
  switch (call.op) {
    case 'setup-guest':
      vmm = await GuestVmm.setup(kernel, { mappings: call.mappings, seed: call.seed })
      return { devices: machine.dmaDevices }
    case 'preflight':
      return preflightChecks(kernel, needVmm(), { ...call.plan, resumedAfterKexec: false })
    case 'snapshot':
      return {
        bytes: await snapshotBytes(kernel, call.phase, {
          ...(call.host ? { host: call.host } : {}),
          ...(call.blackout ? { blackout: call.blackout } : {}),
        }),
      }
    case 'preserve':
      return preserveFrames(kernel, needVmm(), call.plan)
    case 'unpreserve':
      unpreserveAll(kernel)
      return {}
    case 'kexec': {
      const { blob, handoverVersion } = await finalHandover(
        kernel,
        needVmm(),
        { ...call.plan, inject: new Set(call.inject) },
        call.job,
      )
      stopped = true
      return { blob, preservedFrames: Float64Array.from(kernel.allocator.preservedFrames()), handoverVersion }
    }
    case 'restore': {
      if (!data.handover) throw new Error('no handover blob: nothing to restore from')
      const r = await restoreFromHandover(kernel, data.handover, {
        strategy: call.strategy,
        inject: new Set(call.inject),
        ...(call.fallback ? { fallback: call.fallback } : {}),
      })
      vmm = r.vmm
      const job = r.state.job
      return { report: r.report, job: job ? { updateId: job.updateId, done: Object.keys(job.done) } : null }
    }
    case 'alter-config':
      alterConfig(kernel)
      return {}
    case 'finish':
      return { kernel: kernel.version, bootId: kernel.bootId }
  }
}

// One syscall at a time, in arrival order (the agent waits for each answer anyway).
let queue = Promise.resolve()
port.on('message', (req: SyscallRequest) => {
  queue = queue.then(async () => {
    machine.dmaCounters.update(req.dma)
    try {
      send({ type: 'reply', id: req.id, ok: true, value: await execute(req.call) })
    } catch (e) {
      send({ type: 'reply', id: req.id, ok: false, error: serialize(e) })
    }
  })
})
send({ type: 'booted', version: kernel.version, bootId: kernel.bootId })
