import { PAGE_SHIFT, PAGE_SIZE, type PhysicalMemory } from './physical-memory.js'

/**
 * A 4 KiB frame allocator over PhysicalMemory with a record of which frames are preserved across
 * kexec (in the spirit of KHO: the old kernel marks frames, the new kernel must not reuse them).
 *
 * The allocator's own bookkeeping is kernel state: it dies at kexec. A new kernel rebuilds it
 * with `reserve()` for every frame the handover says is in use.
 */
export class FrameAllocator {
  private readonly used: Uint8Array
  private readonly preserved: Uint8Array
  private next = 0
  private inUse = 0

  constructor(
    readonly memory: PhysicalMemory,
    /** Frames below this index are never handed out (firmware, "kernel image"). */
    readonly firstFrame = 1,
  ) {
    this.used = new Uint8Array(memory.frameCount)
    this.preserved = new Uint8Array(memory.frameCount)
    this.next = firstFrame
    for (let f = 0; f < firstFrame; f++) this.used[f] = 1
  }

  get framesInUse(): number {
    return this.inUse
  }

  get framesFree(): number {
    return this.memory.frameCount - this.firstFrame - this.inUse
  }

  /** Allocates one zeroed frame and returns its physical address. */
  alloc(): number {
    const n = this.memory.frameCount
    for (let scanned = 0; scanned < n; scanned++) {
      const f = this.next
      this.next = f + 1 >= n ? this.firstFrame : f + 1
      if (!this.used[f]) {
        this.used[f] = 1
        this.inUse++
        const pa = f << PAGE_SHIFT
        this.memory.zero(pa, PAGE_SIZE)
        return pa
      }
    }
    throw new RangeError('out of emulated physical memory')
  }

  /** Allocates `count` physically contiguous, naturally unaligned frames (queues, linear tables). */
  allocContiguous(count: number, alignFrames = 1): number {
    const n = this.memory.frameCount
    let start = Math.ceil(this.firstFrame / alignFrames) * alignFrames
    while (start + count <= n) {
      let ok = true
      for (let f = start; f < start + count; f++) {
        if (this.used[f]) {
          ok = false
          start = Math.ceil((f + 1) / alignFrames) * alignFrames
          break
        }
      }
      if (ok) {
        for (let f = start; f < start + count; f++) this.used[f] = 1
        this.inUse += count
        const pa = start << PAGE_SHIFT
        this.memory.zero(pa, count << PAGE_SHIFT)
        return pa
      }
    }
    throw new RangeError(`no ${count} contiguous free frames`)
  }

  free(pa: number): void {
    const f = pa >>> PAGE_SHIFT
    if (!this.used[f]) throw new Error(`double free of frame 0x${pa.toString(16)}`)
    this.used[f] = 0
    this.preserved[f] = 0
    this.inUse--
  }

  /** Marks a frame as in use without zeroing it (a new kernel taking over preserved frames). */
  reserve(pa: number): void {
    const f = pa >>> PAGE_SHIFT
    if (!this.used[f]) {
      this.used[f] = 1
      this.inUse++
    }
  }

  isUsed(pa: number): boolean {
    return this.used[pa >>> PAGE_SHIFT] === 1
  }

  /** Marks frames [pa, pa+length) as preserved across kexec. */
  preserve(pa: number, length = PAGE_SIZE): void {
    for (let f = pa >>> PAGE_SHIFT; f < (pa + length) >>> PAGE_SHIFT; f++) this.preserved[f] = 1
  }

  unpreserve(pa: number, length = PAGE_SIZE): void {
    for (let f = pa >>> PAGE_SHIFT; f < (pa + length) >>> PAGE_SHIFT; f++) this.preserved[f] = 0
  }

  isPreserved(pa: number): boolean {
    return this.preserved[pa >>> PAGE_SHIFT] === 1
  }

  /** Physical addresses of every preserved frame, ascending. */
  preservedFrames(): number[] {
    const out: number[] = []
    for (let f = 0; f < this.preserved.length; f++) if (this.preserved[f]) out.push(f << PAGE_SHIFT)
    return out
  }
}
