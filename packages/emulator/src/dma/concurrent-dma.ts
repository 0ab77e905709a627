import { Worker } from 'node:worker_threads'
import type { PhysicalMemory } from '../memory/physical-memory.js'
import type { DmaDeviceConfig, DmaDeviceCounters } from './dma-engine.js'
import type { GroundTruthViolation } from './ground-truth.js'

/** Slots of the control block shared with the worker (Int32Array). */
export const CTRL = { STOP: 0, RUN: 1, ACCESSES: 2 } as const

export interface ConcurrentWorkerData {
  memory: SharedArrayBuffer
  control: SharedArrayBuffer
  seed: number
  coldProbability: number
  translatorModule: string
  translatorOptions: unknown
  devices: {
    name?: string
    requesterId: number
    pasid?: number
    rate: number
    writeFraction: number
    iova: Float64Array
    pa: Float64Array
    perm: Uint8Array
  }[]
}

export interface ConcurrentDmaOptions {
  memory: PhysicalMemory
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

  private constructor(
    private readonly worker: Worker,
    control: SharedArrayBuffer,
    done: Promise<ConcurrentDmaResult>,
  ) {
    this.ctrl = new Int32Array(control)
    this.done = done
  }

  static async start(opts: ConcurrentDmaOptions): Promise<ConcurrentDma> {
    const control = new SharedArrayBuffer(16)
    const data: ConcurrentWorkerData = {
      memory: opts.memory.buffer,
      control,
      seed: opts.seed,
      coldProbability: opts.coldProbability ?? 0.1,
      translatorModule: opts.translatorModule,
      translatorOptions: opts.translatorOptions,
      devices: opts.devices.map((d) => ({
        name: d.name,
        requesterId: d.requesterId,
        pasid: d.pasid,
        rate: d.rate ?? 1,
        writeFraction: d.writeFraction ?? 0.5,
        iova: d.workingSet.iova,
        pa: d.workingSet.pa,
        perm: d.workingSet.perm,
      })),
    }
    const worker = new Worker(workerBootstrap(new URL('./concurrent-dma-worker.ts', import.meta.url).href), {
      eval: true,
      workerData: data,
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
    return new ConcurrentDma(worker, control, done)
  }

  /** Starts or pauses DMA (the worker keeps serving doorbells either way). */
  run(on: boolean): void {
    Atomics.store(this.ctrl, CTRL.RUN, on ? 1 : 0)
    Atomics.notify(this.ctrl, CTRL.RUN)
  }

  get accesses(): number {
    return Atomics.load(this.ctrl, CTRL.ACCESSES)
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
    await this.worker.terminate()
    return r
  }
}

/** Worker source that registers tsx's ESM loader, then imports `moduleUrl`. */
function workerBootstrap(moduleUrl: string): string {
  const tsx = import.meta.resolve('tsx/esm/api')
  return `import(${JSON.stringify(tsx)}).then(({ register }) => { register(); return import(${JSON.stringify(moduleUrl)}) })`
}
