/**
 * Sequence lock that makes the VT-d hardware's 128-bit entry reads atomic in concurrent mode.
 *
 * Why: VT-d hardware fetches context and PASID entries in 128-bit chunks (Lu Baolu, "iommu/vt-d:
 * Ensure atomicity in context and PASID entry updates", Jan 2026: "The Intel VT-d hardware fetches
 * translation table entries (context entries and PASID entries) in 128-bit (16-byte) chunks"),
 * and x86-64 can replace a 128-bit context entry with one cmpxchg16b. JavaScript has 64-bit
 * Atomics at most, so in concurrent mode (a DMA worker walking tables while the main thread
 * writes them) a device reading the two halves with two loads could combine a low half from
 * before a store with a high half from after a later one: a value memory never held.
 *
 * How: one 32-bit counter per 4 KiB frame, in its own SharedArrayBuffer (pass `buffer` to the
 * worker). Every CPU store to VT-d entry memory in concurrent mode is a write section:
 * `writeBegin` makes the frame's counter odd, the store (a 64-bit `store64` or both halves of a
 * `cmpxchg128`) happens, `writeEnd` makes it even again. A device reading a 128-bit chunk
 * (`read128`) loads the counter, spins while it is odd, reads the four 32-bit words with
 * Atomics.load, and retries if the counter changed meanwhile. The chunk it returns is therefore
 * exactly what memory held at one store boundary:
 * - two 64-bit stores of one entry are two write sections, so a device may see the half-written
 *   entry between them (as on hardware: that is the hazard the kernel avoids with cmpxchg16b);
 * - a cmpxchg128 is one write section, so a device sees the old or the new entry, never a mix.
 * Writers are one thread (the emulated CPU); readers never write the counter.
 *
 * Deterministic mode (one thread) needs no lock: a translation runs between two stores, never
 * during one. The lock must not be used there: a DMA step run from a store listener inside a
 * write section would spin forever (read128 throws instead after a bounded spin).
 */
export class EntrySeqlock {
  readonly buffer: SharedArrayBuffer
  private readonly seq: Int32Array

  constructor(frameCountOrBuffer: number | SharedArrayBuffer) {
    this.buffer =
      typeof frameCountOrBuffer === 'number'
        ? new SharedArrayBuffer(frameCountOrBuffer * 4)
        : frameCountOrBuffer
    this.seq = new Int32Array(this.buffer)
  }

  writeBegin(pa: number): void {
    Atomics.add(this.seq, Math.floor(pa / 4096), 1)
  }

  writeEnd(pa: number): void {
    Atomics.add(this.seq, Math.floor(pa / 4096), 1)
  }

  /** Current counter of the frame holding `pa` (even when no write is in progress). */
  sequence(pa: number): number {
    return Atomics.load(this.seq, Math.floor(pa / 4096))
  }

  /**
   * Reads the 16-byte aligned chunk at `pa` into out[0..3] (little-endian 32-bit words) as one
   * atomic 128-bit read.
   */
  read128(u32: Uint32Array, pa: number, out: Uint32Array): void {
    const f = Math.floor(pa / 4096)
    const w = pa >>> 2
    for (let spins = 0; ; spins++) {
      const s = Atomics.load(this.seq, f)
      if ((s & 1) === 0) {
        out[0] = Atomics.load(u32, w)
        out[1] = Atomics.load(u32, w + 1)
        out[2] = Atomics.load(u32, w + 2)
        out[3] = Atomics.load(u32, w + 3)
        if (Atomics.load(this.seq, f) === s) return
      }
      if (spins > 50_000_000) {
        throw new Error(
          `seqlock of frame 0x${(f * 4096).toString(16)} never released (used from the writer's thread?)`,
        )
      }
    }
  }
}
