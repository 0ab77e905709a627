import type { CpuStorePort } from '../cpu/cpu-store-port.js'
import type { EntrySeqlock } from './seqlock.js'

/**
 * How the kernel side stores VT-d entries: 64-bit stores (WRITE_ONCE) and the x86-64 128-bit
 * compare-exchange (cmpxchg16b, `arch_cmpxchg128_local` in the Jan 2026 atomicity series), all
 * through the CPU store port so that the deterministic scheduler sees every store boundary.
 *
 * In concurrent mode (`port.atomic` and a seqlock given) each store is a seqlock write section
 * (seqlock.ts): a 64-bit store is one section, a cmpxchg128 one section covering both halves,
 * so the DMA worker's 128-bit reads observe exactly the states between stores. In deterministic
 * mode the seqlock is not touched.
 *
 * Every CPU store to root, context, PASID-directory and PASID entries must go through this
 * writer in concurrent mode (page-table entries need not: they are read 64 bits at a time).
 */
export class VtdEntryWriter {
  private readonly lock: EntrySeqlock | undefined

  constructor(
    readonly port: CpuStorePort,
    seqlock?: EntrySeqlock,
  ) {
    this.lock = port.atomic ? seqlock : undefined
  }

  read64(pa: number): bigint {
    return this.port.read64(pa)
  }

  store64(pa: number, value: bigint): void {
    const lock = this.lock
    if (lock) lock.writeBegin(pa)
    try {
      this.port.store64(pa, value)
    } finally {
      if (lock) lock.writeEnd(pa)
    }
  }

  /** One 128-bit compare-exchange: the device sees the old or the new 16 bytes, nothing between. */
  cmpxchg128(pa: number, expectLo: bigint, expectHi: bigint, lo: bigint, hi: bigint): boolean {
    const lock = this.lock
    if (lock) lock.writeBegin(pa)
    try {
      return this.port.cmpxchg128(pa, expectLo, expectHi, lo, hi)
    } finally {
      if (lock) lock.writeEnd(pa)
    }
  }

  /** Stores qwords one by one in the given order of indices (each a store boundary). */
  storeQwords(pa: number, qwords: readonly bigint[], order: readonly number[]): void {
    for (const i of order) this.store64(pa + i * 8, qwords[i])
  }
}
