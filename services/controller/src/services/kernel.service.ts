import { createHash } from 'node:crypto'
import type { Db } from '@hitless/db'
import { HitlessError, type Kernel, type KernelSpec } from '@hitless/protocol'
import { auditIn } from './audit.service.js'
import { toKernel } from './presenters.js'

type Tx = Pick<Db, 'kernel'>

/** A kernel's id is derived from its version and sha256: registering it twice is a no-op. */
export const kernelIdOf = (k: { version: string; sha256: string }): string =>
  `kernel-${createHash('sha256').update(`${k.version}\0${k.sha256}`).digest('hex').slice(0, 16)}`

/** Target kernels: artifacts (image, initrd, command line, sha256) that agents stage and check. */
export class KernelService {
  constructor(private readonly db: Db) {}

  async register(spec: KernelSpec, tx: Tx = this.db): Promise<{ kernel: Kernel; created: boolean }> {
    const id = kernelIdOf(spec)
    const existing = await tx.kernel.findUnique({ where: { id } })
    if (existing) {
      if (existing.image !== spec.image || (existing.initrd ?? undefined) !== spec.initrd) {
        throw new HitlessError(
          'HITLESS_E_CONFLICT',
          `kernel ${spec.version} with this sha256 is registered with image ${existing.image}: reuse {id: "${id}"} or change the version`,
          { id },
        )
      }
      return { kernel: toKernel(existing), created: false }
    }
    const row = await tx.kernel.create({
      data: {
        id,
        version: spec.version,
        image: spec.image,
        initrd: spec.initrd ?? null,
        cmdline: spec.cmdline ?? '',
        sha256: spec.sha256,
        handoverFormat: spec.handoverFormat ?? 1,
      },
    })
    return { kernel: toKernel(row), created: true }
  }

  /** An operator's registration, audited in the same transaction when it created the artifact. */
  async registerBy(actor: string, spec: KernelSpec): Promise<{ kernel: Kernel; created: boolean }> {
    return this.db.$transaction(async (tx) => {
      const r = await this.register(spec, tx)
      if (r.created) await auditIn(tx, actor, 'kernel.register', r.kernel.id, { version: r.kernel.version })
      return r
    })
  }

  /** A rollout's `kernel`: a spec (registered on the way) or `{id}` of a registered one (else 422). */
  async resolve(ref: KernelSpec | { id: string }, tx: Tx = this.db): Promise<Kernel> {
    if ('version' in ref) return (await this.register(ref, tx)).kernel
    const k = await tx.kernel.findUnique({ where: { id: ref.id } })
    if (!k)
      throw new HitlessError(
        'HITLESS_E_UNPROCESSABLE',
        `kernel.id: unknown kernel ${ref.id}: register it with POST /api/v1/kernels, or give the artifact (version, image, sha256)`,
        { field: 'kernel.id' },
      )
    return toKernel(k)
  }

  /** The newest registered artifact of a kernel version (what a rollback returns a host to). */
  async latestOfVersion(version: string, tx: Tx = this.db): Promise<Kernel | undefined> {
    const k = await tx.kernel.findFirst({ where: { version }, orderBy: { createdAt: 'desc' } })
    return k ? toKernel(k) : undefined
  }

  async get(id: string): Promise<Kernel> {
    const k = await this.db.kernel.findUnique({ where: { id } })
    if (!k) throw new HitlessError('HITLESS_E_NOT_FOUND', `no kernel ${id}`)
    return toKernel(k)
  }

  async list(limit = 100): Promise<Kernel[]> {
    const rows = await this.db.kernel.findMany({ orderBy: { createdAt: 'desc' }, take: limit })
    return rows.map(toKernel)
  }
}
