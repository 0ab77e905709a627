import type { Hardware, Strategy } from '@hitless/protocol'

/**
 * The handover: what crosses a kexec besides preserved memory, in the spirit of KHO (a versioned
 * blob the old kernel finalises and the new one retrieves). Byte layout in docs/live-update.md.
 *
 *   header (32 bytes)  magic "HLSKHO\r\n" · version u16 · flags u16 · sections u16 · reserved u16 ·
 *                      payload bytes u32 · CRC-32 of the payload u32 · reserved u64
 *   payload            sections, each: tag u16 · reserved u16 · length u32 · body
 *
 * Large tables (frame runs, IOAS areas): version 3 stores each column of deltas whole at the
 * narrowest fixed width that holds it (columns.ts: a shuffled page costs 4 bytes, a column of
 * equal values 9 bytes in all); version 1 stored LEB128 varints of zigzag deltas, entry by entry
 * (~3 bytes a shuffled page, ~2 a contiguous 2 MiB block) and is still read and can be written.
 * Version 2 is not assigned (the codec test uses it as the version no agent reads).
 */
export const HANDOVER_MAGIC = Uint8Array.from([0x48, 0x4c, 0x53, 0x4b, 0x48, 0x4f, 0x0d, 0x0a])
/** The versions this code reads and writes, oldest first. */
export const HANDOVER_VERSIONS = [1, 3] as const
export type HandoverVersion = (typeof HANDOVER_VERSIONS)[number]
/** The newest: what encodeHandover writes unless told otherwise. */
export const HANDOVER_VERSION: HandoverVersion = 3

/**
 * The version to write for an update whose kernels both read `handoverFormat` (the older of the
 * two kernels' declared formats, docs/rollout-engine.md): the newest version this code writes
 * that is not newer than it (2 → 1; 4 or more → 3). Undefined: the newest. Below 1: a RangeError.
 */
export function handoverVersionFor(handoverFormat?: number): HandoverVersion {
  if (handoverFormat === undefined) return HANDOVER_VERSION
  if (!Number.isInteger(handoverFormat) || handoverFormat < 1)
    throw new RangeError(`handover format ${handoverFormat} is not a format version (an integer from 1)`)
  let v: HandoverVersion = HANDOVER_VERSIONS[0]
  for (const x of HANDOVER_VERSIONS) if (x <= handoverFormat) v = x
  return v
}
export const HANDOVER_HEADER_BYTES = 32
export const SECTION_HEADER_BYTES = 8

export const SECTION = {
  META: 1,
  PRESERVED: 2,
  MEMFDS: 3,
  IOAS: 4,
  HWPTS: 5,
  DEVICES: 6,
  USERSPACE: 7,
  JOB: 8,
} as const

/** Frame runs (4 KiB page frame numbers): [start[i], start[i] + count[i]). */
export interface FrameRuns {
  n: number
  start: Float64Array
  count: Float64Array
}

/**
 * IOAS areas as columns (a million areas stay a handful of typed arrays). `file` indexes the
 * handover's memfd list; `offset` is in bytes of that file; prot bit 0 read, bit 1 write.
 */
export interface AreaColumns {
  n: number
  iova: Float64Array
  length: Float64Array
  file: Int32Array
  offset: Float64Array
  prot: Uint8Array
}

export interface HandoverMemfd {
  token: string
  name: string
  size: number
  /** Its pages in file order (LUO memfd preservation: they stay at these frames). */
  frames: FrameRuns
}

export interface HandoverIoas {
  id: number
  key: string
  /** IOMMU_IOAS_ALLOW_IOVAS ranges as [start, last] byte pairs, or none. */
  allowed: [number, number][] | null
  areas: AreaColumns
}

export interface HandoverHwpt {
  id: number
  key: string
  ioasId: number
  auto: boolean
  /** `smmuv3-s1`, `smmuv3-s2`, `vtd-sl`. */
  format: string
  /** ASID, VMID or DID. */
  tag: number
  /** Physical address of the top-level table: the token the new kernel recovers it by. */
  root: number
  /** Table pages (all marked preserved). */
  tablePages: number
}

export interface HandoverDevice {
  id: number
  name: string
  /** 0: bound, not attached. */
  hwptId: number
}

