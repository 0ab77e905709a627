import type { SnapshotHeader } from './snapshot-header.js'

/**
 * The leaf view of one HWPT: one row per leaf, sorted by IOVA, non-overlapping; addresses,
 * offsets in 4 KiB pages (see PAGE_SHIFT). Columns a backend cannot observe are absent
 * (capabilities.physicalAddresses, capabilities.backing). Decoded columns are views into the
 * snapshot's bytes: no object per leaf.
 */
export interface LeafTable {
  count: number
  iova: Float64Array
  /** log2 of the leaf size in bytes (12 for 4 KiB, 21 for 2 MiB, 30 for 1 GiB). */
  sizeLog2: Uint8Array
  /** PROT bits. */
  prot: Uint8Array
  pa?: Float64Array
  /** Index into SnapshotHeader.files, or NO_FILE. */
  file?: Uint32Array
  offset?: Float64Array
}

/** The areas of one IOAS: sorted by IOVA, non-overlapping; in 4 KiB pages. */
export interface AreaTable {
  count: number
  iova: Float64Array
  pages: Float64Array
  prot: Uint8Array
  file: Uint32Array
  offset: Float64Array
}

/**
 * One level of a leaf view's Merkle tree: node i covers leaves [firstLeaf[i], firstLeaf[i+1])
 * (the last one to the end); its hash is 32 bytes at hashes[32i]. Level 0 nodes are chunks of
 * leaves; a level-k node's hash is the hash of its children's hashes.
 */
export interface MerkleLevel {
  count: number
  firstLeaf: Uint32Array
  hashes: Uint8Array
}

export interface HwptSnapshot {
  key: string
  id?: number
  ioas: string
  leaves: LeafTable
  /** Levels from chunks (0) up to the root (a level of one node); empty for no leaves. */
  merkle: MerkleLevel[]
}

export interface IoasSnapshot {
  key: string
  id?: number
  areas: AreaTable
}

/** A decoded snapshot. */
export interface Snapshot {
  header: SnapshotHeader
  ioas: IoasSnapshot[]
  hwpts: HwptSnapshot[]
}
