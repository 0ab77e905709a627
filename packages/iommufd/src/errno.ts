/**
 * Kernel error codes as iommufd returns them (negated in the ioctl's return value). Names and
 * numbers from include/uapi/asm-generic/errno-base.h and errno.h (x86-64 and arm64 agree).
 * test/kernel/lane.test.ts pins which of them the real kernel answers for which bad call; the
 * emulated backends must answer the same (the contract suite checks it).
 */
export const ERRNO = {
  ENOENT: 2,
  EBADF: 9,
  ENOMEM: 12,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  EINVAL: 22,
  ENOSPC: 28,
  ERANGE: 34,
  EOVERFLOW: 75,
  EMSGSIZE: 90,
  EOPNOTSUPP: 95,
  EADDRINUSE: 98,
} as const

export type Errno = keyof typeof ERRNO

/** A failed iommufd call: `errno` is what the kernel returns; nothing was changed. */
export class IommufdError extends Error {
  override readonly name = 'IommufdError'
  constructor(
    readonly errno: Errno,
    readonly call: string,
    detail: string,
  ) {
    super(`${call}: ${detail} (${errno})`)
  }

  /** The numeric errno. */
  get code(): number {
    return ERRNO[this.errno]
  }
}

/** Throws IommufdError(errno) for `call`; typed `never` so that checks read as guards. */
export function fail(errno: Errno, call: string, detail: string): never {
  throw new IommufdError(errno, call, detail)
}

/** The errno of a rejected promise or thrown call, or undefined if it succeeded. */
export async function errnoOf(p: Promise<unknown> | (() => unknown)): Promise<Errno | undefined> {
  try {
    await (typeof p === 'function' ? p() : p)
    return undefined
  } catch (e) {
    if (e instanceof IommufdError) return e.errno
    const named = (e as { errno?: unknown }).errno
    if (typeof named === 'string' && named in ERRNO) return named as Errno
    throw e
  }
}
