import { readFileSync } from 'node:fs'
import { type CreateRolloutBody, CreateRolloutBodySchema, parseWith, type Rollout } from '@hitless/protocol'
import type { CommandContext } from '../command.js'
import { usage } from '../cli-error.js'
import { print } from '../output.js'

const summaryRow = (r: Rollout) => ({
  id: r.id,
  name: r.name,
  phase: r.phase,
  strategy: r.strategy,
  kernel: r.kernel.version,
  hosts: r.summary.hosts,
  succeeded: r.summary.succeeded,
  failed: r.summary.failed,
  review: r.summary.needsReview,
  running: r.summary.inProgress,
})

/** `hitless rollout create|get|list` */
export async function rolloutCommand(c: CommandContext): Promise<void> {
  const [verb = 'list', id] = c.args
  if (verb === 'list') {
    const rs = await c.api().request<Rollout[]>('GET', '/rollouts')
    return print(c.output, rs, rs.map(summaryRow))
  }
  if (verb === 'get') {
    if (!id) throw usage('rollout get: missing rollout id')
    const r = await c.api().request<Rollout>('GET', `/rollouts/${encodeURIComponent(id)}`)
    return print(
      c.output,
      r,
      r.hosts.map((h) => ({
        host: h.hostName,
        state: h.state,
        steps: h.steps.filter((s) => s.status === 'done').length,
        verdict: h.verdict,
        blackoutMs: h.blackoutMs,
        reason: h.failureReason,
      })),
    )
  }
  if (verb === 'create') {
    const body = createBody(c)
    const r = await c
      .api()
      .request<Rollout | { dryRun: true; waves: { index: number; hosts: string[] }[] }>(
        'POST',
        '/rollouts',
        body,
        c.options['idempotency-key'] ? { 'idempotency-key': String(c.options['idempotency-key']) } : {},
      )
    if ('dryRun' in r)
      return print(
        c.output,
        r,
        r.waves.map((w) => ({ wave: w.index, hosts: w.hosts.length, names: w.hosts.join(',') })),
      )
    return print(c.output, r, [summaryRow(r)])
  }
  throw usage(`rollout: unknown subcommand ${verb} (create, get, list)`)
}

/** From `--file rollout.json` or from flags; validated against the API's own schema first. */
function createBody(c: CommandContext): CreateRolloutBody {
  const o = c.options
  let raw: Record<string, unknown>
  if (o.file) {
    try {
      raw = JSON.parse(readFileSync(String(o.file), 'utf8'))
    } catch (e) {
      throw usage(`--file ${o.file}: ${(e as Error).message}`)
    }
  } else {
    for (const f of ['kernel', 'image', 'sha256', 'strategy'])
      if (!o[f]) throw usage(`rollout create: missing --${f} (or give --file)`)
    const labels: Record<string, string> = {}
    for (const kv of String(o.selector ?? '')
      .split(',')
      .filter(Boolean)) {
      const [k, v] = kv.split('=')
      if (!k || v === undefined) throw usage(`--selector: "${kv}" is not key=value`)
      labels[k] = v
    }
    raw = {
      ...(o.name ? { name: String(o.name) } : {}),
      kernel: { version: String(o.kernel), image: String(o.image), sha256: String(o.sha256) },
      strategy: String(o.strategy),
      selector: { labels },
    }
  }
  if (o['dry-run']) raw.dryRun = true
  return parseWith(CreateRolloutBodySchema, raw, 'rollout')
}
