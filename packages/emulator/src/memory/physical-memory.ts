/**
 * Emulated physical memory: the one place where every hardware structure lives (stream tables,
 * context descriptors, page tables, root/context/PASID tables, queues). Devices and the emulated
 * CPU see the same bytes, as on a real machine; nothing about an IOMMU's state may live in a JS
 * object that a kexec would not destroy.
 *
 * Backed by a SharedArrayBuffer so that a DMA worker thread can walk tables concurrently with the
 * CPU (concurrent mode). All multi-byte accesses are little-endian, as on x86-64 and AArch64.
 *
 * Atomicity: a 64-bit word is read or written with one Atomics operation on a BigInt64Array
 * view in concurrent mode (the CPU's 64-bit store, the SMMU's 64-bit read). The 32-bit half
 * accessors are for the single-threaded fast path (deterministic mode), where no other agent
 * can observe a torn word.
 */
export const PAGE_SHIFT = 12
export const PAGE_SIZE = 1 << PAGE_SHIFT

/** Value written over every byte of a frame that did not survive a kexec. */
export const POISON_WORD32 = 0xdeadbeef

export class PhysicalMemory {
  readonly size: number
  readonly buffer: SharedArrayBuffer
  /** Little-endian 32-bit view: word index = pa >>> 2. */
  readonly u32: Uint32Array
  /** 64-bit view for Atomics (concurrent mode): word index = pa / 8. */
  readonly i64: BigInt64Array
  readonly u8: Uint8Array

  constructor(sizeOrBuffer: number | SharedArrayBuffer) {
    if (typeof sizeOrBuffer === 'number') {
      if (sizeOrBuffer <= 0 || sizeOrBuffer % PAGE_SIZE !== 0) {
        throw new RangeError(`physical memory size must be a positive multiple of ${PAGE_SIZE}`)
      }
      this.buffer = new SharedArrayBuffer(sizeOrBuffer)
    } else {
      this.buffer = sizeOrBuffer
    }
    this.size = this.buffer.byteLength
    this.u32 = new Uint32Array(this.buffer)
    this.i64 = new BigInt64Array(this.buffer)
    this.u8 = new Uint8Array(this.buffer)
  }

  get frameCount(): number {
    return this.size >>> PAGE_SHIFT
  }

  contains(pa: number, length = 1): boolean {
    return pa >= 0 && pa + length <= this.size
  }

  read32(pa: number): number {
    return this.u32[pa >>> 2]
  }

  write32(pa: number, value: number): void {
    this.u32[pa >>> 2] = value
  }

  /** Plain (non-atomic) 64-bit read; pa must be 8-byte aligned. */
  read64(pa: number): bigint {
    const i = pa >>> 2
    return (BigInt(this.u32[i + 1]) << 32n) | BigInt(this.u32[i])
  }

  /** Plain (non-atomic) 64-bit write; pa must be 8-byte aligned. */
  write64(pa: number, value: bigint): void {
    const i = pa >>> 2
    this.u32[i] = Number(value & 0xffffffffn)
    this.u32[i + 1] = Number((value >> 32n) & 0xffffffffn)
  }

  /** Single-copy-atomic 64-bit read, as a device or CPU performs it (concurrent mode). */
  atomicRead64(pa: number): bigint {
    return BigInt.asUintN(64, Atomics.load(this.i64, pa / 8))
  }

  /** Single-copy-atomic 64-bit store, as the CPU's STR/MOV performs it (concurrent mode). */
  atomicWrite64(pa: number, value: bigint): void {
    Atomics.store(this.i64, pa / 8, BigInt.asIntN(64, value))
  }

  zero(pa: number, length: number): void {
    this.u8.fill(0, pa, pa + length)
  }

  /** Overwrites a range with the poison pattern (what a new kernel finds in unpreserved frames). */
  poison(pa: number, length: number): void {
    this.u32.fill(POISON_WORD32, pa >>> 2, (pa + length) >>> 2)
  }
}
