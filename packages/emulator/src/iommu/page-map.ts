const EMPTY = -1
const DELETED = -2
/** Capacity (slots) up to which `clear()` keeps the arrays instead of shrinking them. */
const KEEP_ON_CLEAR = 1 << 16

/**
 * Open-addressing hash of page number (a non-negative integer below 2^53) → entry (a
 * non-negative number), in typed arrays (linear probing, tombstones): a JS Map costs several
 * times more per lookup on a translation hot path. Both IOTLB models (SMMUv3, VT-d) keep their
 * entries in these. `get` returns -1 for a missing key.
 */
export class PageMap {
  private keys = new Float64Array(16).fill(EMPTY)
  private vals = new Float64Array(16)
  private mask = 15
  private used = 0
  size = 0

  private static slot(k: number): number {
    return Math.imul((k >>> 0) ^ ((k / 0x100000000) >>> 0), 0x9e3779b1) >>> 0
  }

  get(k: number): number {
    const keys = this.keys
    const mask = this.mask
    for (let i = PageMap.slot(k) & mask; ; i = (i + 1) & mask) {
      const x = keys[i]
      if (x === k) return this.vals[i]
      if (x === EMPTY) return -1
    }
  }

  has(k: number): boolean {
    return this.get(k) !== -1
  }

  /** Sets `k` to `v`; returns true when `k` was not present before. */
  set(k: number, v: number): boolean {
    const keys = this.keys
    const mask = this.mask
    let tomb = -1
    for (let i = PageMap.slot(k) & mask; ; i = (i + 1) & mask) {
      const x = keys[i]
      if (x === k) {
        this.vals[i] = v
        return false
      }
      if (x === DELETED && tomb < 0) tomb = i
      if (x === EMPTY) {
        const at = tomb >= 0 ? tomb : i
        if (tomb < 0) this.used++
        keys[at] = k
        this.vals[at] = v
        this.size++
        if (this.used * 2 > mask) this.rehash(this.size * 4 > mask ? (mask + 1) * 2 : mask + 1)
        return true
      }
    }
  }

  delete(k: number): boolean {
    const keys = this.keys
    const mask = this.mask
    for (let i = PageMap.slot(k) & mask; ; i = (i + 1) & mask) {
      const x = keys[i]
      if (x === k) {
        keys[i] = DELETED
        this.size--
        return true
      }
      if (x === EMPTY) return false
    }
  }

  /** Empties the map (keeps its arrays up to 64 Ki slots: an IOTLB refills to the same size). */
  clear(): void {
    if (this.size === 0 && this.used === 0) return
    if (this.keys.length <= KEEP_ON_CLEAR) this.keys.fill(EMPTY)
    else {
      this.keys = new Float64Array(16).fill(EMPTY)
      this.vals = new Float64Array(16)
      this.mask = 15
    }
    this.used = 0
    this.size = 0
  }

  *entryKeys(): IterableIterator<number> {
    const keys = this.keys
    for (let i = 0; i < keys.length; i++) if (keys[i] >= 0) yield keys[i]
  }

  private rehash(capacity: number): void {
    const oldKeys = this.keys
    const oldVals = this.vals
    this.keys = new Float64Array(capacity).fill(EMPTY)
    this.vals = new Float64Array(capacity)
    this.mask = capacity - 1
    this.used = 0
    this.size = 0
    for (let i = 0; i < oldKeys.length; i++) if (oldKeys[i] >= 0) this.set(oldKeys[i], oldVals[i])
  }
}
