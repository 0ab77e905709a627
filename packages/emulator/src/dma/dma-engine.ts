import type { DmaAccessKind, IommuTranslator, TranslationOutcome } from '../iommu/translator.js'
import {
  type GroundTruthCounters,
  type GroundTruthKind,
  type GroundTruthViolation,
  classify,
  emptyGroundTruth,
} from './ground-truth.js'
import type { SeededRandom } from './seeded-random.js'
import type { WorkingSet } from './working-set.js'

export interface DmaDeviceConfig {
  name?: string
  /** SMMUv3 StreamID / VT-d requester ID (bus:dev.fn). */
  requesterId: number
  /** SubstreamID / PASID, if the device tags its transactions. */
  pasid?: number
  workingSet: WorkingSet
  /** Mean accesses per store boundary (deterministic mode) or per loop turn (concurrent). Default 1. */
  rate?: number
  /** Fraction of accesses to writable pages that are writes. Default 0.5. */
  writeFraction?: number
}

export interface DmaDeviceCounters {
  accesses: number
  reads: number
  writes: number
  iotlbHits: number
  /** Faults the IOMMU reported, by hardware fault ID (SMMUv3 event ID / VT-d reason). */
  faultsByType: Record<number, number>
  faults: number
  /** Faults whose record the IOMMU's fault log lost (queue overflow). */
  lost: number
  groundTruth: GroundTruthCounters
}

export function emptyCounters(): DmaDeviceCounters {
  return {
    accesses: 0,
    reads: 0,
    writes: 0,
    iotlbHits: 0,
    faultsByType: {},
    faults: 0,
    lost: 0,
    groundTruth: emptyGroundTruth(),
  }
}

export class DmaDevice {
  readonly name: string
  readonly counters: DmaDeviceCounters = emptyCounters()
  readonly rate: number
  readonly writeFraction: number

  constructor(readonly config: DmaDeviceConfig) {
    this.name = config.name ?? `dev-${config.requesterId.toString(16)}`
    this.rate = config.rate ?? 1
    this.writeFraction = config.writeFraction ?? 0.5
  }
}

/**
 * DMA engines: devices reading and writing IOVAs of their working sets through an IOMMU. The
 * engine speaks only IommuTranslator (SMMUv3 or VT-d alike) and checks every outcome against the
 * working set's ground truth. All randomness comes from one SeededRandom: with the scheduler's
 * choices, one seed replays one run exactly.
 */
export class DmaEngine {
  readonly devices: DmaDevice[] = []
  /** The first `maxViolations` ground-truth violations, in order. */
  readonly violations: GroundTruthViolation[] = []
  /** Current store boundary, stamped on violations (set by the scheduler). */
  boundary = -1
  private cold = false

  constructor(
    readonly translator: IommuTranslator,
    readonly random: SeededRandom,
    readonly maxViolations = 1000,
  ) {}

  addDevice(config: DmaDeviceConfig): DmaDevice {
    const d = new DmaDevice(config)
    this.devices.push(d)
    return d
  }

  /** While on, the IOMMU's caches do not answer (if the translator supports it). */
  setCold(on: boolean): void {
    if (on !== this.cold) {
      this.cold = on
      this.translator.forceCacheMiss?.(on)
    }
  }

  /** One access to working-set entry `i` at byte `offset` in its page. */
  access(d: DmaDevice, i: number, write: boolean, offset = 0): TranslationOutcome {
    const ws = d.config.workingSet
    const kind: DmaAccessKind = write ? 'write' : 'read'
    const o = this.translator.translate(d.config.requesterId, ws.iova[i] + offset, kind, d.config.pasid)
    const c = d.counters
    c.accesses++
    if (write) c.writes++
    else c.reads++
    if (o.iotlbHit) c.iotlbHits++
    if (o.fault !== 0) {
      c.faults++
      c.faultsByType[o.fault] = (c.faultsByType[o.fault] ?? 0) + 1
      if (o.recorded === false) c.lost++
    }
    const perm = ws.perm[i]
    const allowed = write ? (perm & 2) !== 0 : (perm & 1) !== 0
    const verdict = classify(allowed ? ws.pa[i] + offset : -1, o)
    if (verdict !== null) this.violate(d, verdict, i, write, offset, o)
    return o
  }

  private violate(
    d: DmaDevice,
    kind: GroundTruthKind,
    i: number,
    write: boolean,
    offset: number,
    o: TranslationOutcome,
  ) {
    const g = d.counters.groundTruth
    g.total++
    if (kind === 'wrong-page') g.wrongPage++
    else if (kind === 'aborted') g.aborted++
    else if (kind === 'not-blocked') g.notBlocked++
    else g.hazard++
    if (this.violations.length < this.maxViolations) {
      const ws = d.config.workingSet
      this.violations.push({
        kind,
        device: d.name,
        requesterId: d.config.requesterId,
        iova: ws.iova[i] + offset,
        access: write ? 'write' : 'read',
        expectedPa: ws.perm[i] ? ws.pa[i] + offset : -1,
        pa: o.pa,
        fault: o.fault,
        lost: o.recorded === false,
        boundary: this.boundary,
      })
    }
  }

  /** One random access by `d`: a random entry, offset (8-byte aligned), read or write as allowed. */
  randomAccess(d: DmaDevice): TranslationOutcome | undefined {
    const ws = d.config.workingSet
    if (ws.length === 0) return undefined
    const rng = this.random
    const i = rng.int(ws.length)
    const write = ws.perm[i] === 3 && rng.chance(d.writeFraction)
    return this.access(d, i, write, rng.int(512) * 8)
  }

  /** Every entry of every device once (reads, plus writes where writable): a full probe. */
  probeAll(): void {
    for (const d of this.devices) {
      const ws = d.config.workingSet
      for (let i = 0; i < ws.length; i++) {
        this.access(d, i, false)
        if (ws.perm[i] === 3) this.access(d, i, true)
      }
    }
  }

  /** Sum of ground-truth violations over all devices. */
  get groundTruthTotal(): number {
    let n = 0
    for (const d of this.devices) n += d.counters.groundTruth.total
    return n
  }

  /** Accesses so far, every device. */
  get accessTotal(): number {
    let n = 0
    for (const d of this.devices) n += d.counters.accesses
    return n
  }

  get faultTotal(): number {
    let n = 0
    for (const d of this.devices) n += d.counters.faults
    return n
  }
}
