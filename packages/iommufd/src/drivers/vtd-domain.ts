import type { CpuStorePort, FrameAllocator } from '@hitless/emulator'
import {
  decodeLegacyContextEntry,
  decodePasidEntry,
  decodeScalableContextEntry,
  type EntryWriteMethod,
  faultLogTotals,
  PGTT,
  qwordsToWords,
  SL_PTE,
  type SlLeafSize,
  SlPageTableBuilder,
  type Vtd,
  type VtdDriver,
  type VtdIommu,
} from '@hitless/emulator/vtd/index'
import type { Hardware } from '@hitless/protocol'
import type {
  DomainLeaf,
  HardwareConfigEntry,
  HardwareFaultLog,
  IommuDevice,
  IommuDomain,
  IommuDriver,
  LeafProt,
} from './iommu-driver.js'
import { TagAllocator } from './tag-allocator.js'

/** IOAPIC_RANGE_START..END: intel_iommu_get_resv_regions reports it as IOMMU_RESV_MSI. */
export const VTD_IOAPIC_RANGE = { start: 0xfee0_0000n, last: 0xfeef_ffffn }

/** AGAW 2: a 4-level, 48-bit second-level table. */
export const VTD_AGAW_48 = 2

const TWO32 = 0x1_0000_0000
const LEVEL_SIZE = [0, 2 ** 12, 2 ** 21, 2 ** 30, 2 ** 39]

/**
 * A VT-d paging domain (`struct dmar_domain`) with a second-level (second-stage) table: 4 levels,
 * 48 bits, 4 KiB / 2 MiB / 1 GiB leaves (CAP.SLLPS), tagged by a domain ID.
 */
export class VtdDomain implements IommuDomain {
  readonly format = 'vtd-sl'
  readonly aperture = { start: 0, last: 2 ** 48 - 1 }
  readonly pageSizes = [2 ** 12, 2 ** 21, 2 ** 30] as const

  constructor(
    readonly driver: VtdDriver,
    readonly tag: number,
    readonly tables: SlPageTableBuilder,
  ) {}

  get root(): number {
    return this.tables.root
  }

  mapLeaf(iova: number, pa: number, size: number, prot: LeafProt): void {
    this.tables.map(iova, pa, size as SlLeafSize, { r: prot.read, w: prot.write })
  }

  unmapLeaf(iova: number, size: number): boolean {
    return this.tables.unmap(iova, size as SlLeafSize)
  }

  /**
   * iommu_flush_iotlb_psi over the gathered range: one page-selective IOTLB invalidation with the
   * smallest address mask covering it (domain-selective past CAP.MAMV), then the wait descriptor.
   */
  flushUnmapped(leaves: readonly { iova: number; size: number }[]): void {
    const start = Math.min(...leaves.map((l) => l.iova))
    const end = Math.max(...leaves.map((l) => l.iova + l.size))
    let am = 0
    let base = start
    while (base + 2 ** am * 4096 < end || base % (2 ** am * 4096) !== 0) {
      am++
      base = start - (start % (2 ** am * 4096))
    }
    if (am > this.driver.cap.mamv) this.driver.flushIotlbDomain(this.tag)
    else this.driver.flushIotlbPages(this.tag, base, am)
  }

  lookup(iova: number): DomainLeaf | undefined {
    const m = this.tables.lookup(iova)
    if (!m) return undefined
    const base = iova - (iova % m.size)
    return { iova: base, size: m.size, pa: m.pa - (iova % m.size), read: m.r, write: m.w }
  }

  leaves(): DomainLeaf[] {
    const u32 = this.tables.port.memory.u32
    const out: DomainLeaf[] = []
    const visit = (table: number, level: number, base: number) => {
      for (let i = 0; i < 512; i++) {
        const w = (table + i * 8) >>> 2
        const lo = u32[w]
        if ((lo & 3) === 0) continue
        const addr = (u32[w + 1] & 0xfffff) * TWO32 + ((lo & SL_PTE.ADDR_LO) >>> 0)
        const va = base + i * LEVEL_SIZE[level]
        if (level === 1 || (lo & SL_PTE.PS) !== 0)
          out.push({
            iova: va,
            size: LEVEL_SIZE[level],
            pa: addr,
            read: (lo & 1) !== 0,
            write: (lo & 2) !== 0,
          })
        else visit(addr, level - 1, va)
      }
    }
    visit(this.tables.root, this.tables.levels, 0)
    return out
  }

  tableFrames(): number[] {
    return [this.tables.root, ...[...this.tables.tableFrames].filter((f) => f !== this.tables.root)]
  }
}

export interface VtdDriverOptions {
  vtd: Vtd
  driver: VtdDriver
  port: CpuStorePort
  frames: FrameAllocator
  devices: readonly IommuDevice[]
}

/**
 * The intel-iommu driver as iommufd uses it (drivers/iommu/intel/{iommu,pasid}.c), legacy or
 * scalable mode as the unit was brought up:
 * - legacy: attach and replace write the 128-bit context entry (SLPTPTR, AW, DID) with one
 *   cmpxchg16b, then context-cache + IOTLB invalidation of the old and new DID, then wait
 *   (the Jan 2026 atomicity series);
 * - scalable: the context entry points at a per-device PASID directory; RID_PASID (0) holds a
 *   second-level PASID entry (SLPTPTR, DID in chunk 0). A replace is clear P → PASID-cache + IOTLB
 *   invalidation → set, as upstream settled (not hitless).
 * Detach: clear P → invalidate → wait → clear the rest (VT-d spec 6.5.3.3).
 */
