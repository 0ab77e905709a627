import { HitlessError } from '../errors/hitless-error.js'
import type { AreaTable, HwptSnapshot, IoasSnapshot, LeafTable, Snapshot } from './snapshot.js'
import { encodeSnapshot } from './snapshot-encode.js'
import { NO_FILE, PAGE_SHIFT, PAGE_SIZE } from './snapshot-format.js'
import { checkAreas, checkLeaves, checkReferences } from './snapshot-validate.js'
import type {
  Attachment,
  ConfigEntry,
  DmaEvidence,
  FaultState,
  SnapshotCapabilities,
  SnapshotHeader,
} from './snapshot-header.js'

/** A byte address: a safe-integer number, or a bigint for addresses at or above 2^53. */
export type Address = number | bigint

const invalid = (m: string) => new HitlessError('HITLESS_E_VALIDATION', `snapshot builder: ${m}`)

/** Byte address → 4 KiB page number, checking alignment. */
function toPfn(a: Address, what: string): number {
  if (typeof a === 'bigint') {
    if (a < 0n || a >= 1n << 64n || (a & BigInt(PAGE_SIZE - 1)) !== 0n)
      throw invalid(`${what} ${a} is not a 4 KiB-aligned u64`)
    return Number(a >> BigInt(PAGE_SHIFT))
  }
  if (!Number.isSafeInteger(a) || a < 0 || a % PAGE_SIZE !== 0)
    throw invalid(`${what} ${a} is not a 4 KiB-aligned address`)
  return a / PAGE_SIZE
}

/** A growable typed column (doubling), so a million leaves cost a few reallocations. */
class Column<T extends Float64Array | Uint32Array | Uint8Array> {
  data: T
  constructor(private readonly make: (n: number) => T) {
    this.data = make(1024)
  }
  set(i: number, v: number): void {
    if (i >= this.data.length) {
      const bigger = this.make(this.data.length * 2)
      bigger.set(this.data)
      this.data = bigger
    }
    this.data[i] = v
  }
  take(n: number): T {
    return this.data.subarray(0, n) as T
  }
}

const f64 = () => new Column((n) => new Float64Array(n))
const u32 = () => new Column((n) => new Uint32Array(n))
const u8 = () => new Column((n) => new Uint8Array(n))

class Files {
  private readonly index = new Map<string, number>()
  readonly tokens: string[] = []
  id(token: string | undefined): number {
    if (token === undefined) return NO_FILE
    let i = this.index.get(token)
    if (i === undefined) {
      i = this.tokens.length
      this.tokens.push(token)
      this.index.set(token, i)
    }
    return i
  }
}

/** Backing of an area: a file token (memfd name, guest-memory id) and a byte offset in it. */
export interface AreaInput {
  iova: Address
  /** Bytes, a multiple of 4 KiB. */
  length: Address
  /** PROT bits. */
  prot: number
  file?: string
  offset?: Address
}

/** Adds the areas of one IOAS, in any order. */
export class IoasWriter {
  private n = 0
  private readonly iova = f64()
  private readonly pages = f64()
  private readonly offset = f64()
  private readonly file = u32()
  private readonly prot = u8()
  constructor(
    readonly key: string,
    readonly id: number | undefined,
    private readonly files: Files,
  ) {}

  area(a: AreaInput): this {
    const i = this.n++
    this.iova.set(i, toPfn(a.iova, 'area IOVA'))
    const pages = toPfn(a.length, 'area length')
    if (pages === 0) throw invalid(`IOAS ${this.key}: an area of length 0`)
    this.pages.set(i, pages)
    this.offset.set(i, a.offset === undefined ? 0 : toPfn(a.offset, 'area offset'))
    this.file.set(i, this.files.id(a.file))
    this.prot.set(i, a.prot)
    return this
  }

  /** @internal */
  finish(remap: Uint32Array): IoasSnapshot {
    const t: AreaTable = {
      count: this.n,
      iova: this.iova.take(this.n),
      pages: this.pages.take(this.n),
      offset: this.offset.take(this.n),
      file: remapFiles(this.file.take(this.n), remap),
      prot: this.prot.take(this.n),
    }
    return { key: this.key, ...(this.id !== undefined ? { id: this.id } : {}), areas: sortAreas(t) }
  }
}

/**
 * Adds the leaves of one HWPT, in any order (a page-table walk yields them sorted, which is
 * fastest). Give `pa` only if capabilities.physicalAddresses, `file`/`offset` only if
 * capabilities.backing.
 */
