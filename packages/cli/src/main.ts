import { parseArgs } from 'node:util'
import { ApiClient } from './api-client.js'
import type { CommandContext } from './command.js'
import { exitWith, usage } from './cli-error.js'
import { analyzeCommand } from './commands/analyze.js'
import { hostsCommand } from './commands/hosts.js'
import { kernelsCommand } from './commands/kernels.js'
import { contextCommand, loginCommand } from './commands/login.js'
import { rolloutCommand } from './commands/rollouts.js'
import { verdictCommand } from './commands/verdict.js'
import { simulateCommand } from './commands/simulate.js'

const HELP = `hitless — roll kernels across a fleet by kexec without a DMA fault

usage: hitless <command> [options]

commands:
  login --url URL --token TOKEN               check them; print the export lines (eval "$(hitless login ...)")
  context                                     the controller and token in use, and whether they work
  hosts [list|get ID|cordon ID|uncordon ID]   [--selector k=v,...] [--state STATE]
  kernels [list|get ID]
  kernels create --version V --image PATH --sha256 HEX [--initrd PATH] [--cmdline S]
  rollout list | get ID
  rollout create --kernel VERSION --image PATH --sha256 HEX --strategy S [--selector k=v,...] [--name N]
                 | --file rollout.yaml|json   [--dry-run] [--idempotency-key K]
  rollout watch ID [--interval S]             progress bars per wave, live; exit 0 completed, 9 halted, 6 aborted
  rollout pause|resume|abort ID [--reason R]
  rollout retry ID HOST                       a new attempt for one failed, held or cancelled host
  verdict UPDATE_ID                           reasons, DMA faults and the verifier's diff; exit 9 unless hitless
  analyze switch [--markdown]                 hitless page-table switch, per hardware (local, no controller)
  simulate update [--hardware H] [--strategy S] [--mappings N] [--devices N] [--inject KIND]... [--seed S]
                  [--mode deterministic|concurrent] [--blackout-slo MS]
                                              one host's live update on the emulator (local; exit 9 unless hitless)

global options:
  --output table|json   (--json is its alias)
  --url URL             controller (default: $HITLESS_URL or http://127.0.0.1:8080)
  --token TOKEN         API token (default: $HITLESS_TOKEN)

exit codes: 0 ok, 1 internal, 2 usage/validation, 3 unreachable/config, 4 auth, 5 not found,
            6 conflict, 7 rate limited, 8 handover refused, 9 update not hitless`

const COMMANDS: Record<string, (c: CommandContext) => Promise<void>> = {
  hosts: hostsCommand,
  host: hostsCommand,
  rollout: rolloutCommand,
  rollouts: rolloutCommand,
  analyze: analyzeCommand,
  simulate: simulateCommand,
  kernels: kernelsCommand,
  kernel: kernelsCommand,
  verdict: verdictCommand,
  login: loginCommand,
  context: contextCommand,
}

async function main(argv: string[]): Promise<void> {
  let parsed: ReturnType<typeof parseArgs>
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        output: { type: 'string', short: 'o' },
        json: { type: 'boolean' },
        url: { type: 'string' },
        token: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        selector: { type: 'string' },
        state: { type: 'string' },
        kernel: { type: 'string' },
        image: { type: 'string' },
        sha256: { type: 'string' },
        strategy: { type: 'string' },
        name: { type: 'string' },
        file: { type: 'string', short: 'f' },
        'dry-run': { type: 'boolean' },
        'idempotency-key': { type: 'string' },
        markdown: { type: 'boolean' },
        version: { type: 'string' },
        initrd: { type: 'string' },
        cmdline: { type: 'string' },
        reason: { type: 'string' },
        interval: { type: 'string' },
        hardware: { type: 'string' },
        mappings: { type: 'string' },
        devices: { type: 'string' },
        inject: { type: 'string', multiple: true },
        seed: { type: 'string' },
        mode: { type: 'string' },
        'blackout-slo': { type: 'string' },
      },
    })
  } catch (e) {
    throw usage((e as Error).message.split('\n')[0])
  }
  const { values, positionals } = parsed
  if (values.help || positionals.length === 0) {
    process.stdout.write(`${HELP}\n`)
    return
  }
  const output = values.json ? 'json' : (values.output ?? 'table')
  if (output !== 'table' && output !== 'json') throw usage(`--output must be table or json, not ${output}`)
  const [name, ...args] = positionals
  const cmd = COMMANDS[name]
  if (!cmd) throw usage(`unknown command ${name} (try: hitless --help)`)
  const url = String(values.url ?? process.env.HITLESS_URL ?? 'http://127.0.0.1:8080').replace(/\/$/, '')
  const token = (values.token as string | undefined) ?? process.env.HITLESS_TOKEN
  await cmd({
    args,
    options: values as CommandContext['options'],
    output,
    api: () => new ApiClient(url, token),
    token,
  })
}

main(process.argv.slice(2)).catch(exitWith)
