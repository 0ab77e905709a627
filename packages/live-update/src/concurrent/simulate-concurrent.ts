import { memoryFor } from '../machine/guest-vmm.js'
import type { SimulateOptions, SimulateResult } from '../simulate.js'
import { faultsBetween, simulateResult } from '../simulate-result.js'
import { refuseUnsupportedInConcurrentMode } from './concurrent-support.js'
import { ConcurrentMachine } from './concurrent-machine.js'
import { ConcurrentLiveUpdate } from './concurrent-update.js'
import { kernelImage } from './kernel-image.js'

/** DMA accesses before the fault baseline (the devices warmed up on the guest's tables). */
const WARMUP_ACCESSES = 2000
/** DMA accesses after the update before the final count (the restored state carries DMA). */
const SETTLE_ACCESSES = 2000

/**
 * `simulateUpdate` in concurrent mode: the hardware (memory, the IOMMU's registers, the DMA worker
 * with the IOMMU in it) on this thread's side; a first kernel thread boots cold and sets up the guest,
 * its devices start DMA on the DMA worker, and the update runs (ConcurrentLiveUpdate) — kexec to
 * a new kernel thread included — while DMA never stops. Judged like deterministic mode.
 */
export async function simulateConcurrent(
  o: SimulateOptions,
  kernels: { base: string; target: string },
): Promise<SimulateResult> {
  refuseUnsupportedInConcurrentMode(o)
  const mappings = o.mappings ?? 1024
  const devices = o.devices ?? 2
  const seed = o.seed ?? 1
  const inject = [...(o.inject ?? [])]
  const dmaFloor = o.dmaFloor ?? 64
  // Staged before anything runs, as `kexec -l` loads the next kernel before the kexec.
  const image = await kernelImage()
  const machine = await ConcurrentMachine.start({
    hardware: o.hardware,
    memoryBytes: memoryFor(mappings),
    devices,
    seed,
  })
  let update: ConcurrentLiveUpdate | undefined
  try {
    update = await ConcurrentLiveUpdate.bootFirst(machine, image, kernels.base, {
      updateId: `sim-${o.hardware}-${o.strategy}-${seed}`,
      strategy: o.strategy,
      targetKernel: kernels.target,
      host: 'sim-host',
      inject,
      ...(o.fallback ? { fallback: o.fallback } : {}),
      ...(o.slowKexecMs !== undefined ? { slowKexecMs: o.slowKexecMs } : {}),
      ...(o.handoverFormat !== undefined ? { handoverFormat: o.handoverFormat } : {}),
    })
    const guest = await update.running.call({ op: 'setup-guest', mappings, seed }, machine.dmaReading())
    await machine.startDma(guest.devices)
    await machine.dma.waitForAccesses(machine.dmaAccesses + WARMUP_ACCESSES)
    const baseline = machine.faultCounters()
    const result = await update.run()
    await machine.dma.waitForAccesses(machine.dmaAccesses + SETTLE_ACCESSES)
    const faults = faultsBetween(baseline, machine.faultCounters())
    // The last kernel thread goes before the result is read: its exit is on record too.
    await update.running.terminate()
    return simulateResult(o, {
      mode: 'concurrent',
      targetKernel: kernels.target,
      seed,
      mappings,
      devices,
      inject,
      dmaFloor,
      result,
      faults,
      crashes: [],
      kernels: result.kernels,
      ...(result.blackoutPhases ? { blackoutPhases: result.blackoutPhases } : {}),
    })
  } finally {
    await update?.running.terminate()
    await machine.stop()
  }
}
