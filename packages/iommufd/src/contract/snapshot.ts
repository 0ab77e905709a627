import type { FaultCounts } from '@hitless/protocol'
import type { HardwareConfigEntry, HardwareFaultLog } from '../drivers/iommu-driver.js'
import type { BackendHardware } from './iommufd-backend.js'

/**
 * What a backend can observe at all. A verifier must never read "could not see" as "was equal":
 * a false here means the matching part of the snapshot is absent, not empty.
 * (Mirrors the capability block of the shared snapshot format in @hitless/protocol.)
 */
export interface BackendCapabilities {
  /** The per-IOVA leaf view of every HWPT (a walk of the hardware page tables). */
  leafView: boolean
  /** Leaves carry the physical address they translate to. */
  physicalAddresses: boolean
  /** Leaves carry their backing (file token, offset). */
  backing: boolean
  /** STE/CD, context/PASID entries are readable. */
  configEntries: boolean
  /** The hardware's fault log counters (SMMU event queue, VT-d fault records). */
  hardwareFaultCounters: boolean
  /** Ground truth of faulty DMA accesses (an emulator's DMA engines know it; real hardware does not). */
  groundTruthFaults: boolean
  /** Evidence that DMA kept running (a DMA access count the backend can read). */
  dmaContinuity: boolean
}

export interface SnapshotArea {
  iova: number
  length: number
  read: boolean
  write: boolean
  /** Backing file token (memfd), or null for anonymous memory. */
  file: string | null
  /** Byte offset in the file (anonymous: in the user mapping's object). */
  offset: number
}

export interface SnapshotLeaf {
  iova: number
  size: number
  read: boolean
  write: boolean
  /** Physical address, when capabilities.physicalAddresses. */
  pa?: number
  /** Backing file token or null (anonymous), when capabilities.backing. */
  file?: string | null
  offset?: number
}

export interface SnapshotIoas {
  /** Stable label (assigned with `label()`), else `ioas:<id>`. */
  key: string
  id: number
  alignment: number
  /** IOMMU_IOAS_IOVA_RANGES as `0xS-0xL,...`. */
  ranges: string
  areas: SnapshotArea[]
}

export interface SnapshotHwpt {
  key: string
  id: number
  /** Key of the IOAS it mirrors. */
  ioas: string
  auto: boolean
  /** Page-table format: `smmuv3-s1`, `smmuv3-s2`, `vtd-sl`; undefined when not observable. */
  format?: string
  /** Leaves in IOVA order; undefined when capabilities.leafView is false. */
  leaves?: SnapshotLeaf[]
}

export interface SnapshotAttachment {
  device: string
  hwpt: string
}

/**
 * One backend's state at one moment, in the shape of the shared snapshot format
 * (@hitless/protocol snapshot: header + IOAS areas + HWPT leaf views). `toProtocolSnapshot`
 * will convert it once that format is committed; until then this is what backends return.
 */
export interface BackendSnapshot {
  backend: string
  hardware: BackendHardware
  kernel: { version: string; bootId: string }
  capabilities: BackendCapabilities
  /** Every file token that backs an area, sorted. */
  files: string[]
  ioas: SnapshotIoas[]
  hwpts: SnapshotHwpt[]
  attachments: SnapshotAttachment[]
  /** Devices bound to the context (name and device object id). */
  devices: { name: string; id: number }[]
  config: HardwareConfigEntry[]
  faults: FaultCounts
  hardwareFaults?: HardwareFaultLog
}
