import type { PhysicalMemory } from '../memory/physical-memory.js'
import type { EntrySeqlock } from './seqlock.js'

/**
 * How the VT-d hardware reads its in-memory structures: root, context and PASID entries in
 * 128-bit chunks (see seqlock.ts for the source), 64-bit PASID-directory and paging entries as
 * single 64-bit reads. Entries are handled as little-endian 32-bit words on the hardware side (no
 * BigInt on the translation path) and as 64-bit bigint qwords on the CPU side (what
 * CpuStorePort stores).
 */
export const TWO32 = 0x100000000

/** Reads the 128-bit chunk at `pa` into out[0..3]: plain in deterministic mode, seqlocked else. */
export function readChunk128(
  memory: PhysicalMemory,
  seqlock: EntrySeqlock | undefined,
  pa: number,
  out: Uint32Array,
): void {
  if (seqlock) {
    seqlock.read128(memory.u32, pa, out)
    return
  }
  const u32 = memory.u32
  const w = pa >>> 2
  out[0] = u32[w]
  out[1] = u32[w + 1]
  out[2] = u32[w + 2]
  out[3] = u32[w + 3]
}

/** Reads the 64-bit word at `pa` into out[0..1]; one Atomics.load in concurrent mode. */
export function readQword(memory: PhysicalMemory, atomic: boolean, pa: number, out: Uint32Array): void {
  if (atomic) {
    const v = Atomics.load(memory.i64, pa / 8)
    out[0] = Number(BigInt.asUintN(32, v))
    out[1] = Number(BigInt.asUintN(32, v >> 32n))
    return
  }
  const w = pa >>> 2
  out[0] = memory.u32[w]
  out[1] = memory.u32[w + 1]
}

/** Address field [51:12] of a 64-bit entry given as two words. */
export const entryAddr = (lo: number, hi: number): number =>
  (hi & 0xfffff) * TWO32 + ((lo & 0xfffff000) >>> 0)

/** Mask of the high word's bits at and above the host address width (up to bit 63). */
export const aboveHawHi = (haw: number): number => ~((2 ** (haw - 32) - 1) >>> 0) >>> 0

export const qwordToWords = (q: bigint): [number, number] => [
  Number(q & 0xffffffffn),
  Number((q >> 32n) & 0xffffffffn),
]

export const wordsToQword = (lo: number, hi: number): bigint => (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0)

/** Splits qwords into a Uint32Array of words (how the hardware sees them). */
export function qwordsToWords(qwords: readonly bigint[]): Uint32Array {
  const out = new Uint32Array(qwords.length * 2)
  qwords.forEach((q, i) => {
    const [lo, hi] = qwordToWords(q)
    out[i * 2] = lo
    out[i * 2 + 1] = hi
  })
  return out
}

/** An address as the [63:12] field of a qword (bigint). */
export const addrField = (addr: number): bigint => BigInt(addr) & ~0xfffn
