import { posix } from 'node:path'
import type { KexecTarget } from './kexec-executor.js'

/**
 * A target kernel as the controller hands it to an agent (the host-update job's `kernel`): the
 * image and initrd are files on the host, `sha256` is the image's digest. PREFLIGHT checks the
 * image against the digest and KEXEC stages exactly this image, initrd and command line.
 */
export interface KernelArtifact {
  image: string
  initrd?: string
  cmdline?: string
  sha256: string
}

/** What PREFLIGHT found of one file: its SHA-256, or that it is not there (or not a file). */
export type KernelFileDigest = { found: true; sha256: string; size: number } | { found: false; why: string }

/**
 * The port PREFLIGHT reads the host's boot files through (`localKernelFiles` on a real host or
 * under an emulated host's boot root; a fake in unit tests). Paths are the artifact's, as given.
 */
export interface KernelFiles {
  /** The file's SHA-256, or `{found: false}` when there is no such regular file. */
  digest(path: string): Promise<KernelFileDigest>
  /** `undefined` when a regular file is there, else why not (the initrd: the artifact has no digest of it). */
  missing(path: string): Promise<string | undefined>
}

/**
 * Where `path` (an artifact's absolute path) is read: as given on a real host (`root`
 * undefined), else under `root` (`/boot/vmlinuz-X` is `<root>/boot/vmlinuz-X`). Throws on a
 * relative path, and on a path whose `..` would leave the root. Pure.
 */
export function resolveBootPath(root: string | undefined, path: string): string {
  if (!posix.isAbsolute(path)) throw new Error(`${path}: not an absolute path`)
  if (root === undefined) return posix.normalize(path)
  const rel = posix.normalize(path.slice(1))
  if (rel === '..' || rel.startsWith('../')) throw new Error(`${path}: leaves the boot root ${root} (..)`)
  return posix.join(root, rel)
}

/**
 * The check of an image against its artifact's digest: undefined when they agree, else the reason
 * PREFLIGHT fails with, naming the path and both digests. Pure.
 */
export function imageDigestProblem(
  path: string,
  found: KernelFileDigest,
  expected: string,
): string | undefined {
  if (!found.found) return `kernel image ${path}: ${found.why}`
  if (found.sha256.toLowerCase() === expected.toLowerCase()) return undefined
  return `kernel image ${path}: sha256 ${found.sha256} does not match the artifact's ${expected.toLowerCase()}`
}

/** The kexec target of an artifact: exactly its image, initrd and command line. Pure. */
export function kexecTargetOf(a: KernelArtifact): KexecTarget {
  return { image: a.image, ...(a.initrd ? { initrd: a.initrd } : {}), cmdline: a.cmdline ?? '' }
}

/**
 * PREFLIGHT's artifact check: the image is on the host and its SHA-256 is the artifact's; the
 * initrd, when given, is on the host. Throws the reason; answers the target to stage and the
 * facts the journal keeps.
 */
export async function checkKernelArtifact(
  files: KernelFiles,
  a: KernelArtifact,
): Promise<{ target: KexecTarget; detail: Record<string, unknown> }> {
  const found = await files.digest(a.image)
  const problem = imageDigestProblem(a.image, found, a.sha256)
  if (problem) throw new Error(problem)
  const initrdMissing = a.initrd ? await files.missing(a.initrd) : undefined
  if (initrdMissing) throw new Error(`initrd ${a.initrd}: ${initrdMissing}`)
  return {
    target: kexecTargetOf(a),
    detail: {
      image: a.image,
      imageSha256: a.sha256.toLowerCase(),
      imageBytes: found.found ? found.size : 0,
      ...(a.initrd ? { initrd: a.initrd } : {}),
    },
  }
}
