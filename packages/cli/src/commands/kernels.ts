import { type Kernel, KernelSpecSchema, parseWith } from '@hitless/protocol'
import type { CommandContext } from '../command.js'
import { usage } from '../cli-error.js'
import { print } from '../output.js'

const row = (k: Kernel) => ({
  id: k.id,
  version: k.version,
  image: k.image,
  sha256: `${k.sha256.slice(0, 12)}…`,
  handover: k.handoverFormat,
  created: k.createdAt,
})

/** `hitless kernels [list] | create --version V --image PATH --sha256 HEX [--initrd PATH] [--cmdline S]` */
export async function kernelsCommand(c: CommandContext): Promise<void> {
  const [verb = 'list', id] = c.args
  if (verb === 'list') {
    const ks = await c.api().request<Kernel[]>('GET', '/kernels')
    return print(c.output, ks, ks.map(row))
  }
  if (verb === 'get') {
    if (!id) throw usage('kernels get: missing kernel id')
    const k = await c.api().request<Kernel>('GET', `/kernels/${encodeURIComponent(id)}`)
    return print(c.output, k, [row(k)])
  }
  if (verb === 'create') {
    const o = c.options
    for (const f of ['version', 'image', 'sha256']) if (!o[f]) throw usage(`kernels create: missing --${f}`)
    const body = parseWith(
      KernelSpecSchema,
      {
        version: String(o.version),
        image: String(o.image),
        sha256: String(o.sha256),
        ...(o.initrd ? { initrd: String(o.initrd) } : {}),
        ...(o.cmdline ? { cmdline: String(o.cmdline) } : {}),
      },
      'kernel',
    )
    const k = await c.api().request<Kernel>('POST', '/kernels', body)
    return print(c.output, k, [row(k)])
  }
  throw usage(`kernels: unknown subcommand ${verb} (list, get, create)`)
}
