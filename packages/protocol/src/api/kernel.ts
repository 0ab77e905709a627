import Type from 'typebox'

/** A target kernel is an artifact; agents stage it and check its sha256 in PREFLIGHT. */
export const KernelSpecSchema = Type.Object({
  version: Type.String({ minLength: 1, maxLength: 200, examples: ['7.2.13-hitless1'] }),
  image: Type.String({ minLength: 1, maxLength: 2000, examples: ['/boot/vmlinuz-7.2.13-hitless1'] }),
  initrd: Type.Optional(Type.String({ maxLength: 2000 })),
  cmdline: Type.Optional(Type.String({ maxLength: 4000 })),
  sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
})
export type KernelSpec = Type.Static<typeof KernelSpecSchema>

export const KernelSchema = Type.Intersect([KernelSpecSchema, Type.Object({ id: Type.String() })], {
  $id: 'Kernel',
})
export type Kernel = Type.Static<typeof KernelSchema>
