import type { PhysicalMemory } from '../../memory/physical-memory.js'
import { SL_PTE, type SlReservedMasks } from './sl-pte.js'

/**
 * The hardware's second-level page walk (VT-d spec §3.7 "Second-Stage Translation", §9.8; QEMU
 * `vtd_iova_to_slpte`). Pure: reads 64-bit entries from PhysicalMemory, writes nothing.
 *
 * Rules, each from the spec / QEMU:
 * - Every level is checked, not only the leaf: an entry with R=W=0 is not present and the access
 *   faults as a permission fault (legacy 0x5/0x6, scalable 0x85/0x86; QEMU returns
 *   VTD_FR_WRITE/VTD_FR_READ for a non-present slpte). The effective permission is the AND of R/W
 *   over all levels; that is what an IOTLB entry caches.
 * - A present entry with a reserved bit set faults (legacy 0xC, scalable 0x7A).
 * - A table address outside memory faults (legacy 0x7, scalable 0x78).
 * - PS=1 at level 3 is a 1 GiB leaf, at level 2 a 2 MiB leaf; level 1 is always a 4 KiB leaf.
 *
 * No BigInt on this path: the 48-bit IOVA is split into two 32-bit halves once, entries are read
 * as two 32-bit words. In concurrent mode (`atomic`) each entry is one 64-bit Atomics.load, the
 * single-copy atomicity the CPU's 64-bit stores give (a torn 64-bit PTE is never observed).
 */
export const SL_WALK_OK = 0
/** R/W not permitting the access (including a non-present entry) at `faultLevel`. */
export const SL_WALK_PERMISSION = 1
/** Reserved bit set in a present entry at `faultLevel`. */
export const SL_WALK_RESERVED = 2
/** The table to read at `faultLevel` lies outside physical memory. */
export const SL_WALK_ACCESS_ERROR = 3

export class SlWalkResult {
  /** Output physical address of the access. */
  pa = 0
  /** Physical base of the leaf (page or superpage). */
  leafBase = 0
  /** Level of the leaf: 1 (4 KiB), 2 (2 MiB) or 3 (1 GiB). */
  leafLevel = 0
  /** Effective permission, AND over the levels: bit 0 read, bit 1 write. */
  perms = 0
  /** Level at which the walk faulted (0 when it did not). */
  faultLevel = 0
  /** Number of 64-bit entries read (for the benchmark's baseline). */
  entriesRead = 0
}

const TWO32 = 0x100000000
// Module-local copies of sl-pte.ts constants: tsx may compile an imported binding to a getter,
// which would put a call on every use in the walk.
const ADDR_LO = SL_PTE.ADDR_LO
const PS = SL_PTE.PS

/**
 * Walks `levels` (3 or 4) levels from the table at `root` for `iova` (< 2^48). `access` is 1 for
 * a read, 2 for a write. Returns one of the SL_WALK_* codes; details in `out`.
 */
