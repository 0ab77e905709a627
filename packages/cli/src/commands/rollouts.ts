import { readFileSync } from 'node:fs'
import { parse as parseYaml } from 'yaml'
import { type CreateRolloutBody, CreateRolloutBodySchema, parseWith, type Rollout } from '@hitless/protocol'
import type { CommandContext } from '../command.js'
import { usage } from '../cli-error.js'
import { print } from '../output.js'
import { watchRollout } from './rollout-watch.js'

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

/** `hitless rollout list|get|create|watch|pause|resume|abort|retry` */
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
  if (verb === 'watch') {
    if (!id) throw usage('rollout watch: missing rollout id')
    return watchRollout(c, id)
  }
  if (verb === 'pause' || verb === 'resume' || verb === 'abort') {
    if (!id) throw usage(`rollout ${verb}: missing rollout id`)
    const r = await c
      .api()
      .request<Rollout>(
        'POST',
        `/rollouts/${encodeURIComponent(id)}/${verb}`,
        c.options.reason ? { reason: String(c.options.reason) } : {},
      )
    return print(c.output, r, [summaryRow(r)])
  }
  if (verb === 'retry') {
    const host = c.args[2]
    if (!id || !host) throw usage('rollout retry: give the rollout id and the host (name or id)')
    const r = await c
      .api()
      .request<Rollout>('POST', `/rollouts/${encodeURIComponent(id)}/hosts/${encodeURIComponent(host)}/retry`)
    return print(c.output, r, [summaryRow(r)])
  }
  throw usage(`rollout: unknown subcommand ${verb} (list, get, create, watch, pause, resume, abort, retry)`)
}

/** From `--file rollout.json` or from flags; validated against the API's own schema first. */
function createBody(c: CommandContext): CreateRolloutBody {
  const o = c.options
  let raw: Record<string, unknown>
  if (o.file) {
    // JSON or YAML (by extension; YAML is a superset of JSON, so anything else is read as YAML).
    const file = String(o.file)
    try {
      const text = readFileSync(file, 'utf8')
      raw = file.endsWith('.json') ? JSON.parse(text) : parseYaml(text)
    } catch (e) {
      throw usage(`--file ${file}: ${(e as Error).message.split('\n')[0]}`)
    }
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
      throw usage(`--file ${file}: expected a rollout object (kernel, strategy, selector, policy)`)
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
