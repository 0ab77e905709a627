import { type FrameAllocator, PAGE_SIZE } from '@hitless/emulator'

/** Something whose pages are emulated physical frames: a memfd, or anonymous user memory. */
export interface PageBacked {
  readonly kind: 'file' | 'anon'
  /** Bytes. */
  readonly size: number
  /** Physical address of the 4 KiB page at byte `offset` (page aligned). */
  frameAt(offset: number): number
  /** The file's stable token (memfd), undefined for anonymous memory. */
  readonly token: string | undefined
}

/**
 * Allocates `pages` frames, physically contiguous when the allocator can (2 MiB aligned for 2 MiB
 * or more, as a hugetlb/THP-backed memfd would be), else one by one. Contiguity is what lets a
 * domain use 2 MiB and 1 GiB leaves.
 */
export function allocFrames(allocator: FrameAllocator, pages: number): number[] {
  const align = pages >= 512 ? 512 : 1
  try {
    const base = allocator.allocContiguous(pages, align)
    return Array.from({ length: pages }, (_, i) => base + i * PAGE_SIZE)
  } catch {
    return Array.from({ length: pages }, () => allocator.alloc())
  }
}

/** What a memfd is, as a handover can carry it (the frames stay where they are across kexec). */
export interface MemfdDescriptor {
  token: string
  name: string
  size: number
  frames: number[]
}

/**
 * A memfd standing for guest memory: its pages are emulated physical frames, allocated when it is
 * created and never moved. Like a LUO-preserved memfd (mm/memfd_luo.c), it survives a kexec at the
 * same frames: `describe()` is what crosses the kexec, `Memfd.restore()` rebuilds it. The `token`
 * names the file stably (snapshots refer to backing by token and offset, never by fd).
 */
export class Memfd implements PageBacked {
  readonly kind = 'file' as const

  private constructor(
    readonly token: string,
    readonly name: string,
    readonly size: number,
    readonly frames: readonly number[],
  ) {}

  static create(allocator: FrameAllocator, token: string, name: string, size: number): Memfd {
    if (size <= 0 || size % PAGE_SIZE !== 0)
      throw new RangeError('memfd size must be a positive multiple of 4 KiB')
    return new Memfd(token, name, size, allocFrames(allocator, size / PAGE_SIZE))
  }

  /** A memfd carried across kexec: its frames are reserved in the new kernel's allocator. */
  static restore(allocator: FrameAllocator, d: MemfdDescriptor): Memfd {
    for (const f of d.frames) allocator.reserve(f)
    return new Memfd(d.token, d.name, d.size, [...d.frames])
  }

  frameAt(offset: number): number {
    return this.frames[Math.floor(offset / PAGE_SIZE)]
  }

  describe(): MemfdDescriptor {
    return { token: this.token, name: this.name, size: this.size, frames: [...this.frames] }
  }
}

/** Anonymous user memory (mmap MAP_ANONYMOUS, pinned by iommufd when mapped). */
export class AnonMemory implements PageBacked {
  readonly kind = 'anon' as const
  readonly token = undefined

  constructor(
    readonly size: number,
    readonly frames: readonly number[],
  ) {}

  frameAt(offset: number): number {
    return this.frames[Math.floor(offset / PAGE_SIZE)]
  }
}
