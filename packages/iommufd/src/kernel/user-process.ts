import { type FrameAllocator, PAGE_SIZE } from '@hitless/emulator'
import { fail } from '../errno.js'
import { AnonMemory, allocFrames, Memfd, type PageBacked } from './memfd.js'

/** One mmap'd range of the process: `length` bytes of `object` from byte `offset`. */
export interface UserMapping {
  uptr: number
  length: number
  object: PageBacked
  offset: number
}

const USER_BASE = 0x7f00_0000_0000
const SIZE_2M = 2 ** 21

/**
 * The user process driving /dev/iommu (the VMM): its file descriptors and its address space, as
 * far as iommufd sees them. IOMMU_IOAS_MAP pins user pages by address (uptr), IOMMU_IOAS_MAP_FILE
 * takes a memfd by descriptor; both end at emulated physical frames.
 */
export class UserProcess {
  private readonly fds = new Map<number, Memfd>()
  private readonly mappings: UserMapping[] = []
  private nextUptr = USER_BASE
  private nextToken = 1

  constructor(readonly allocator: FrameAllocator) {}

  /** memfd_create + ftruncate + mmap(MAP_SHARED) of the whole file. */
  memfdCreate(name: string, size: number, token?: string): { fd: number; uptr: number; memfd: Memfd } {
    const memfd = Memfd.create(this.allocator, token ?? `memfd:${this.nextToken++}:${name}`, name, size)
    const fd = this.install(memfd)
    return { fd, uptr: this.map(memfd, 0, size), memfd }
  }

  /** Installs an existing memfd (e.g. one retrieved after kexec) in the fd table. */
  install(memfd: Memfd): number {
    let fd = 3
    while (this.fds.has(fd)) fd++
    this.fds.set(fd, memfd)
    return fd
  }

  /** The memfd behind `fd`; EBADF otherwise (fdget failing in the kernel). */
  file(fd: number, call: string): Memfd {
    const f = this.fds.get(fd)
    if (!f) fail('EBADF', call, `fd ${fd} is not open`)
    return f
  }

  close(fd: number): void {
    if (!this.fds.delete(fd)) fail('EBADF', 'close', `fd ${fd} is not open`)
  }

  /** mmap(MAP_ANONYMOUS) of `length` bytes, populated at once. */
  mmapAnon(length: number): number {
    if (length <= 0 || length % PAGE_SIZE !== 0)
      fail('EINVAL', 'mmap', 'length must be a positive multiple of 4 KiB')
    return this.map(new AnonMemory(length, allocFrames(this.allocator, length / PAGE_SIZE)), 0, length)
  }

  /** mmap(MAP_SHARED) of a file range. */
  mmapFile(fd: number, offset: number, length: number): number {
    const f = this.file(fd, 'mmap')
    if (offset % PAGE_SIZE !== 0 || length <= 0 || offset + length > f.size)
      fail('EINVAL', 'mmap', 'bad range')
    return this.map(f, offset, length)
  }

  private map(object: PageBacked, offset: number, length: number): number {
    const align = length >= SIZE_2M ? SIZE_2M : PAGE_SIZE
    const uptr = Math.ceil(this.nextUptr / align) * align
    this.nextUptr = uptr + length + PAGE_SIZE // a guard page between mappings
    this.mappings.push({ uptr, length, object, offset })
    return uptr
  }

  /**
   * The object and offset behind [uptr, uptr+length): one mapping must cover it (pin_user_pages
   * across two VMAs is allowed by Linux, not by this model). EFAULT if unmapped.
   */
  resolve(uptr: number, length: number, call: string): { object: PageBacked; offset: number } {
    const m = this.mappings.find((x) => uptr >= x.uptr && uptr + length <= x.uptr + x.length)
    if (!m) fail('EFAULT', call, `user range 0x${uptr.toString(16)}+0x${length.toString(16)} is not mapped`)
    return { object: m.object, offset: m.offset + (uptr - m.uptr) }
  }

  /** Physical frame behind one user page (what /proc/self/pagemap answers as root). */
  pfn(uptr: number): number {
    const { object, offset } = this.resolve(uptr, 1, 'pagemap')
    return object.frameAt(offset - (offset % PAGE_SIZE)) / PAGE_SIZE
  }

  openFiles(): { fd: number; memfd: Memfd }[] {
    return [...this.fds.entries()].map(([fd, memfd]) => ({ fd, memfd }))
  }
}
