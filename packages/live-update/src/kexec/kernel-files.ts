import { createHash } from 'node:crypto'
import { createReadStream, type Stats } from 'node:fs'
import { realpath, stat } from 'node:fs/promises'
import { type KernelFileDigest, type KernelFiles, resolveBootPath } from './kernel-artifact.js'

/**
 * Digests by the file's identity and change time (device, inode, size, mtime, ctime), for the life
 * of the process: an emulated fleet of 1,000 hosts checking the same image hashes it once. A file
 * rewritten in place, or another renamed over it (even with the same size and a preserved mtime,
 * as `cp -p`, `rsync -t` or a package manager leave it), has another inode or ctime — and ctime
 * cannot be set from user space — so it is hashed again. Holds the promise, so hosts asking at
 * the same time share one read.
 */
const digests = new Map<string, Promise<string>>()

function sha256Of(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256')
    createReadStream(file)
      .on('data', (b) => h.update(b))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')))
  })
}

const identity = (file: string, s: Stats) => [file, s.dev, s.ino, s.size, s.mtimeMs, s.ctimeMs].join('\0')

async function statFile(file: string) {
  try {
    const s = await stat(file)
    return s.isFile() ? s : undefined
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR')
      return undefined
    throw e
  }
}

/**
 * The host's boot files: on a real host (`root` undefined) a path is read as given; an emulated
 * host reads `/boot/vmlinuz-X` at `<root>/boot/vmlinuz-X` (HITLESS_BOOT_ROOT), and a path whose
 * `..` leaves the root is refused.
 */
export function localKernelFiles(root?: string): KernelFiles {
  const where = (path: string): { file: string } | { why: string } => {
    try {
      return { file: resolveBootPath(root, path) }
    } catch (e) {
      return { why: (e as Error).message.replace(`${path}: `, '') }
    }
  }
  // A symbolic link under the root may point outside it: the file read must be under the root
  // once every link is followed, as a `..` must not leave it.
  let realRoot: Promise<string> | undefined // the root's own links resolved once
  const leavesRoot = async (file: string): Promise<string | undefined> => {
    if (root === undefined) return undefined
    realRoot ??= realpath(root)
    const [real, rootReal] = await Promise.all([realpath(file), realRoot])
    return real === rootReal || real.startsWith(`${rootReal}/`)
      ? undefined
      : `leaves the boot root ${root} (a link to ${real})`
  }
  const noFile = (file: string) =>
    root === undefined ? 'no such file on this host' : `no such file on this host (looked at ${file})`
  return {
    async digest(path: string): Promise<KernelFileDigest> {
      const w = where(path)
      if ('why' in w) return { found: false, why: w.why }
      const file = w.file
      const s = await statFile(file)
      if (!s) return { found: false, why: noFile(file) }
      const escapes = await leavesRoot(file)
      if (escapes) return { found: false, why: escapes }
      const key = identity(file, s)
      let p = digests.get(key)
      if (!p) {
        // Kept only if the file was the same one from before the read to after it.
        const read = sha256Of(file).then(async (h) => {
          const after = await statFile(file)
          if (!after || identity(file, after) !== key) throw new Error(`${file} changed while it was read`)
          return h
        })
        p = read
        digests.set(key, p)
        read.catch(() => digests.delete(key))
      }
      return { found: true, sha256: await p, size: s.size }
    },
    async missing(path: string): Promise<string | undefined> {
      const w = where(path)
      if ('why' in w) return w.why
      if (!(await statFile(w.file))) return noFile(w.file)
      return leavesRoot(w.file)
    },
  }
}

/** Files hashed by this process so far (tests: one hash per file, not one per host). */
export function kernelFilesHashed(): number {
  return digests.size
}
