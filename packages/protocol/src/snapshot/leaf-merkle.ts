import { createHash } from 'node:crypto'
import { CHUNK_BITS, FANOUT_BITS } from './snapshot-format.js'
import type { LeafTable, MerkleLevel } from './snapshot.js'

const HASH_BYTES = 32
/** Past this many low bits the boundary hash is exhausted: the next level is the root. */
const MAX_BITS = 30

/**
 * A 32-bit mix (murmur3 finaliser) of an IOVA page number. Chunk boundaries depend on the IOVA
 * alone, not on a leaf's position: a missing or extra mapping changes its own chunk, not every
 * chunk after it, so a difference costs O(log n) nodes to find.
 */
export function iovaBoundaryHash(pfn: number): number {
  const lo = pfn >>> 0
  const hi = Math.floor(pfn / 4294967296) >>> 0
  let h = Math.imul(lo ^ Math.imul(hi, 0x9e3779b1), 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/** Does leaf `i` start a node at a level whose boundary takes `bits` low zero bits? */
function startsNode(iova: Float64Array, i: number, bits: number): boolean {
  return i === 0 || (iovaBoundaryHash(iova[i]) & ((1 << bits) - 1)) === 0
}

function bytesOf(a: ArrayBufferView, from: number, to: number, width: number): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset + from * width, (to - from) * width)
}

/** Columns that a chunk hash covers, in a fixed order; the mask says which are present. */
function chunkHasher(t: LeafTable): (from: number, to: number) => Uint8Array {
  const mask = (t.pa ? 1 : 0) | (t.file ? 2 : 0) | (t.offset ? 4 : 0)
  const tag = Uint8Array.of(mask)
  return (from, to) => {
    const h = createHash('sha256').update(tag)
    h.update(bytesOf(t.iova, from, to, 8))
    h.update(bytesOf(t.sizeLog2, from, to, 1))
    h.update(bytesOf(t.prot, from, to, 1))
    if (t.pa) h.update(bytesOf(t.pa, from, to, 8))
    if (t.file) h.update(bytesOf(t.file, from, to, 4))
    if (t.offset) h.update(bytesOf(t.offset, from, to, 8))
    return h.digest()
  }
}

/**
 * The Merkle tree over a leaf view: hashes of content-defined chunks of the IOVA-sorted leaf
 * columns, then of groups of chunks, up to one root. It hashes translations (IOVA, size,
 * permissions, PA, backing), never page-table pages: descriptors hold next-level physical
 * addresses, so fresh tables with identical translations would differ everywhere.
 */
export function buildLeafMerkle(t: LeafTable): MerkleLevel[] {
  if (t.count === 0) return []
  const hashChunk = chunkHasher(t)
  const starts: number[] = []
  for (let i = 0; i < t.count; i++) if (startsNode(t.iova, i, CHUNK_BITS)) starts.push(i)
  const firstLeaf = Uint32Array.from(starts)
  const hashes = new Uint8Array(firstLeaf.length * HASH_BYTES)
  for (let c = 0; c < firstLeaf.length; c++) {
    const end = c + 1 < firstLeaf.length ? firstLeaf[c + 1] : t.count
    hashes.set(hashChunk(firstLeaf[c], end), c * HASH_BYTES)
  }
  const levels: MerkleLevel[] = [{ count: firstLeaf.length, firstLeaf, hashes }]
  let bits = CHUNK_BITS
  while (levels[levels.length - 1].count > 1) {
    const below = levels[levels.length - 1]
    bits += FANOUT_BITS
    const groupStarts: number[] = []
    for (let c = 0; c < below.count; c++) {
      if (c === 0 || (bits <= MAX_BITS && startsNode(t.iova, below.firstLeaf[c], bits))) groupStarts.push(c)
    }
    const fl = new Uint32Array(groupStarts.length)
    const hs = new Uint8Array(groupStarts.length * HASH_BYTES)
    for (let g = 0; g < groupStarts.length; g++) {
      const from = groupStarts[g]
      const to = g + 1 < groupStarts.length ? groupStarts[g + 1] : below.count
      fl[g] = below.firstLeaf[from]
      const h = createHash('sha256').update(Uint8Array.of(0xff))
      h.update(below.hashes.subarray(from * HASH_BYTES, to * HASH_BYTES))
      hs.set(h.digest(), g * HASH_BYTES)
    }
    levels.push({ count: fl.length, firstLeaf: fl, hashes: hs })
  }
  return levels
}

export const MERKLE_HASH_BYTES = HASH_BYTES

/** Are node `i` of `a` and node `j` of `b` the same hash? */
export function sameNodeHash(a: MerkleLevel, i: number, b: MerkleLevel, j: number): boolean {
  const x = a.hashes
  const y = b.hashes
  const oi = i * HASH_BYTES
  const oj = j * HASH_BYTES
  for (let k = 0; k < HASH_BYTES; k++) if (x[oi + k] !== y[oj + k]) return false
  return true
}
