import {
  type CpuStorePort,
  decodeCd,
  decodeSte,
  type FrameAllocator,
  hex,
  makeAbortSte,
  makeCdTableSte,
  makeS1Cd,
  makeS2DomainSte,
  PageTableBuilder,
  SIZE_1G,
  SIZE_2M,
  REG,
  SIZE_4K,
  type SmmuDriver,
  type SmmuV3,
  SteConfig,
} from '@hitless/emulator'
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

/** Linux's CMDQ_MAX_TLBI_OPS for a 4 KiB granule: past this many leaves, invalidate the whole ASID/VMID. */
export const CMDQ_MAX_TLBI_OPS = 1 << (12 - 3)

/** MSI_IOVA_BASE / MSI_IOVA_LENGTH: the SMMUv3 driver's software MSI window (IOMMU_RESV_SW_MSI). */
export const SMMU_SW_MSI = { start: 0x800_0000n, last: 0x80f_ffffn }

/**
 * An SMMUv3 paging domain (`struct arm_smmu_domain`): io-pgtable-arm VMSAv8-64 tables, 4 KiB
 * granule, 48-bit input; stage 1 (tagged by an ASID, reached through a CD) or stage 2 (tagged by
 * a VMID, reached through the STE).
 */
export class Smmuv3Domain implements IommuDomain {
  readonly aperture = { start: 0, last: 2 ** 48 - 1 }
  readonly pageSizes = [SIZE_4K, SIZE_2M, SIZE_1G] as const

  constructor(
    readonly driver: SmmuDriver,
    readonly stage: 1 | 2,
    readonly tag: number,
    readonly tables: PageTableBuilder,
  ) {}

  get format(): string {
    return this.stage === 1 ? 'smmuv3-s1' : 'smmuv3-s2'
  }

  get root(): number {
    return this.tables.root
  }

  mapLeaf(iova: number, pa: number, size: number, prot: LeafProt): void {
    this.tables.map(iova, pa, size, { read: prot.read, write: prot.write })
  }

  unmapLeaf(iova: number, size: number): boolean {
    return this.tables.unmap(iova, size)
  }

  /**
   * arm_smmu_tlb_inv_range_domain after io-pgtable-arm cleared the PTEs: one TLBI_NH_VA (stage 1,
   * with the ASID) or TLBI_S2_IPA (stage 2, with the VMID) per leaf, or the whole ASID/VMID past
   * CMDQ_MAX_TLBI_OPS, then CMD_SYNC.
   */
  flushUnmapped(leaves: readonly { iova: number; size: number }[]): void {
    if (this.stage === 1) {
      if (leaves.length > CMDQ_MAX_TLBI_OPS)
        this.driver.submit([{ op: 'TLBI_NH_ASID', vmid: 0, asid: this.tag }])
      else
        this.driver.submit(
          leaves.map(
            (l) => ({ op: 'TLBI_NH_VA', vmid: 0, asid: this.tag, addr: l.iova, leaf: true }) as const,
          ),
        )
    } else if (leaves.length > CMDQ_MAX_TLBI_OPS)
      this.driver.submit([{ op: 'TLBI_S12_VMALL', vmid: this.tag }])
    else
      this.driver.submit(
        leaves.map((l) => ({ op: 'TLBI_S2_IPA', vmid: this.tag, addr: l.iova, leaf: true }) as const),
      )
  }

  lookup(iova: number): DomainLeaf | undefined {
    const l = this.tables.lookup(iova)
    return l && { iova: l.iova, size: l.size, pa: l.pa, read: l.perm.read, write: l.perm.write }
  }

  leaves(): DomainLeaf[] {
    return this.tables
      .leaves()
      .map((l) => ({ iova: l.iova, size: l.size, pa: l.pa, read: l.perm.read, write: l.perm.write }))
  }

  tableFrames(): number[] {
    const out: number[] = []
    this.tables.forEachTable((pa) => {
      for (let i = 0; i < (pa === this.tables.root ? this.tables.rootTables : 1); i++) out.push(pa + i * 4096)
    })
    return out
  }
}

export interface Smmuv3DriverOptions {
  /**
   * The SMMU model, when it runs on the kernel's thread (deterministic mode). In concurrent mode it
   * lives on the DMA worker and the kernel reaches it only through `driver.mmio` and memory.
   */
  smmu?: SmmuV3
  driver: SmmuDriver
  port: CpuStorePort
  allocator: FrameAllocator
  devices: readonly IommuDevice[]
  hardware: Hardware
}

/**
 * The arm-smmu-v3 driver as iommufd uses it (drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c):
 * domains from io-pgtable-arm, ASIDs and VMIDs, and attach through arm_smmu_write_entry:
 * stage 1 → the master's CD table entry 0 (CFGI_CD + CMD_SYNC per step), then the STE pointing at
 * the CD table (CFGI_STE + CMD_SYNC per step); stage 2 → the STE alone. A replace rewrites the
 * same entries: hitless when only one qword the SMMU uses changes, breaking (V=0) otherwise.
 *
 * The only state here is kernel state that can be rebuilt from memory: each master's CD table
 * address is STE.S1ContextPtr, each domain's tag is in its CD or STE.
 */