/**
 * Userspace's own record (the VMM's): the operations it replays after kexec under replay-verify,
 * by stable keys. MAP_FILE operations are area columns over the same memfd list.
 */
export interface UserspaceRecord {
  ioas: { key: string; maps: AreaColumns }[]
  hwpts: { key: string; ioasKey: string; device: string; nestParent: boolean }[]
  attachments: { device: string; hwptKey: string }[]
}

/** The agent's job, carried into the new kernel so that it finishes the job exactly once. */
export interface JobContext {
  updateId: string
  rolloutId?: string
  hostId?: string
  attempt: number
  epoch: number
  /** BullMQ job id and the lock token it held before the kexec. */
  jobId?: string
  lockToken?: string
  /** Steps done before the kexec (the agent's local journal), with what each returned. */
  done: Record<string, Record<string, unknown>>
  /** Wall-clock ms at which the old kernel stopped (blackout start). */
  stoppedAt: number
  /** DMA access count at the stop (DMA during the blackout is counted against it). */
  accessesAtStop: number
}

export interface HandoverMeta {
  hardware: Hardware
  backend: string
  /** The kernel that wrote the blob. */
  kernel: { version: string; bootId: string }
  targetKernel: string
  strategy: Strategy
}

export interface HandoverState {
  meta: HandoverMeta
  /** Kernel frames the new kernel must take over unchanged: page tables, STE/CD/context/PASID tables, queues. */
  preserved: FrameRuns
  memfds: HandoverMemfd[]
  ioas: HandoverIoas[]
  hwpts: HandoverHwpt[]
  devices: HandoverDevice[]
  userspace: UserspaceRecord | null
  job: JobContext | null
}

/** The checks a blob must pass, in order; a refusal names the first that failed. */
export type HandoverCheck = 'magic' | 'version' | 'truncated' | 'checksum' | 'section' | 'inconsistent'

export function emptyAreas(n = 0): AreaColumns {
  return {
    n,
    iova: new Float64Array(n),
    length: new Float64Array(n),
    file: new Int32Array(n),
    offset: new Float64Array(n),
    prot: new Uint8Array(n),
  }
}

export function emptyRuns(n = 0): FrameRuns {
  return { n, start: new Float64Array(n), count: new Float64Array(n) }
}

/** Frame runs from physical addresses, in the order given (adjacent frames coalesce). */
export function runsFromAddresses(pas: ArrayLike<number>): FrameRuns {
  const start: number[] = []
  const count: number[] = []
  for (let i = 0; i < pas.length; i++) {
    const pfn = pas[i] / 4096
    const last = start.length - 1
    if (last >= 0 && start[last] + count[last] === pfn) count[last]++
    else {
      start.push(pfn)
      count.push(1)
    }
  }
  return { n: start.length, start: Float64Array.from(start), count: Float64Array.from(count) }
}

/** Physical addresses of every frame of the runs, in order. */
export function runsToAddresses(r: FrameRuns): number[] {
  const out: number[] = []
  for (let i = 0; i < r.n; i++) for (let k = 0; k < r.count[i]; k++) out.push((r.start[i] + k) * 4096)
  return out
}

export function runsFrames(r: FrameRuns): number {
  let n = 0
  for (let i = 0; i < r.n; i++) n += r.count[i]
  return n
}

export function areaList(a: AreaColumns) {
  return Array.from({ length: a.n }, (_, i) => ({
    iova: a.iova[i],
    length: a.length[i],
    file: a.file[i],
    offset: a.offset[i],
    read: (a.prot[i] & 1) !== 0,
    write: (a.prot[i] & 2) !== 0,
  }))
}

export function areasFrom(
  list: readonly {
    iova: number
    length: number
    file: number
    offset: number
    read: boolean
    write: boolean
  }[],
): AreaColumns {
  const a = emptyAreas(list.length)
  list.forEach((x, i) => {
    a.iova[i] = x.iova
    a.length[i] = x.length
    a.file[i] = x.file
    a.offset[i] = x.offset
    a.prot[i] = (x.read ? 1 : 0) | (x.write ? 2 : 0)
  })
  return a
}
