import type { Host } from '@hitless/protocol'
import type { CommandContext } from '../command.js'
import { usage } from '../cli-error.js'
import { print } from '../output.js'

const row = (h: Host) => ({
  name: h.name,
  state: h.state,
  hardware: h.hardware,
  kernel: h.kernel,
  labels: Object.entries(h.labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(','),
  id: h.id,
})

/** `hitless hosts [list|get ID|cordon ID|uncordon ID] [--selector k=v] [--state S]` */
export async function hostsCommand(c: CommandContext): Promise<void> {
  const [verb = 'list', id] = c.args
  if (verb === 'list') {
    const q = new URLSearchParams()
    if (c.options.selector) q.set('selector', String(c.options.selector))
    if (c.options.state) q.set('state', String(c.options.state))
    const hosts = await c.api().request<Host[]>('GET', `/hosts${q.size ? `?${q}` : ''}`)
    return print(c.output, hosts, hosts.map(row))
  }
  if (!id) throw usage(`hosts ${verb}: missing host id or name`)
  if (verb === 'get') {
    const h = await c.api().request<Host>('GET', `/hosts/${encodeURIComponent(id)}`)
    return print(c.output, h, [row(h)])
  }
  if (verb === 'cordon' || verb === 'uncordon') {
    const h = await c.api().request<Host>('POST', `/hosts/${encodeURIComponent(id)}/${verb}`)
    return print(c.output, h, [row(h)])
  }
  throw usage(`hosts: unknown subcommand ${verb} (list, get, cordon, uncordon)`)
}
