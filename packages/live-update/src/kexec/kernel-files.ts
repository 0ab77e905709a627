import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { type KernelFileDigest, type KernelFiles, resolveBootPath } from './kernel-artifact.js'

/**
 * Digests by (file, size, mtime), for the life of the process: an emulated fleet of 1,000 hosts
 * checking the same image hashes it once, and a file rewritten in place is hashed again. Holds
 * the promise, so hosts asking at the same time share one read.
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
  const noFile = (file: string) =>
    root === undefined ? 'no such file on this host' : `no such file on this host (looked at ${file})`
  return {
    async digest(path: string): Promise<KernelFileDigest> {
      const w = where(path)
      if ('why' in w) return { found: false, why: w.why }
      const file = w.file
      const s = await statFile(file)
      if (!s) return { found: false, why: noFile(file) }
      const key = `${file}\0${s.size}\0${s.mtimeMs}`
      let p = digests.get(key)
      if (!p) {
        p = sha256Of(file)
        digests.set(key, p)
        p.catch(() => digests.delete(key))
      }
      return { found: true, sha256: await p, size: s.size }
    },
    async missing(path: string): Promise<string | undefined> {
      const w = where(path)
      if ('why' in w) return w.why
      return (await statFile(w.file)) ? undefined : noFile(w.file)
    },
  }
}

/** Files hashed by this process so far (tests: one hash per file, not one per host). */
export function kernelFilesHashed(): number {
  return digests.size
}