export function slWalk(
  memory: PhysicalMemory,
  atomic: boolean,
  root: number,
  levels: number,
  iova: number,
  access: number,
  rsvd: SlReservedMasks,
  out: SlWalkResult,
): number {
  if (atomic) return slWalkAtomic(memory, root, levels, iova, access, rsvd, out)
  const u32 = memory.u32
  const size = memory.size
  const lo = iova >>> 0
  const hi = (iova / TWO32) >>> 0
  const rsvdHi = rsvd.hi
  // Unrolled by level (a loop indexed by level runs ~3× slower). Table addresses stay int32
  // arithmetic: memory is at most 4 GiB (VtdIommu checks), so a table address with bits above 31
  // set lies outside memory. Only a leaf's address may be larger.
  if (root + 4096 > size) return fail(out, levels, 0, SL_WALK_ACCESS_ERROR)
  let e: number
  let eh: number
  let w: number
  if (levels === 4) {
    // The common case first: four levels of tables down to a 4 KiB page, each entry tested once
    // (the access's R/W bit set, no reserved bit, no PS, a table below 4 GiB). Anything else —
    // a fault, a superpage — leaves this block and the walk below redoes it from the root with
    // every check in the spec's order (pure reads: the same entries, the same answer).
    const rl = rsvd.lo
    const hiTable = rsvdHi | 0xfffff
    let t = root >>> 0
    let p = 3
    w = (t >>> 2) + (((hi >>> 7) & 511) << 1)
    e = u32[w]
    if ((e & (rl[4] | access)) === access && (u32[w + 1] & hiTable) === 0) {
      p &= e
      t = (e & ADDR_LO) >>> 0
      if (t + 4096 <= size) {
        w = (t >>> 2) + ((((lo >>> 30) | (hi << 2)) & 511) << 1)
        e = u32[w]
        if ((e & (rl[3] | PS | access)) === access && (u32[w + 1] & hiTable) === 0) {
          p &= e
          t = (e & ADDR_LO) >>> 0
          if (t + 4096 <= size) {
            w = (t >>> 2) + (((lo >>> 21) & 511) << 1)
            e = u32[w]
            if ((e & (rl[2] | PS | access)) === access && (u32[w + 1] & hiTable) === 0) {
              p &= e
              t = (e & ADDR_LO) >>> 0
              if (t + 4096 <= size) {
                w = (t >>> 2) + (((lo >>> 12) & 511) << 1)
                e = u32[w]
                eh = u32[w + 1]
                if ((e & (rl[1] | access)) === access && (eh & rsvdHi) === 0) {
                  const addr = (eh & 0xfffff) * TWO32 + ((e & ADDR_LO) >>> 0)
                  out.pa = addr + (lo & 0xfff)
                  out.leafBase = addr
                  out.leafLevel = 1
                  out.perms = p & e & 3
                  out.faultLevel = 0
                  out.entriesRead = 4
                  return SL_WALK_OK
                }
              }
            }
          }
        }
      }
    }
  }
  let table = root >>> 0
  let perms = 3
  if (levels === 4) {
    w = (table >>> 2) + (((hi >>> 7) & 511) << 1)
    e = u32[w]
    eh = u32[w + 1]
    if ((e & 3) === 0) return fail(out, 4, 1, SL_WALK_PERMISSION)
    if ((e & rsvd.lo[4]) !== 0 || (eh & rsvdHi) !== 0) return fail(out, 4, 1, SL_WALK_RESERVED)
    perms &= e
    if ((perms & access) === 0) return fail(out, 4, 1, SL_WALK_PERMISSION)
    table = (e & ADDR_LO) >>> 0
    if ((eh & 0xfffff) !== 0 || table + 4096 > size) return fail(out, 3, 1, SL_WALK_ACCESS_ERROR)
  }
  const n3 = levels - 2 // entries read once level 3 is read
  // Level 3: table or 1 GiB leaf.
  w = (table >>> 2) + ((((lo >>> 30) | (hi << 2)) & 511) << 1)
  e = u32[w]
  eh = u32[w + 1]
  if ((e & 3) === 0) return fail(out, 3, n3, SL_WALK_PERMISSION)
  if ((e & PS) !== 0) {
    if ((e & rsvd.loLeaf[3]) !== 0 || (eh & rsvdHi) !== 0) return fail(out, 3, n3, SL_WALK_RESERVED)
    return leaf(out, perms & e, access, e, eh, lo & 0x3fffffff, 3, n3)
  }
  if ((e & rsvd.lo[3]) !== 0 || (eh & rsvdHi) !== 0) return fail(out, 3, n3, SL_WALK_RESERVED)
  perms &= e
  if ((perms & access) === 0) return fail(out, 3, n3, SL_WALK_PERMISSION)
  table = (e & ADDR_LO) >>> 0
  if ((eh & 0xfffff) !== 0 || table + 4096 > size) return fail(out, 2, n3, SL_WALK_ACCESS_ERROR)
  // Level 2: table or 2 MiB leaf.
  w = (table >>> 2) + (((lo >>> 21) & 511) << 1)
  e = u32[w]
  eh = u32[w + 1]
  if ((e & 3) === 0) return fail(out, 2, n3 + 1, SL_WALK_PERMISSION)
  if ((e & PS) !== 0) {
    if ((e & rsvd.loLeaf[2]) !== 0 || (eh & rsvdHi) !== 0) return fail(out, 2, n3 + 1, SL_WALK_RESERVED)
    return leaf(out, perms & e, access, e, eh, lo & 0x1fffff, 2, n3 + 1)
  }
  if ((e & rsvd.lo[2]) !== 0 || (eh & rsvdHi) !== 0) return fail(out, 2, n3 + 1, SL_WALK_RESERVED)
  perms &= e
  if ((perms & access) === 0) return fail(out, 2, n3 + 1, SL_WALK_PERMISSION)
  table = (e & ADDR_LO) >>> 0
  if ((eh & 0xfffff) !== 0 || table + 4096 > size) return fail(out, 1, n3 + 1, SL_WALK_ACCESS_ERROR)
  // Level 1: 4 KiB leaf.
  w = (table >>> 2) + (((lo >>> 12) & 511) << 1)
  e = u32[w]
  eh = u32[w + 1]
  if ((e & 3) === 0) return fail(out, 1, n3 + 2, SL_WALK_PERMISSION)
  if ((e & rsvd.lo[1]) !== 0 || (eh & rsvdHi) !== 0) return fail(out, 1, n3 + 2, SL_WALK_RESERVED)
  // The 4 KiB leaf, inline (the common case; `leaf` below does the same for superpages).
  perms &= e & 3
  if ((perms & access) === 0) return fail(out, 1, n3 + 2, SL_WALK_PERMISSION)
  const addr = (eh & 0xfffff) * TWO32 + ((e & ADDR_LO) >>> 0)
  out.pa = addr + (lo & 0xfff)
  out.leafBase = addr
  out.leafLevel = 1
  out.perms = perms
  out.faultLevel = 0
  out.entriesRead = n3 + 2
  return SL_WALK_OK
}

