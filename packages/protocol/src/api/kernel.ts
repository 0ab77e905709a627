import Type from 'typebox'
import { KERNEL_EXAMPLE } from './examples.js'

/** A target kernel is an artifact; agents stage it and check its sha256 in PREFLIGHT. */
export const KernelSpecSchema = Type.Object({
  version: Type.String({ minLength: 1, maxLength: 200, examples: ['7.2.13-hitless1'] }),
  image: Type.String({ minLength: 1, maxLength: 2000, examples: ['/boot/vmlinuz-7.2.13-hitless1'] }),
  initrd: Type.Optional(Type.String({ maxLength: 2000 })),
  cmdline: Type.Optional(Type.String({ maxLength: 4000 })),
  sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
  /**
   * Newest live-update handover format this kernel reads and writes (default 1). An update, or
   * a rollback, between two kernels uses the older of their two formats, so that the kernel
   * booted by the kexec can always read what the outgoing one handed over.
   */
  handoverFormat: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
})
export type KernelSpec = Type.Static<typeof KernelSpecSchema>

/** A rollout may name a kernel registered earlier (POST /api/v1/kernels) instead of giving it whole. */
export const KernelRefSchema = Type.Object({ id: Type.String({ minLength: 1, maxLength: 200 }) })

export const KernelSchema = Type.Object(
  {
    id: Type.String(),
    version: Type.String(),
    image: Type.String(),
    initrd: Type.Union([Type.String(), Type.Null()]),
    cmdline: Type.String(),
    sha256: Type.String(),
    handoverFormat: Type.Integer(),
    createdAt: Type.String({ format: 'date-time' }),
  },
  { $id: 'Kernel', examples: [KERNEL_EXAMPLE] },
)
export type Kernel = Type.Static<typeof KernelSchema>
