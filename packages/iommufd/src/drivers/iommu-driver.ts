import type { IommuTranslator } from '@hitless/emulator'
import type { Hardware } from '@hitless/protocol'
import type { IovaRange } from '../kernel/iova-ranges.js'

/** Permissions of a leaf (IOMMU_READ / IOMMU_WRITE). */
export interface LeafProt {
  read: boolean
  write: boolean
}

/** One leaf of a domain's page table, as a walk of emulated memory finds it. */
export interface DomainLeaf {
  iova: number
  size: number
  pa: number
  read: boolean
  write: boolean
}

/**
 * A hardware domain (`struct iommu_domain` of the paging type) of one driver: page tables in the
 * hardware's format in emulated memory, a hardware tag (SMMUv3 ASID or VMID, VT-d DID), the
 * geometry it can translate, and the page sizes it can map (pgsize_bitmap). iommufd fills it
 * leaf by leaf, choosing each leaf's size as iommu_pgsize() does.
 */
export interface IommuDomain {
  /** `smmuv3-s1`, `smmuv3-s2`, `vtd-sl`. */
  readonly format: string
  /** ASID (SMMUv3 stage 1), VMID (stage 2) or DID (VT-d). */
  readonly tag: number
  /** Physical address of the top-level table (CD.TTB0, STE.S2TTB, SLPTPTR). */
  readonly root: number
  /** domain->geometry.aperture_start / _end, inclusive. */
  readonly aperture: { start: number; last: number }
  /** pgsize_bitmap as sizes, ascending. */
  readonly pageSizes: readonly number[]
  mapLeaf(iova: number, pa: number, size: number, prot: LeafProt): void
  /** Clears the leaf at iova of `size`; false if nothing was there. No invalidation. */
  unmapLeaf(iova: number, size: number): boolean
  /** The IOTLB invalidation after unmapping `leaves` (iommu_iotlb_sync), in the driver's order. */
  flushUnmapped(leaves: readonly { iova: number; size: number }[]): void
  /** The leaf translating `iova`, from a walk of memory. */
  lookup(iova: number): DomainLeaf | undefined
  /** Every leaf, in IOVA order (walks memory). */
  leaves(): DomainLeaf[]
  /** Every table frame (root first): what a kexec must preserve. */
  tableFrames(): number[]
}

/** A device behind the IOMMU, as the platform enumerates it. */
export interface IommuDevice {
  /** Stable name: `pci:0000:00:03.0`. */
  readonly name: string
  /** PCI requester ID (bus << 8 | devfn); also the SMMUv3 StreamID. */
  readonly requesterId: number
  /** iommu_get_resv_regions: IOVA ranges iommufd must keep out of any IOAS the device uses. */
  readonly reserved: readonly IovaRange[]
}

/** One hardware configuration entry, decoded (field names as the specification spells them). */
export interface HardwareConfigEntry {
  kind: 'ste' | 'cd' | 'context' | 'pasid'
  key: string
  fields: Record<string, number | boolean | string>
  /** Fields that hold table addresses (legitimately move with fresh tables). */
  pointerFields: string[]
  raw: string
}

/** Faults the hardware's log holds (SMMUv3 event queue, VT-d fault recording registers). */
export interface HardwareFaultLog {
  source: string
  recorded: number
  lost: number
}

/**
 * The per-hardware half of the kernel (drivers/iommu/arm/arm-smmu-v3, drivers/iommu/intel) as
 * iommufd uses it: domains, attach/replace/detach (writing STE and CD, or context and PASID
 * entries, with the invalidations the Linux drivers issue, in their order), and what a snapshot
 * reads back from the hardware.
 */
export interface IommuDriver {
  readonly hardware: Hardware
  readonly devices: readonly IommuDevice[]
  /** What DMA engines translate through. */
  readonly translator: IommuTranslator
  /** iommu_paging_domain_alloc / domain_alloc_paging_flags. `nestParent` picks SMMUv3 stage 2. */
  domainAlloc(flags: { nestParent?: boolean }): IommuDomain
  /** Frees a domain no device uses (tables, tag). */
  domainFree(domain: IommuDomain): void
  /**
   * Makes `device` translate through `domain`: a first attach when `old` is undefined, else a
   * replace (no blocking state in between, as iommufd_device_replace asks).
   */
  attach(device: IommuDevice, domain: IommuDomain, old: IommuDomain | undefined): void
  /** Blocks the device's DMA (the blocking domain). */
  detach(device: IommuDevice, old: IommuDomain): void
  configEntries(): HardwareConfigEntry[]
  faultLog(): HardwareFaultLog
}
