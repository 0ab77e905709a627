import { MessageChannel, type MessagePort, Worker } from 'node:worker_threads'
import type { PhysicalMemory } from '../memory/physical-memory.js'
import type { DmaDeviceConfig, DmaDeviceCounters } from './dma-engine.js'
import type { GroundTruthViolation } from './ground-truth.js'

/**
 * Slots of the control block shared with the worker (Int32Array). ACCESSES and GROUND_TRUTH are
 * running totals over every device (wrapping 32-bit), readable at any time from any thread.
 */
export const CTRL = { STOP: 0, RUN: 1, ACCESSES: 2, GROUND_TRUTH: 3 } as const

/** One device as it crosses to the worker (a structured clone: plain arrays, no class instances). */
export interface ConcurrentDeviceData {
  name?: string
  requesterId: number
  pasid?: number
  rate: number
  writeFraction: number
  iova: Float64Array
  pa: Float64Array
  perm: Uint8Array
}

export interface ConcurrentWorkerData {
  memory: SharedArrayBuffer
  control: SharedArrayBuffer
  seed: number
  coldProbability: number
  translatorModule: string
  translatorOptions: unknown
  devices: ConcurrentDeviceData[]
  /** Devices added after the start (`ConcurrentDma.addDevices`) arrive on this port. */
  hotplug: MessagePort
}

export interface ConcurrentDmaOptions {
  memory: PhysicalMemory
  /** Devices from the start; more may be added later (`addDevices`). */
  devices: DmaDeviceConfig[]
  seed: number
  /** Probability that an access bypasses the IOMMU's caches. Default 0.1. */
  coldProbability?: number
  /**
   * Module (URL) exporting `createConcurrentTranslator(options, memory)` that builds the IOMMU on
   * the worker: e.g. SMMU_CONCURRENT_TRANSLATOR from smmuv3/concurrent-translator.ts.
   */
  translatorModule: string
  translatorOptions: unknown
}

export interface ConcurrentDmaResult {
  devices: { name: string; requesterId: number; counters: DmaDeviceCounters }[]
  violations: GroundTruthViolation[]
  stats: unknown
}

/**
 * Concurrent mode: DMA on a worker thread over the SharedArrayBuffer of emulated memory, truly in
 * parallel with the CPU's stores (which must then use an atomic CpuStorePort). No scheduler picks
 * the interleaving, so this mode cannot enumerate; it is for single-host simulation and for
 * checking that what the deterministic mode predicts as hitless shows no fault here either.
 *
 * The worker is TypeScript: it starts from a tiny bootstrap that registers tsx's loader and then
 * imports the worker module (Node 20 does not apply `--import tsx` from a Worker's execArgv before
 * loading a `.ts` entry point).
 */
export class ConcurrentDma {
  private readonly ctrl: Int32Array
  private done: Promise<ConcurrentDmaResult>
  private readonly added: (() => void)[] = []

  private constructor(
    private readonly worker: Worker,
    control: SharedArrayBuffer,
    done: Promise<ConcurrentDmaResult>,
    private readonly hotplug: MessagePort,
  ) {
    this.ctrl = new Int32Array(control)
    this.done = done
    worker.on('message', (m: { type: string }) => {
      if (m.type === 'devices-added') this.added.shift()?.()
    })
  }

  static async start(opts: ConcurrentDmaOptions): Promise<ConcurrentDma> {
    const control = new SharedArrayBuffer(16)
    const { port1, port2 } = new MessageChannel()
    const data: ConcurrentWorkerData = {
      memory: opts.memory.buffer,
      control,
      seed: opts.seed,
      coldProbability: opts.coldProbability ?? 0.1,
      translatorModule: opts.translatorModule,
      translatorOptions: opts.translatorOptions,
      devices: opts.devices.map(deviceData),
      hotplug: port2,
    }
    const worker = new Worker(workerBootstrap(new URL('./concurrent-dma-worker.ts', import.meta.url).href), {
      eval: true,
      workerData: data,
      transferList: [port2],
    })
    let ready!: () => void
    let failed!: (e: Error) => void
    const isReady = new Promise<void>((res, rej) => {
      ready = res
      failed = rej
    })
    const done = new Promise<ConcurrentDmaResult>((resolve, reject) => {
      worker.on('message', (m: { type: string } & ConcurrentDmaResult) => {
        if (m.type === 'ready') ready()
        else if (m.type === 'done') resolve({ devices: m.devices, violations: m.violations, stats: m.stats })
      })
      worker.on('error', (e) => {
        failed(e)
        reject(e)
      })
    })
    done.catch(() => {})
    await isReady
    return new ConcurrentDma(worker, control, done, port1)
  }

  /**
   * Adds devices to a running worker (a VMM that set up its guest after the IOMMU was already
   * serving its driver). The worker takes them between two loop turns; resolves once it has.
   */
  async addDevices(devices: readonly DmaDeviceConfig[]): Promise<void> {
    const taken = new Promise<void>((res) => this.added.push(res))
    this.hotplug.postMessage(devices.map(deviceData))
    Atomics.notify(this.ctrl, CTRL.RUN)
    await Promise.race([
      taken,
      this.done.then(() => {
        throw new Error('the DMA worker stopped before taking the devices')
      }),
    ])
  }

  /** Starts or pauses DMA (the worker keeps serving doorbells either way). */
  run(on: boolean): void {
    Atomics.store(this.ctrl, CTRL.RUN, on ? 1 : 0)
    Atomics.notify(this.ctrl, CTRL.RUN)
  }

  get accesses(): number {
    return Atomics.load(this.ctrl, CTRL.ACCESSES)
  }

  /** Accesses so far that did not reach the page the working set says (ground truth). */
  get groundTruth(): number {
    return Atomics.load(this.ctrl, CTRL.GROUND_TRUTH)
  }

  /** Resolves once the worker has performed `n` accesses in total. */
  async waitForAccesses(n: number, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (this.accesses < n) {
      if (Date.now() > deadline) throw new Error(`DMA worker reached ${this.accesses} of ${n} accesses`)
      await new Promise((r) => setTimeout(r, 1))
    }
  }

  /** Stops the worker and returns its counters. */
  async stop(): Promise<ConcurrentDmaResult> {
    Atomics.store(this.ctrl, CTRL.STOP, 1)
    Atomics.notify(this.ctrl, CTRL.RUN)
    const r = await this.done
    this.hotplug.close()
    await this.worker.terminate()
    return r
  }
}

function deviceData(d: DmaDeviceConfig): ConcurrentDeviceData {
  return {
    name: d.name,
    requesterId: d.requesterId,
    pasid: d.pasid,
    rate: d.rate ?? 1,
    writeFraction: d.writeFraction ?? 0.5,
    iova: d.workingSet.iova,
    pa: d.workingSet.pa,
    perm: d.workingSet.perm,
  }
}

/** Worker source that registers tsx's ESM loader, then imports `moduleUrl`. */
function workerBootstrap(moduleUrl: string): string {
  const tsx = import.meta.resolve('tsx/esm/api')
  return `import(${JSON.stringify(tsx)}).then(({ register }) => { register(); return import(${JSON.stringify(moduleUrl)}) })`
}