export class LeafWriter {
  private n = 0
  private readonly iova = f64()
  private readonly sizeLog2 = u8()
  private readonly prot = u8()
  private readonly pa = f64()
  private readonly file = u32()
  private readonly offset = f64()
  constructor(
    readonly key: string,
    readonly ioas: string,
    readonly id: number | undefined,
    private readonly caps: SnapshotCapabilities,
    private readonly files: Files,
  ) {}

  /**
   * One leaf: `size` in bytes (a power of two, at least 4 KiB: 4K, 2M, 1G...), `prot` PROT bits,
   * `pa` the physical address it translates to, (`file`, `offset`) its backing.
   */
  leaf(iova: Address, size: number, prot: number, pa?: Address, file?: string, offset?: Address): this {
    const i = this.n++
    const log2 = Math.log2(size)
    if (!Number.isInteger(log2) || log2 < PAGE_SHIFT) throw invalid(`HWPT ${this.key}: leaf size ${size}`)
    this.iova.set(i, toPfn(iova, 'leaf IOVA'))
    this.sizeLog2.set(i, log2)
    this.prot.set(i, prot)
    if (this.caps.physicalAddresses) {
      if (pa === undefined)
        throw invalid(`HWPT ${this.key}: leaf ${iova} has no PA but capabilities say PAs are observed`)
      this.pa.set(i, toPfn(pa, 'leaf PA'))
    }
    if (this.caps.backing) {
      this.file.set(i, this.files.id(file))
      this.offset.set(i, offset === undefined ? 0 : toPfn(offset, 'leaf offset'))
    }
    return this
  }

  /** @internal */
  finish(remap: Uint32Array): HwptSnapshot {
    const t: LeafTable = {
      count: this.n,
      iova: this.iova.take(this.n),
      sizeLog2: this.sizeLog2.take(this.n),
      prot: this.prot.take(this.n),
      ...(this.caps.physicalAddresses ? { pa: this.pa.take(this.n) } : {}),
      ...(this.caps.backing
        ? { file: remapFiles(this.file.take(this.n), remap), offset: this.offset.take(this.n) }
        : {}),
    }
    return {
      key: this.key,
      ...(this.id !== undefined ? { id: this.id } : {}),
      ioas: this.ioas,
      leaves: sortLeaves(t),
      merkle: [],
    }
  }
}

function remapFiles(col: Uint32Array, remap: Uint32Array): Uint32Array {
  for (let i = 0; i < col.length; i++) if (col[i] !== NO_FILE) col[i] = remap[col[i]]
  return col
}

function isSorted(iova: Float64Array): boolean {
  for (let i = 1; i < iova.length; i++) if (!(iova[i] > iova[i - 1])) return false
  return true
}

function permute<T extends Float64Array | Uint32Array | Uint8Array>(col: T, order: Uint32Array): T {
  const out = new (col.constructor as new (n: number) => T)(col.length)
  for (let i = 0; i < order.length; i++) out[i] = col[order[i]]
  return out
}

function sortOrder(iova: Float64Array): Uint32Array {
  const order = new Uint32Array(iova.length)
  for (let i = 0; i < order.length; i++) order[i] = i
  return order.sort((a, b) => iova[a] - iova[b])
}

function sortLeaves(t: LeafTable): LeafTable {
  if (isSorted(t.iova)) return t
  const o = sortOrder(t.iova)
  return {
    count: t.count,
    iova: permute(t.iova, o),
    sizeLog2: permute(t.sizeLog2, o),
    prot: permute(t.prot, o),
    ...(t.pa ? { pa: permute(t.pa, o) } : {}),
    ...(t.file ? { file: permute(t.file, o) } : {}),
    ...(t.offset ? { offset: permute(t.offset, o) } : {}),
  }
}

function sortAreas(t: AreaTable): AreaTable {
  if (isSorted(t.iova)) return t
  const o = sortOrder(t.iova)
  return {
    count: t.count,
    iova: permute(t.iova, o),
    pages: permute(t.pages, o),
    offset: permute(t.offset, o),
    file: permute(t.file, o),
    prot: permute(t.prot, o),
  }
}

/** What a backend states once, when it starts a snapshot. */
export interface SnapshotStart {
  phase: 'pre' | 'post'
  /** `emulated-smmuv3`, `emulated-vtd`, `real-iommufd`. */
  backend: string
  /** A Hardware value (`smmuv3-bbml2`, `vtd-scalable`, ...). */
  hardware: string
  host?: string
  /** Default: now. */
  takenAt?: string
  kernel: { version: string; bootId: string }
  capabilities: SnapshotCapabilities
}

