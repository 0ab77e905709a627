import type { CpuStorePort, StoreBoundaryListener } from '../cpu/cpu-store-port.js'
import type { DmaEngine } from './dma-engine.js'

export interface DeterministicSchedulerOptions {
  /** Probability that an access bypasses the IOMMU's caches (a miss), default 0.1. */
  coldProbability?: number
}

/**
 * Deterministic mode: DMA runs on the CPU's thread, at store boundaries. After every CPU store the
 * scheduler lets each device perform a seeded number of accesses (mean: the device's rate), and
 * decides for each access whether it misses the caches. The engine's SeededRandom drives every
 * choice, so one seed replays one run exactly — a fleet of emulated hosts runs in one process this
 * way, with no thread per host.
 */
export class DeterministicScheduler implements StoreBoundaryListener {
  /** Stores seen so far (the current boundary number). */
  boundary = 0
  readonly coldProbability: number
  private port: CpuStorePort | undefined

  constructor(
    readonly engine: DmaEngine,
    opts: DeterministicSchedulerOptions = {},
  ) {
    this.coldProbability = opts.coldProbability ?? 0.1
  }

  attach(port: CpuStorePort): this {
    this.port = port
    port.setListener(this)
    return this
  }

  detach(): void {
    this.port?.setListener(undefined)
    this.port = undefined
  }

  afterStore(): void {
    this.boundary++
    this.runBoundary()
  }

  /** The DMA that happens between two stores. */
  runBoundary(): void {
    const e = this.engine
    const rng = e.random
    e.boundary = this.boundary
    const devices = e.devices
    const n = devices.length
    if (n === 0) return
    const first = rng.int(n)
    for (let k = 0; k < n; k++) {
      const d = devices[(first + k) % n]
      const whole = Math.floor(d.rate)
      const count = whole + (rng.chance(d.rate - whole) ? 1 : 0)
      for (let j = 0; j < count; j++) {
        e.setCold(rng.chance(this.coldProbability))
        e.randomAccess(d)
      }
    }
    e.setCold(false)
  }

  /** DMA while the CPU stores nothing, for `boundaries` boundaries' worth of time. */
  idle(boundaries: number): void {
    for (let i = 0; i < boundaries; i++) this.runBoundary()
  }
}
