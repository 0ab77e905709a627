import Type from 'typebox'
import { FaultCountsSchema } from '../enums/fault-counts.js'

const Key = Type.String({ minLength: 1, maxLength: 200 })
const Count = Type.Integer({ minimum: 0, maximum: 0xffffffff })
const Counter = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })

/**
 * What the backend that took a snapshot can observe at all. The verifier never counts what a
 * backend could not see as equal: a `false` here makes the matching check "not compared", and a
 * verdict that needs it can be at best `unverified` (or `consistent` for `dmaContinuity`).
 */
export const SnapshotCapabilitiesSchema = Type.Object({
  /** The per-IOVA leaf view of every HWPT (a walk of the page tables). */
  leafView: Type.Boolean(),
  /** Leaves carry the physical address they translate to. */
  physicalAddresses: Type.Boolean(),
  /** Leaves carry their backing (file token, offset). */
  backing: Type.Boolean(),
  /** Hardware configuration entries (SMMU STE/CD, VT-d context/PASID entries) are readable. */
  configEntries: Type.Boolean(),
  /** Cumulative fault counters held by the hardware across kexec (SMMU EVTQ, VT-d fault records). */
  hardwareFaultCounters: Type.Boolean(),
  /** Ground truth of faulty DMA accesses (an emulator's DMA engines know it; real hardware does not). */
  groundTruthFaults: Type.Boolean(),
  /** A hardware-held DMA access counter and the host's count of DMA accesses during the blackout. */
  dmaContinuity: Type.Boolean(),
})
export type SnapshotCapabilities = Type.Static<typeof SnapshotCapabilitiesSchema>

/** An iommufd IOAS; its areas are a columnar section (see AreaTable). */
export const IoasInfoSchema = Type.Object({
  /** Stable across the kexec (a label the agent assigns, e.g. `vm1`): kernel object ids are not. */
  key: Key,
  /** The kernel's object id, for humans; never compared. */
  id: Type.Optional(Count),
  areaCount: Count,
})
export type IoasInfo = Type.Static<typeof IoasInfoSchema>

/** A hardware page table (iommufd HWPT); its leaf view is a columnar section (see LeafTable). */
export const HwptInfoSchema = Type.Object({
  /** Stable across the kexec (e.g. `vm1/s2`); matched between pre and post by key. */
  key: Key,
  id: Type.Optional(Count),
  /** Key of the IOAS it maps. */
  ioas: Key,
  leafCount: Count,
})
export type HwptInfo = Type.Static<typeof HwptInfoSchema>

/** A device (or one of its PASIDs) attached to a HWPT. */
export const AttachmentSchema = Type.Object({
  /** Stable device name: `pci:0000:00:03.0`, or `sid:0x10` for an SMMU stream. */
  device: Key,
  pasid: Type.Optional(Type.Integer({ minimum: 0, maximum: 0xfffff })),
  hwpt: Key,
})
export type Attachment = Type.Static<typeof AttachmentSchema>

/**
 * One hardware configuration entry, decoded into named fields (names as the specification
 * spells them: `STE.CONFIG`, `CD.ASID`, `CE.DID`, `PE.PGTT`) so that a difference explains
 * itself. Fields that hold physical addresses of tables (STE.S2TTB, CD.TTB0, CE.SLPTPTR) are
 * listed in `pointerFields`: fresh tables with identical translations legitimately move them, so
 * they are recorded but not compared — what they lead to is compared through the leaf view.
 */
export const ConfigEntrySchema = Type.Object({
  /** `ste`, `cd`, `context`, `pasid`, ... */
  kind: Type.String({ minLength: 1, maxLength: 40 }),
  /** Which entry: `sid:0x10`, `sid:0x10/ssid:0`, `bdf:00:03.0`, `bdf:00:03.0/pasid:1`. */
  key: Key,
  fields: Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean()])),
  pointerFields: Type.Optional(Type.Array(Type.String(), { maxItems: 64 })),
  /** The HWPT this entry translates through, when the backend can tell. */
  hwpt: Type.Optional(Key),
  /** Raw entry as hex, for humans; never compared (the fields are). */
  raw: Type.Optional(Type.String({ maxLength: 1024 })),
})
export type ConfigEntry = Type.Static<typeof ConfigEntrySchema>

