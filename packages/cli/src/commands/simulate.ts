import { SIMULATE_MODES, type SimulateMode, simulateUpdate } from '@hitless/live-update'
import {
  EXIT_CODES,
  type FaultInjection,
  HARDWARE,
  type Hardware,
  isFaultInjection,
  STRATEGIES,
  type Strategy,
} from '@hitless/protocol'
import type { CommandContext } from '../command.js'
import { usage } from '../cli-error.js'
import { table } from '../output.js'

function intOption(v: unknown, name: string, fallback: number): number {
  if (v === undefined) return fallback
  const n = Number(v)
  if (!Number.isSafeInteger(n) || n < 0)
    throw usage(`--${name} must be a non-negative integer, not ${String(v)}`)
  return n
}

/**
 * `hitless simulate update`: one host's whole live update on the emulator (no servers): the steps
 * with timings, the blackout and the DMA that ran through it, fault counts, both snapshots'
 * digests and the verifier's verdict (the comparison the verifier service runs). Exit 0 only for
 * a hitless verdict (9 otherwise).
 */
export async function simulateCommand(c: CommandContext): Promise<void> {
  const [what] = c.args
  if (what !== 'update') throw usage(`simulate: unknown subject ${what ?? '(none)'} (try: simulate update)`)
  const o = c.options as Record<string, unknown>
  const hardware = (o.hardware ?? 'smmuv3-bbml0') as Hardware
  if (!HARDWARE.includes(hardware)) throw usage(`--hardware must be one of ${HARDWARE.join(', ')}`)
  const strategy = (o.strategy ?? 'replay-verify') as Strategy
  if (!STRATEGIES.includes(strategy)) throw usage(`--strategy must be one of ${STRATEGIES.join(', ')}`)
  const inject = ([] as string[]).concat((o.inject as string[] | string | undefined) ?? [])
  for (const f of inject) if (!isFaultInjection(f)) throw usage(`--inject ${f}: unknown fault injection`)
  const mappings = intOption(o.mappings, 'mappings', 1024)
  if (mappings < 1) throw usage('--mappings must be at least 1')
  const mode = (o.mode ?? 'deterministic') as SimulateMode
  if (!SIMULATE_MODES.includes(mode)) throw usage(`--mode must be one of ${SIMULATE_MODES.join(', ')}`)
  const blackoutSloMs = intOption(o['blackout-slo'], 'blackout-slo', 1000)
  // Concurrent mode refuses what it does not support (HITLESS_E_UNPROCESSABLE, exit 2); it never
  // runs deterministic mode instead.
  const r = await simulateUpdate({
    hardware,
    strategy,
    mode,
    mappings,
    devices: Math.max(1, intOption(o.devices, 'devices', 2)),
    seed: intOption(o.seed, 'seed', 1),
    inject: inject as FaultInjection[],
    blackoutSloMs,
  })
  if (c.output === 'json') process.stdout.write(`${JSON.stringify(r, null, 2)}\n`)
  else {
    const ms = (n: number | null) => (n === null ? '-' : `${n.toFixed(1)} ms`)
    process.stdout.write(
      `simulate update (${r.mode}): ${r.hardware}, ${r.strategy}, ${r.mappings} mappings, ${r.devices} devices, seed ${r.seed}${r.inject.length ? `, inject ${r.inject.join(' ')}` : ''}\n\n`,
    )
    process.stdout.write(
      table(
        r.steps.map((s) => ({ step: s.step, status: s.status, duration: `${s.durationMs.toFixed(1)} ms` })),
      ),
    )
    const lines = [
      ['outcome', `${r.outcome}${r.reason ? ` — ${r.reason}` : ''}`],
      ['agent crashes resumed', r.crashes.length ? r.crashes.join(', ') : 'none'],
      ['blackout', `${ms(r.blackoutMs)} (SLO ${blackoutSloMs} ms)`],
      ...(r.blackoutPhases
        ? [
            [
              'blackout phases',
              `handover ${ms(r.blackoutPhases.handoverMs)}, old kernel exit ${ms(r.blackoutPhases.exitMs)}, poison ${ms(r.blackoutPhases.poisonMs)}${r.blackoutPhases.delayMs >= 1 ? `, delay ${ms(r.blackoutPhases.delayMs)}` : ''}, new kernel thread ${ms(r.blackoutPhases.kernelStartMs)}, restore ${ms(r.blackoutPhases.restoreMs)}`,
            ],
          ]
        : []),
      ['DMA during blackout', `${r.dmaDuringBlackout ?? '-'} (floor ${r.dmaFloor})`],
      ['faults', `groundTruth ${r.faults.groundTruth}, recorded ${r.faults.recorded}, lost ${r.faults.lost}`],
      ['handover', r.handoverBytes === null ? '-' : `${r.handoverBytes} bytes`],
      ['snapshot pre', r.preDigest ?? '-'],
      ['snapshot post', r.postDigest ?? '-'],
      ['verdict', r.verdict],
    ]
    process.stdout.write(`\n${lines.map(([k, v]) => `${k.padEnd(22)} ${v}`).join('\n')}\n`)
    if (r.restore?.notes.length)
      process.stdout.write(`\nrestore:\n${r.restore.notes.map((n) => `  - ${n}`).join('\n')}\n`)
    process.stdout.write(`\nreasons:\n${r.reasons.map((n) => `  - ${n}`).join('\n')}\n`)
    if (r.verdict !== 'hitless')
      process.stdout.write(
        `\nreplay: npx hitless simulate update --mode ${r.mode} --hardware ${r.hardware} --strategy ${r.strategy} --mappings ${r.mappings} --devices ${r.devices} --seed ${r.seed}${r.inject.map((f) => ` --inject ${f}`).join('')}${blackoutSloMs !== 1000 ? ` --blackout-slo ${blackoutSloMs}` : ''}\n`,
      )
  }
  if (r.verdict !== 'hitless') process.exitCode = EXIT_CODES.notHitless
}
