import type { FaultCounts, Hardware, Snapshot } from '@hitless/protocol'
import type { IovaRange } from '../kernel/iova-ranges.js'
import type { BackendCapabilities, BackendSnapshot } from './snapshot.js'
import type { SnapshotOptions } from './to-protocol-snapshot.js'

export type { IovaRange } from '../kernel/iova-ranges.js'

/**
 * The IOMMU behind a backend: one of the modelled ones, or `iommufd-mock`, the kernel's selftest
 * mock IOMMU (CONFIG_IOMMUFD_TEST) that the real-kernel lane runs on.
 */
export type BackendHardware = Hardware | 'iommufd-mock'

/** IOMMU_IOAS_MAP_READABLE / _WRITEABLE. Default: both. */
export interface Protection {
  read: boolean
  write: boolean
}

export interface MapOptions {
  /** Fixed IOVA (IOMMU_IOAS_MAP_FIXED_IOVA); 'auto' or absent: the kernel chooses. */
  iova?: number | 'auto'
  length: number
  prot?: Protection
}

/** A device the host has, and what iommufd knows of it. */
export interface DeviceInfo {
  /** Stable name: `pci:0000:00:03.0`. */
  name: string
  /** Requester ID / StreamID, when the backend knows it. */
  requesterId?: number
  /** Device object id while bound to this context. */
  devId?: number
  /** HWPT the device is attached to. */
  hwptId?: number
}

export interface ObjectInfo {
  id: number
  type: 'ioas' | 'hwpt_paging' | 'device'
  /** HWPT: the IOAS it mirrors. */
  ioasId?: number
  /** HWPT: made by the kernel at attach (goes away with its last device). */
  auto?: boolean
  /** The label given with `label()`. */
  key?: string
}

/**
 * One contract for every IOMMU backend the host agent drives — emulated SMMUv3, emulated VT-d,
 * the real /dev/iommu — named as the iommufd UAPI (include/uapi/linux/iommufd.h) and the VFIO
 * cdev calls name them. Methods are async (the real backend talks to a helper over a serial
 * line). A failed call rejects with IommufdError whose `errno` is what the kernel answers
 * (ENOENT, EINVAL, EEXIST, EBUSY, EBADF, ...) and changes nothing. The contract suite
 * (contract-suite.ts) holds every implementation to the same behaviour; the real kernel
 * (test/kernel/lane.test.ts) arbitrates what is right.
 */
export interface IommufdBackend {
  /** `emulated-smmuv3`, `emulated-vtd`, `real-iommufd`. */
  readonly backend: string
  readonly hardware: BackendHardware
  /** What snapshot() can observe. */
  readonly capabilities: BackendCapabilities

  /** uname -r and /proc/sys/kernel/random/boot_id of the running kernel. */
  kernel(): Promise<{ version: string; bootId: string }>

  // ---- guest memory ----
  /** memfd_create + ftruncate + mmap(MAP_SHARED) of the whole file; `token` names it stably. */
  memfdCreate(
    name: string,
    size: number,
    token?: string,
  ): Promise<{ fd: number; uptr: number; token: string }>
  close(fd: number): Promise<void>

  // ---- IOAS ----
  ioasAlloc(): Promise<number>
  /** IOMMU_IOAS_IOVA_RANGES: allowed ranges and the IOVA alignment. */
  ioasIovaRanges(ioasId: number): Promise<{ alignment: number; ranges: IovaRange[] }>
  /** IOMMU_IOAS_ALLOW_IOVAS; an empty list clears. */
  ioasAllowIovas(ioasId: number, ranges: IovaRange[]): Promise<void>
  /** IOMMU_IOAS_MAP of user memory at `uptr`, or of fresh anonymous memory when uptr is absent. */
  ioasMap(ioasId: number, o: MapOptions & { uptr?: number }): Promise<{ iova: number; uptr: number }>
  /** IOMMU_IOAS_MAP_FILE: `length` bytes of the memfd `fd` from byte `start`. */
  ioasMapFile(ioasId: number, o: MapOptions & { fd: number; start: number }): Promise<{ iova: number }>
  /** IOMMU_IOAS_UNMAP of whole areas; (0, 2^64-1) unmaps everything. Returns bytes unmapped. */
  ioasUnmap(ioasId: number, iova: number, length: number | bigint): Promise<number>
  /** IOMMU_IOAS_COPY: the pages behind src [srcIova, +length) mapped into dst too. */
  ioasCopy(dstIoasId: number, srcIoasId: number, srcIova: number, o: MapOptions): Promise<{ iova: number }>

  // ---- HWPT ----
  /** IOMMU_HWPT_ALLOC from an IOAS, for a bound device's IOMMU. */
  hwptAlloc(devId: number, ptId: number, flags?: { nestParent?: boolean }): Promise<number>

  // ---- devices ----
  /** Every device of the host, bound or not. */
  devices(): Promise<DeviceInfo[]>
  /** VFIO_DEVICE_BIND_IOMMUFD; returns the device object id. */
  deviceBind(name: string): Promise<number>
  /** VFIO_DEVICE_ATTACH_IOMMUFD_PT on a detached device (pt: IOAS or HWPT); returns the HWPT id. */
  deviceAttach(devId: number, ptId: number): Promise<number>
  /** Attach of an attached device: replace without a blocking state in between; returns the HWPT id. */
  deviceReplace(devId: number, ptId: number): Promise<number>
  /** VFIO_DEVICE_DETACH_IOMMUFD_PT: DMA blocked. */
  deviceDetach(devId: number): Promise<void>
  /** Closes the device file (detaching first). */
  deviceUnbind(devId: number): Promise<void>

  /** IOMMU_DESTROY. */
  destroy(id: number): Promise<void>
  /** Every object of the context, by id. */
  objects(): Promise<ObjectInfo[]>
  /** Gives an IOAS or HWPT a stable key for snapshots (kernel ids do not survive a kexec). */
  label(id: number, key: string): void

  /**
   * The MD_CHECK_MAP oracle: [iova, +length) of the HWPT translates to the pages of user memory
   * at `uptr` (EINVAL if not, ENOENT for an unknown HWPT). Backends without an oracle reject
   * with EOPNOTSUPP.
   */
  checkMap(hwptId: number, iova: number, length: number, uptr: number): Promise<void>

  /** Faults so far: ground truth (if observable, else 0), recorded and lost by the hardware. */
  faultCounters(): Promise<FaultCounts>
  /** The whole state, as plain objects (what snapshot() encodes; tests and tools read it). */
  state(): Promise<BackendSnapshot>
  /** The whole state in the one shared snapshot format (@hitless/protocol; `encodeSnapshot` for the wire). */
  snapshot(opts?: SnapshotOptions): Promise<Snapshot>
}

export const RW: Protection = { read: true, write: true }