/**
 * Fault state. Kernel counters restart at kexec, so faults between SNAPSHOT_PRE and SNAPSHOT_POST
 * are counted from `hardware` (cumulative counters the IOMMU keeps across kexec: the SMMU event
 * queue's produced/overflow counts, VT-d fault-record totals) and `groundTruth` (cumulative
 * faulty accesses seen by an emulator's DMA engines), as post minus pre.
 */
export const FaultStateSchema = Type.Object({
  hardware: Type.Optional(
    Type.Object({
      /** e.g. `smmuv3-evtq`, `vtd-frr`. */
      source: Type.String({ minLength: 1, maxLength: 60 }),
      /** Faults the hardware recorded since it was reset (not since boot). */
      recorded: Counter,
      /** Faults the hardware dropped since reset (queue overflow, fault-record overflow). */
      lost: Counter,
    }),
  ),
  groundTruth: Type.Optional(Counter),
  /** The kernel's own counters since this boot: informational only. */
  kernel: Type.Optional(FaultCountsSchema),
})
export type FaultState = Type.Static<typeof FaultStateSchema>

/** Evidence that DMA ran through the update. */
export const DmaEvidenceSchema = Type.Object({
  /** Hardware-held, cumulative count of DMA accesses completed (survives kexec). */
  accessCounter: Type.Optional(Counter),
  /** DMA accesses the host counted during the blackout (post snapshot). */
  duringBlackout: Type.Optional(Counter),
})
export type DmaEvidence = Type.Static<typeof DmaEvidenceSchema>

/** Everything in a snapshot but the columns: the JSON header of the binary format. */
export const SnapshotHeaderSchema = Type.Object({
  phase: Type.Enum(['pre', 'post']),
  /** `emulated-smmuv3`, `emulated-vtd`, `real-iommufd`. */
  backend: Type.String({ minLength: 1, maxLength: 60 }),
  hardware: Type.String({ minLength: 1, maxLength: 60 }),
  host: Type.Optional(Type.String({ maxLength: 200 })),
  takenAt: Type.String({ maxLength: 40 }),
  kernel: Type.Object({
    version: Type.String({ minLength: 1, maxLength: 200 }),
    bootId: Type.String({ minLength: 1, maxLength: 100 }),
  }),
  capabilities: SnapshotCapabilitiesSchema,
  /** Backing file tokens (memfd names, guest-memory ids), sorted; columns hold indexes into it. */
  files: Type.Array(Type.String({ maxLength: 500 })),
  ioas: Type.Array(IoasInfoSchema),
  hwpts: Type.Array(HwptInfoSchema),
  attachments: Type.Array(AttachmentSchema),
  config: Type.Array(ConfigEntrySchema),
  faults: FaultStateSchema,
  dma: DmaEvidenceSchema,
  /** Guest-visible blackout the host measured (post snapshot). */
  blackoutMs: Type.Optional(Type.Number({ minimum: 0 })),
})
export type SnapshotHeader = Type.Static<typeof SnapshotHeaderSchema>

/** Where each column lives in the binary (written by the encoder). */
export const SectionSchema = Type.Object({
  name: Type.String({ maxLength: 100 }),
  offset: Type.Integer({ minimum: 0 }),
  bytes: Type.Integer({ minimum: 0 }),
})
export type Section = Type.Static<typeof SectionSchema>

export const EncodedHeaderSchema = Type.Intersect([
  SnapshotHeaderSchema,
  Type.Object({ sections: Type.Array(SectionSchema) }),
])
