import { PAGE_SIZE } from '@hitless/emulator'
import { fail } from '../errno.js'
import {
  type IovaRange,
  intersect,
  intersects,
  lowestSetBit,
  normalize,
  roundupPow2,
  subtract,
  U64_MAX,
} from './iova-ranges.js'
import type { PageBacked } from './memfd.js'

/** IOMMU_IOAS_MAP_READABLE / _WRITEABLE. */
export interface Prot {
  read: boolean
  write: boolean
}

/**
 * One mapping of an IOAS (`struct iopt_area`): [iova, iova+length) → `length` bytes of `object`
 * from byte `offset`. Areas never overlap and are never split: an unmap must cover whole areas.
 */
export interface Area {
  iova: number
  length: number
  object: PageBacked
  offset: number
  prot: Prot
}

/** A reserved IOVA range (`struct iopt_reserved`) and who reserved it (a domain aperture, a device's MSI window). */
export interface Reservation extends IovaRange {
  owner: string
}

/**
 * The IOVA side of an IOAS (drivers/iommu/iommufd/io_pagetable.c): areas, reserved ranges,
 * allowed ranges, the IOVA alignment, and IOVA allocation. Pure bookkeeping: the domains that
 * mirror the areas in hardware page tables are the IOAS's business (ioas.ts).
 */
export class IoPagetable {
  /** Sorted by IOVA. */
  readonly areas: Area[] = []
  readonly reserved: Reservation[] = []
  /** IOMMU_IOAS_ALLOW_IOVAS; undefined = not set (everything not reserved may be allocated). */
  allowed: IovaRange[] | undefined
  /** iopt->iova_alignment: the largest minimum page size of the domains, at least PAGE_SIZE. */
  alignment = PAGE_SIZE

  /** iopt_check_iova: alignment (EINVAL), overflow (EOVERFLOW), reserved (EINVAL), areas (EEXIST). */
  checkIova(iova: number, length: number, call: string): void {
    if (iova % this.alignment !== 0)
      fail('EINVAL', call, `IOVA 0x${iova.toString(16)} is not ${this.alignment}-aligned`)
    const last = BigInt(iova) + BigInt(length) - 1n
    if (last > U64_MAX) fail('EOVERFLOW', call, 'IOVA + length overflows')
    const r = { start: BigInt(iova), last }
    if (this.reserved.some((x) => intersects(x, r)))
      fail('EINVAL', call, 'the range meets a reserved IOVA range')
    if (this.areasIn(iova, length).length) fail('EEXIST', call, 'the range meets an existing mapping')
  }

  /**
   * iopt_alloc_iova: the lowest free, allowed IOVA aligned to roundup_pow_of_two(length), reduced to
   * the alignment already present in `addr` (the user address or file offset), so that large,
   * aligned mappings can use large leaves. EINVAL if that is below the IOAS alignment, ENOSPC if
   * nothing fits.
   */
  allocIova(length: number, addr: number, call: string): number {
    const align = addr ? Math.min(roundupPow2(length), lowestSetBit(addr)) : roundupPow2(length)
    if (align < this.alignment)
      fail('EINVAL', call, `user address alignment ${align} is below the IOAS alignment`)
    const used = [
      ...this.reserved,
      ...this.areas.map((a) => ({ start: BigInt(a.iova), last: BigInt(a.iova + a.length - 1) })),
    ]
    let free = subtract([{ start: 0n, last: U64_MAX }], used)
    if (this.allowed) free = intersect(free, this.allowed)
    const a = BigInt(align)
    const len = BigInt(length)
    for (const hole of free) {
      const start = ((hole.start + a - 1n) / a) * a
      if (start + len - 1n <= hole.last && start + len <= BigInt(Number.MAX_SAFE_INTEGER))
        return Number(start)
    }
    fail('ENOSPC', call, `no free IOVA range of 0x${length.toString(16)} bytes`)
  }

  /** Areas intersecting [iova, iova+length). */
  areasIn(iova: number, length: number): Area[] {
    const end = iova + length
    return this.areas.filter((a) => a.iova < end && iova < a.iova + a.length)
  }

  insert(area: Area): void {
    const i = this.areas.findIndex((a) => a.iova > area.iova)
    this.areas.splice(i < 0 ? this.areas.length : i, 0, area)
  }

  remove(area: Area): void {
    const i = this.areas.indexOf(area)
    if (i >= 0) this.areas.splice(i, 1)
  }

  /**
   * iopt_reserve_iova: EADDRINUSE if a mapping or an allowed range meets it (a device whose window
   * would narrow the IOAS below what is in use or promised cannot attach).
   */
  checkReserve(ranges: readonly IovaRange[], call: string): void {
    for (const r of ranges) {
      if (
        this.areas.some((a) => intersects(r, { start: BigInt(a.iova), last: BigInt(a.iova + a.length - 1) }))
      )
        fail(
          'EADDRINUSE',
          call,
          `reserved range 0x${r.start.toString(16)}-0x${r.last.toString(16)} meets a mapping`,
        )
      if (this.allowed?.some((x) => intersects(x, r)))
        fail('EADDRINUSE', call, `reserved range 0x${r.start.toString(16)} meets an allowed range`)
    }
  }

  reserve(ranges: readonly IovaRange[], owner: string): void {
    for (const r of ranges) this.reserved.push({ ...r, owner })
  }

  unreserve(owner: string): void {
    for (let i = this.reserved.length - 1; i >= 0; i--)
      if (this.reserved[i].owner === owner) this.reserved.splice(i, 1)
  }

  /** IOMMU_IOAS_IOVA_RANGES: the allowed ranges (or everything) minus the reserved ones. */
  ranges(): IovaRange[] {
    return subtract(this.allowed ?? [{ start: 0n, last: U64_MAX }], this.reserved)
  }

  /**
   * iommufd_ioas_allow_iovas + iopt_set_allow_iova: EINVAL for start > last or overlapping ranges,
   * EADDRINUSE when a reserved range meets one (the IOAS is already narrower). An empty list clears.
   */
  setAllowed(ranges: readonly IovaRange[], call: string): void {
    for (const r of ranges)
      if (r.start > r.last || r.last > U64_MAX || r.start < 0n) fail('EINVAL', call, 'bad range')
    const sorted = [...ranges].sort((a, b) => (a.start < b.start ? -1 : 1))
    for (let i = 1; i < sorted.length; i++)
      if (intersects(sorted[i - 1], sorted[i])) fail('EINVAL', call, 'allowed ranges overlap')
    for (const r of ranges)
      if (this.reserved.some((x) => intersects(x, r)))
        fail('EADDRINUSE', call, 'an allowed range meets a reserved one')
    this.allowed = ranges.length ? normalize(ranges) : undefined
  }
}
