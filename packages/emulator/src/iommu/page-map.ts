/** Capacity (slots) up to which `clear()` keeps the array instead of shrinking it. */
const KEEP_ON_CLEAR = 1 << 16

/**
 * Open-addressing hash of page number (a non-negative integer below 2^53) → entry (a
 * non-negative number), in one typed array (linear probing, tombstones): a JS Map costs several
 * times more per lookup on a translation hot path. Both IOTLB models (SMMUv3, VT-d) keep their
 * entries in these. `get` returns -1 for a missing key.
 *
 * Layout: slot i is `t[2i]` (key; -1 empty, -2 deleted) and `t[2i + 1]` (value), so a probe
 * touches one cache line for both, and the load stays at most 1/2. A `get` that misses
 * remembers where `set` would put that key; a `set` of the same key right after (the IOTLB fill
 * after a miss and a walk) writes there without probing again. Any change to the map forgets it.
 * The hot paths use literals, not module constants, so that the compiler folds them.
 */
export class PageMap {
  /** Keys and values interleaved; key -1: empty, -2: deleted. */
  private t = new Float64Array(32).fill(-1)
  private mask = 15
  private used = 0
  /** Key of the last `get` miss (-1: none) and the slot `set` would use for it. */
  private hintKey = -1
  private hintSlot = 0
  size = 0

  private static slot(k: number): number {
    return Math.imul((k >>> 0) ^ ((k / 4294967296) >>> 0), 0x9e3779b1) >>> 0
  }

  get(k: number): number {
    const t = this.t
    const mask = this.mask
    let tomb = -1
    for (let i = Math.imul((k >>> 0) ^ ((k / 4294967296) >>> 0), 0x9e3779b1) & mask; ; i = (i + 1) & mask) {
      const x = t[2 * i]
      if (x === k) return t[2 * i + 1]
      if (x === -1) {
        this.hintKey = k
        this.hintSlot = tomb >= 0 ? tomb : i
        return -1
      }
      if (x === -2 && tomb < 0) tomb = i
    }
  }

  has(k: number): boolean {
    return this.get(k) !== -1
  }

  /** Sets `k` to `v`; returns true when `k` was not present before. */
  set(k: number, v: number): boolean {
    const t = this.t
    if (k === this.hintKey) {
      // Nothing changed since `get(k)` missed: `hintSlot` is the first free slot on k's path.
      const at = this.hintSlot
      if (t[2 * at] === -1) this.used++
      t[2 * at] = k
      t[2 * at + 1] = v
      this.size++
      this.hintKey = -1
      if (this.used * 2 > this.mask + 1) this.rehash()
      return true
    }
    const mask = this.mask
    let tomb = -1
    for (let i = PageMap.slot(k) & mask; ; i = (i + 1) & mask) {
      const x = t[2 * i]
      if (x === k) {
        t[2 * i + 1] = v
        return false
      }
      if (x === -2 && tomb < 0) tomb = i
      if (x === -1) {
        const at = tomb >= 0 ? tomb : i
        if (tomb < 0) this.used++
        t[2 * at] = k
        t[2 * at + 1] = v
        this.size++
        this.hintKey = -1
        if (this.used * 2 > mask + 1) this.rehash()
        return true
      }
    }
  }

  delete(k: number): boolean {
    const t = this.t
    const mask = this.mask
    for (let i = PageMap.slot(k) & mask; ; i = (i + 1) & mask) {
      const x = t[2 * i]
      if (x === k) {
        t[2 * i] = -2
        this.size--
        this.hintKey = -1
        return true
      }
      if (x === -1) return false
    }
  }

  /** Empties the map (keeps its array up to 64 Ki slots: an IOTLB refills to the same size). */
  clear(): void {
    this.hintKey = -1
    if (this.size === 0 && this.used === 0) return
    if (this.mask < KEEP_ON_CLEAR) this.t.fill(-1)
    else {
      this.t = new Float64Array(32).fill(-1)
      this.mask = 15
    }
    this.used = 0
    this.size = 0
  }

  *entryKeys(): IterableIterator<number> {
    const t = this.t
    for (let i = 0; i < t.length; i += 2) if (t[i] >= 0) yield t[i]
  }

  /**
   * More than half the slots used (live or deleted): rebuild without the tombstones, at twice the
   * size when more than a quarter of the slots hold live entries.
   */
  private rehash(): void {
    const old = this.t
    const slots = this.size * 4 > this.mask + 1 ? (this.mask + 1) * 2 : this.mask + 1
    this.t = new Float64Array(slots * 2).fill(-1)
    this.mask = slots - 1
    this.used = 0
    this.size = 0
    this.hintKey = -1
    for (let i = 0; i < old.length; i += 2) if (old[i] >= 0) this.set(old[i], old[i + 1])
  }
}