export class Smmuv3IommuDriver implements IommuDriver {
  readonly hardware: Hardware
  readonly devices: readonly IommuDevice[]
  readonly smmu: SmmuV3 | undefined
  readonly smmuDriver: SmmuDriver
  readonly port: CpuStorePort
  readonly allocator: FrameAllocator
  readonly asids = new TagAllocator(1, 0xffff)
  readonly vmids = new TagAllocator(1, 0xffff)
  /** StreamID → its CD table (arm_smmu_master.cd_table), allocated at the first stage-1 attach. */
  readonly cdTables = new Map<number, number>()

  constructor(o: Smmuv3DriverOptions) {
    this.hardware = o.hardware
    this.devices = o.devices
    this.smmu = o.smmu
    this.smmuDriver = o.driver
    this.port = o.port
    this.allocator = o.allocator
  }

  get translator(): SmmuV3 {
    if (!this.smmu)
      throw new Error('the SMMU runs on another thread (concurrent mode): DMA translates there, not here')
    return this.smmu
  }

  /** arm_smmu_domain_alloc_paging: stage 1 unless a nesting parent (stage 2) is asked for. */
  domainAlloc(flags: { nestParent?: boolean }): Smmuv3Domain {
    const stage = flags.nestParent ? 2 : 1
    const tag = stage === 1 ? this.asids.alloc() : this.vmids.alloc()
    return new Smmuv3Domain(
      this.smmuDriver,
      stage,
      tag,
      PageTableBuilder.create(this.port, this.allocator, { stage }),
    )
  }

  /** Adopts existing tables at `root` as a domain with `tag` (a new kernel taking over preserved tables). */
  domainAdopt(stage: 1 | 2, tag: number, root: number): Smmuv3Domain {
    ;(stage === 1 ? this.asids : this.vmids).claim(tag)
    return new Smmuv3Domain(
      this.smmuDriver,
      stage,
      tag,
      PageTableBuilder.adopt(this.port, this.allocator, { stage }, root),
    )
  }

  /** arm_smmu_domain_free: invalidate the tag's TLB entries, free the tables and the tag. */
  domainFree(domain: IommuDomain): void {
    const d = domain as Smmuv3Domain
    if (d.stage === 1) {
      this.smmuDriver.tlbiAsid(d.tag)
      this.asids.free(d.tag)
    } else {
      this.smmuDriver.tlbiVmall(d.tag)
      this.vmids.free(d.tag)
    }
    for (const pa of d.tableFrames()) this.allocator.free(pa)
  }

  /** The STE (and for stage 1 the CD) a device attached to `domain` must have. */
  targetEntries(
    device: IommuDevice,
    domain: Smmuv3Domain,
  ): { cd?: bigint[]; ste: bigint[]; cdTable?: number } {
    const sid = device.requesterId
    if (domain.stage === 2) return { ste: makeS2DomainSte({ vmid: domain.tag, s2ttb: domain.root }) }
    let cdTable = this.cdTables.get(sid)
    if (cdTable === undefined) {
      cdTable = this.smmuDriver.allocCdTable(0)
      this.cdTables.set(sid, cdTable)
    }
    return { cdTable, cd: makeS1Cd({ asid: domain.tag, ttb0: domain.root }), ste: makeCdTableSte(cdTable) }
  }

  attach(device: IommuDevice, domain: IommuDomain, _old: IommuDomain | undefined): void {
    const sid = device.requesterId
    const t = this.targetEntries(device, domain as Smmuv3Domain)
    if (t.cd && t.cdTable !== undefined) this.smmuDriver.writeCd([sid], t.cdTable, 0, t.cd)
    this.smmuDriver.writeSte(sid, t.ste)
  }

  /** The blocking domain: an abort STE (V=1, Config=abort: silent aborts, no C_BAD_STE); the CD is cleared after. */
  detach(device: IommuDevice, _old: IommuDomain): void {
    const sid = device.requesterId
    this.smmuDriver.writeSte(sid, makeAbortSte())
    const cdTable = this.cdTables.get(sid)
    if (cdTable !== undefined) this.smmuDriver.writeCd([sid], cdTable, 0, new Array<bigint>(8).fill(0n))
  }

  configEntries(): HardwareConfigEntry[] {
    const out: HardwareConfigEntry[] = []
    for (const d of this.devices) {
      const words = this.smmuDriver.readSte(d.requesterId)
      const ste = decodeSte(words)
      out.push({
        kind: 'ste',
        key: d.name,
        fields: ste,
        pointerFields: ['S1ContextPtr', 'S2TTB'],
        raw: hex(words),
      })
      if (ste.V === 1 && ste.Config === SteConfig.S1Trans) {
        const cdWords = this.smmuDriver.readCd(ste.S1ContextPtr, 0)
        const cd = decodeCd(cdWords)
        out.push({
          kind: 'cd',
          key: `${d.name}/ssid:0`,
          fields: cd,
          pointerFields: ['TTB0'],
          raw: hex(cdWords),
        })
      }
    }
    return out
  }

  /**
   * The SMMU's own count of events recorded and lost, read by MMIO (the model's IMPLEMENTATION
   * DEFINED counters, REG.IMPDEF_EVENTS_*): the same on the SMMU's thread or any other, and kept
   * by the hardware across a kexec.
   */
  faultLog(): HardwareFaultLog {
    const mmio = this.smmuDriver.mmio
    return {
      source: 'smmuv3-evtq',
      recorded: mmio.read32(REG.IMPDEF_EVENTS_RECORDED),
      lost: mmio.read32(REG.IMPDEF_EVENTS_LOST),
    }
  }
}