export class VtdIommuDriver implements IommuDriver {
  readonly hardware: Hardware
  readonly devices: readonly IommuDevice[]
  readonly vtd: Vtd
  readonly vtdDriver: VtdDriver
  readonly port: CpuStorePort
  readonly frames: FrameAllocator
  readonly dids = new TagAllocator(2, 0xffff)
  /** Scalable mode: requester ID → its PASID directory (rebuilt from the context entry after kexec). */
  readonly pasidDirs = new Map<number, number>()
  /** How legacy context entries are replaced (the hitless-switch analysis varies it). */
  contextWriteMethod: EntryWriteMethod = 'cmpxchg128'

  constructor(o: VtdDriverOptions) {
    this.vtd = o.vtd
    this.vtdDriver = o.driver
    this.port = o.port
    this.frames = o.frames
    this.devices = o.devices
    this.hardware = o.driver.scalable ? 'vtd-scalable' : 'vtd-legacy'
  }

  get translator(): VtdIommu {
    if (!this.vtd.iommu)
      throw new Error(
        'the VT-d unit runs on another thread (concurrent mode): DMA translates there, not here',
      )
    return this.vtd.iommu
  }

  domainAlloc(_flags: { nestParent?: boolean }): VtdDomain {
    return new VtdDomain(
      this.vtdDriver,
      this.dids.alloc(),
      SlPageTableBuilder.create(this.port, this.frames, 4),
    )
  }

  /** Adopts a preserved second-level table at `root` with domain ID `did`. */
  domainAdopt(did: number, root: number): VtdDomain {
    this.dids.claim(did)
    return new VtdDomain(this.vtdDriver, did, SlPageTableBuilder.adopt(this.port, this.frames, 4, root))
  }

  domainFree(domain: IommuDomain): void {
    const d = domain as VtdDomain
    this.vtdDriver.flushIotlbDomain(d.tag)
    for (const pa of d.tableFrames()) this.frames.free(pa)
    for (const pa of d.tables.unlinkedTables) this.frames.free(pa)
    this.dids.free(d.tag)
  }

  attach(device: IommuDevice, domain: IommuDomain, old: IommuDomain | undefined): void {
    const sid = device.requesterId
    const d = domain as VtdDomain
    const drv = this.vtdDriver
    if (!drv.scalable) {
      const ok = drv.setLegacyContext(
        sid,
        { p: true, fpd: false, tt: 0, slptptr: d.root, aw: VTD_AGAW_48, did: d.tag },
        this.contextWriteMethod,
      )
      if (!ok) throw new Error(`context entry of ${device.name} changed under the cmpxchg`)
      return
    }
    const dir = this.pasidDirs.get(sid)
    const entry = { did: d.tag, pgtt: PGTT.SL_ONLY, slptptr: d.root, aw: VTD_AGAW_48 }
    if (dir === undefined) {
      const { dir: newDir, pdts } = drv.allocPasidDirectory()
      this.pasidDirs.set(sid, newDir)
      drv.setPasidEntry(newDir, 0, entry)
      drv.setScalableContext(sid, { pasidDirPtr: newDir, pdts })
    } else if (old) drv.replacePasidEntry(sid, dir, 0, entry)
    else drv.setPasidEntry(dir, 0, entry)
  }

  detach(device: IommuDevice, _old: IommuDomain): void {
    const sid = device.requesterId
    if (!this.vtdDriver.scalable) this.vtdDriver.clearContext(sid)
    else {
      const dir = this.pasidDirs.get(sid)
      if (dir !== undefined) this.vtdDriver.clearPasidEntry(sid, dir, 0)
    }
  }

  configEntries(): HardwareConfigEntry[] {
    const out: HardwareConfigEntry[] = []
    const drv = this.vtdDriver
    const raw = (q: readonly bigint[]) => q.map((x) => x.toString(16).padStart(16, '0')).join(' ')
    for (const dev of this.devices) {
      const q = drv.readContextEntry(dev.requesterId)
      const w = qwordsToWords(q)
      if (!drv.scalable) {
        const ce = decodeLegacyContextEntry(w)
        out.push({
          kind: 'context',
          key: dev.name,
          fields: { ...ce },
          pointerFields: ['slptptr'],
          raw: raw(q),
        })
        continue
      }
      const ce = decodeScalableContextEntry(w)
      out.push({
        kind: 'context',
        key: dev.name,
        fields: { ...ce },
        pointerFields: ['pasidDirPtr'],
        raw: raw(q),
      })
      if (!ce.p) continue
      const pa = drv.pasidEntryAddress(ce.pasidDirPtr, 0, false)
      if (pa < 0) continue
      const pq = Array.from({ length: 8 }, (_, i) => this.port.read64(pa + i * 8))
      const pe = decodePasidEntry(qwordsToWords(pq))
      out.push({
        kind: 'pasid',
        key: `${dev.name}/pasid:0`,
        fields: { ...pe },
        pointerFields: ['slptptr', 'flptptr'],
        raw: raw(pq),
      })
    }
    return out
  }

  /**
   * The unit's own count of what became of each fault, read from its register file
   * (FAULT_COUNTS): the same on the unit's thread or any other, and kept across a kexec.
   */
  faultLog(): HardwareFaultLog {
    return { source: 'vtd-frr', ...faultLogTotals(this.vtd.registers) }
  }
}