function leaf(
  out: SlWalkResult,
  perms: number,
  access: number,
  e: number,
  eh: number,
  offset: number,
  level: number,
  reads: number,
): number {
  perms &= 3
  if ((perms & access) === 0) return fail(out, level, reads, SL_WALK_PERMISSION)
  const addr = (eh & 0xfffff) * TWO32 + ((e & ADDR_LO) >>> 0)
  out.pa = addr + offset
  out.leafBase = addr
  out.leafLevel = level
  out.perms = perms
  out.faultLevel = 0
  out.entriesRead = reads
  return SL_WALK_OK
}

function fail(out: SlWalkResult, level: number, reads: number, code: number): number {
  out.faultLevel = level
  out.entriesRead = reads
  return code
}

/** Concurrent mode: the same rules, each entry one 64-bit Atomics.load (kept out of the fast path). */
function slWalkAtomic(
  memory: PhysicalMemory,
  root: number,
  levels: number,
  iova: number,
  access: number,
  rsvd: SlReservedMasks,
  out: SlWalkResult,
): number {
  const size = memory.size
  const ivaLo = iova >>> 0
  const ivaHi = (iova / TWO32) >>> 0
  if (root + 4096 > size) return fail(out, levels, 0, SL_WALK_ACCESS_ERROR)
  let table = root
  let perms = 3
  let reads = 0
  for (let level = levels; level >= 1; level--) {
    let index: number
    if (level === 1) index = (ivaLo >>> 12) & 511
    else if (level === 2) index = (ivaLo >>> 21) & 511
    else if (level === 3) index = ((ivaLo >>> 30) | (ivaHi << 2)) & 511
    else index = (ivaHi >>> 7) & 511
    const v = Atomics.load(memory.i64, (table + index * 8) / 8)
    const lo = Number(BigInt.asUintN(32, v))
    const hi = Number(BigInt.asUintN(32, v >> 32n))
    reads++
    const rw = lo & 3
    if (rw === 0) return fail(out, level, reads, SL_WALK_PERMISSION)
    const isLeaf = level === 1 || (level !== 4 && (lo & SL_PTE.PS) !== 0)
    const loMask = isLeaf && level !== 1 ? rsvd.loLeaf[level] : rsvd.lo[level]
    if ((lo & loMask) !== 0 || (hi & rsvd.hi) !== 0) return fail(out, level, reads, SL_WALK_RESERVED)
    if (isLeaf) {
      const offset = level === 1 ? ivaLo & 0xfff : level === 2 ? ivaLo & 0x1fffff : ivaLo & 0x3fffffff
      return leaf(out, perms & rw, access, lo, hi, offset, level, reads)
    }
    perms &= rw
    if ((perms & access) === 0) return fail(out, level, reads, SL_WALK_PERMISSION)
    table = (hi & 0xfffff) * TWO32 + ((lo & SL_PTE.ADDR_LO) >>> 0)
    if (table + 4096 > size) return fail(out, level - 1, reads, SL_WALK_ACCESS_ERROR)
  }
  return fail(out, 1, reads, SL_WALK_RESERVED)
}
