/**
 * Constants of the one snapshot format every backend produces (emulated SMMUv3, emulated VT-d,
 * real /dev/iommu). docs/verifier.md describes the layout; `encodeSnapshot`/`decodeSnapshot`
 * are the only code that reads or writes it.
 *
 * ```
 * offset  size  field
 * 0       8     magic 0x89 'H' 'L' 'S' 'N' 'A' 'P' 0x0A   (high bit and LF catch text-mode mangling)
 * 8       4     u32 format version (SNAPSHOT_VERSION)
 * 12      4     u32 header length H (UTF-8 JSON, SnapshotHeader plus its `sections` table)
 * 16      8     u32 lo, u32 hi: total length T of the snapshot, trailer included
 * 24      H     header JSON, zero-padded to a multiple of 8
 * ...           sections: little-endian typed-array columns, each 8-byte aligned
 * T-8     4     u32 CRC-32 (zlib) of bytes [0, T-8)
 * T-4     4     u32 0 (reserved)
 * ```
 */
export const SNAPSHOT_MAGIC = Uint8Array.of(0x89, 0x48, 0x4c, 0x53, 0x4e, 0x41, 0x50, 0x0a)
export const SNAPSHOT_VERSION = 1
/** The value agents send in `x-snapshot-format` and the controller stores in Snapshot.format. */
export const SNAPSHOT_FORMAT = 'hitless-snapshot/v1'
export const SNAPSHOT_PREFIX_BYTES = 24
export const SNAPSHOT_TRAILER_BYTES = 8

/**
 * Addresses, offsets and lengths are stored as 4 KiB page numbers in float64 columns: every IOMMU
 * leaf and every mmap'd backing offset is at least 4 KiB aligned, and a 64-bit address shifted by
 * 12 is below 2^52, so a double holds it exactly and the comparison needs no BigInt.
 */
export const PAGE_SHIFT = 12
export const PAGE_SIZE = 1 << PAGE_SHIFT

/**
 * Permission bits of leaves and areas: Linux's `IOMMU_*` prot flags (include/linux/iommu.h), so
 * a real backend copies them and an emulated one maps its descriptor bits onto them once.
 */
export const PROT = {
  READ: 1 << 0,
  WRITE: 1 << 1,
  /** Cache-coherent (snoop / inner-shareable write-back). */
  CACHE: 1 << 2,
  NOEXEC: 1 << 3,
  MMIO: 1 << 4,
  PRIV: 1 << 5,
} as const

/** `file` column value of a leaf or area whose backing is unknown or anonymous. */
export const NO_FILE = 0xffffffff

/**
 * Content-defined chunking of the leaf view (see leaf-merkle.ts): a leaf starts a chunk when the
 * low CHUNK_BITS bits of the hash of its IOVA are zero (about 1024 leaves a chunk); a level-k node
 * of the tree starts where the low CHUNK_BITS + k*FANOUT_BITS bits are zero (fan-out about 16).
 */
export const CHUNK_BITS = 10
export const FANOUT_BITS = 4