/**
 * Builds a snapshot in the one shared format. A backend's `snapshot()`:
 *
 * ```ts
 * const b = new SnapshotBuilder({ phase, backend: 'emulated-smmuv3', hardware, kernel, capabilities })
 * b.ioas('vm1').area({ iova: 0x100000, length: 1 << 30, prot: PROT.READ | PROT.WRITE, file: 'memfd:vm1', offset: 0 })
 * const h = b.hwpt('vm1/s2', 'vm1')
 * for (const l of walk(tables)) h.leaf(l.iova, l.size, l.prot, l.pa, 'memfd:vm1', l.offset)
 * b.attach('sid:0x10', 'vm1/s2')
 * b.config({ kind: 'ste', key: 'sid:0x10', fields: { 'STE.V': 1, 'STE.CONFIG': 6, 'STE.S2TTB': '0x8000' },
 *            pointerFields: ['STE.S2TTB'], hwpt: 'vm1/s2' })
 * b.faults({ hardware: { source: 'smmuv3-evtq', recorded, lost }, groundTruth })
 * b.dma({ accessCounter, duringBlackout })
 * return b.encode()
 * ```
 * Leaves and areas may come in any order; `build` sorts them, and rejects overlaps.
 */
export class SnapshotBuilder {
  private readonly files = new Files()
  private readonly ioasWriters: IoasWriter[] = []
  private readonly hwptWriters: LeafWriter[] = []
  private readonly attachments: Attachment[] = []
  private readonly configEntries: ConfigEntry[] = []
  private faultState: FaultState = {}
  private dmaEvidence: DmaEvidence = {}
  private blackoutMs: number | undefined

  constructor(private readonly start: SnapshotStart) {}

  ioas(key: string, id?: number): IoasWriter {
    const w = new IoasWriter(key, id, this.files)
    this.ioasWriters.push(w)
    return w
  }

  hwpt(key: string, ioas: string, id?: number): LeafWriter {
    const w = new LeafWriter(key, ioas, id, this.start.capabilities, this.files)
    this.hwptWriters.push(w)
    return w
  }

  attach(device: string, hwpt: string, pasid?: number): this {
    this.attachments.push({ device, hwpt, ...(pasid !== undefined ? { pasid } : {}) })
    return this
  }

  config(entry: ConfigEntry): this {
    this.configEntries.push(entry)
    return this
  }

  faults(state: FaultState): this {
    this.faultState = state
    return this
  }

  dma(evidence: DmaEvidence): this {
    this.dmaEvidence = evidence
    return this
  }

  blackout(ms: number): this {
    this.blackoutMs = ms
    return this
  }

  /** The snapshot as the decoder would return it (sorted tables; Merkle trees are added by encode). */
  build(): Snapshot {
    // File tokens sorted, so equal token sets give equal column bytes (and equal Merkle hashes).
    const sorted = [...this.files.tokens].sort()
    const remap = new Uint32Array(this.files.tokens.length)
    const rank = new Map(sorted.map((t, i) => [t, i]))
    this.files.tokens.forEach((t, i) => {
      remap[i] = rank.get(t)!
    })
    const ioas = this.ioasWriters.map((w) => w.finish(remap))
    const hwpts = this.hwptWriters.map((w) => w.finish(remap))
    const header: SnapshotHeader = {
      phase: this.start.phase,
      backend: this.start.backend,
      hardware: this.start.hardware,
      ...(this.start.host !== undefined ? { host: this.start.host } : {}),
      takenAt: this.start.takenAt ?? new Date().toISOString(),
      kernel: this.start.kernel,
      capabilities: this.start.capabilities,
      files: sorted,
      ioas: ioas.map((i) => ({
        key: i.key,
        ...(i.id !== undefined ? { id: i.id } : {}),
        areaCount: i.areas.count,
      })),
      hwpts: hwpts.map((h) => ({
        key: h.key,
        ...(h.id !== undefined ? { id: h.id } : {}),
        ioas: h.ioas,
        leafCount: h.leaves.count,
      })),
      attachments: this.attachments,
      config: this.configEntries,
      faults: this.faultState,
      dma: this.dmaEvidence,
      ...(this.blackoutMs !== undefined ? { blackoutMs: this.blackoutMs } : {}),
    }
    checkReferences(header)
    for (const i of ioas) checkAreas(i.key, i.areas, sorted.length)
    for (const h of hwpts) checkLeaves(h.key, h.leaves, sorted.length)
    return { header, ioas, hwpts }
  }

  /** The encoded snapshot, ready for PUT /api/v1/agent/updates/:id/snapshots/:phase. */
  encode(): Uint8Array {
    return encodeSnapshot(this.build())
  }
}
