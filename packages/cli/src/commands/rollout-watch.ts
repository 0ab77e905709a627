import { HitlessError, type Rollout } from '@hitless/protocol'
import type { CommandContext } from '../command.js'
import { progressBar, tally } from '../progress-bar.js'

const ENDED = new Set(['COMPLETED', 'HALTED', 'ABORTED'])

/** The lines a watch draws: the rollout, then one bar per wave. */
export function watchLines(r: Rollout, width = 24): string[] {
  const lines = [
    `${r.name} (${r.id})  ${r.phase}${r.phaseReason ? ` — ${r.phaseReason}` : ''}`,
    `  all      ${progressBar(tally(r.hosts.map((h) => h.state)), width)}`,
  ]
  for (const w of r.waves) {
    const hosts = r.hosts.filter((h) => h.wave === w.index)
    const label = `${w.kind === 'canary' ? 'canary' : 'wave'} ${w.index}`.padEnd(8)
    lines.push(`  ${label} ${progressBar(tally(hosts.map((h) => h.state)), width)}`)
  }
  for (const h of r.hosts.filter((x) => x.failureReason && ['FAILED', 'FAILED_HELD'].includes(x.state)))
    lines.push(`  ✕ ${h.hostName}: ${h.failureReason} (hitless verdict ${h.id})`)
  return lines
}

/**
 * `hitless rollout watch ID`: progress bars per wave, redrawn on every change the controller's
 * events stream announces (and every `--interval` seconds in case the stream drops). Exits 0
 * when the rollout completes, 9 when it halts, 6 when it is aborted.
 */
export async function watchRollout(c: CommandContext, id: string): Promise<void> {
  const api = c.api()
  const tty = process.stdout.isTTY && c.output === 'table'
  const interval = Number(c.options.interval ?? 5) * 1000
  if (!Number.isFinite(interval) || interval < 200)
    throw new HitlessError('HITLESS_E_VALIDATION', '--interval must be a number of seconds ≥ 0.2')
  let drawn = 0
  let last = ''
  const draw = (r: Rollout) => {
    if (c.output === 'json') return
    const lines = watchLines(r, tty ? Math.max(10, Math.min(40, (process.stdout.columns ?? 80) - 40)) : 24)
    const text = lines.join('\n')
    if (text === last) return
    last = text
    // On a terminal the bars are redrawn in place; in a pipe, each change is printed once.
    if (tty && drawn) process.stdout.write(`\x1b[${drawn}A\x1b[0J`)
    process.stdout.write(`${text}\n${tty ? '' : '\n'}`)
    drawn = lines.length
  }
  const get = () => api.request<Rollout>('GET', `/rollouts/${encodeURIComponent(id)}`)
  let r = await get()
  draw(r)
  const stop = new AbortController()
  let wake: (() => void) | undefined
  api.events(`?rolloutId=${encodeURIComponent(id)}`, () => wake?.(), stop.signal).catch(() => {}) // polling carries on without the stream
  try {
    while (!ENDED.has(r.phase)) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, interval)
        wake = () => {
          clearTimeout(t)
          // A burst of events: wait for it to settle, then read once.
          setTimeout(resolve, 100)
        }
      })
      wake = undefined
      r = await get()
      draw(r)
    }
  } finally {
    stop.abort()
  }
  if (c.output === 'json') process.stdout.write(`${JSON.stringify(r, null, 2)}\n`)
  if (r.phase === 'HALTED')
    throw new HitlessError(
      'HITLESS_E_NOT_HITLESS',
      `rollout ${id} halted: ${r.phaseReason ?? 'see hitless rollout get'}`,
    )
  if (r.phase === 'ABORTED') throw new HitlessError('HITLESS_E_CONFLICT', `rollout ${id} was aborted`)
}
