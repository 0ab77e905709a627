import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

const MAIN = fileURLToPath(new URL('../main.ts', import.meta.url))
const run = (...args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', MAIN, 'simulate', 'update', '--output', 'json', ...args], {
    encoding: 'utf8',
  })

test('simulate update: a hitless update exits 0 with verdict, faults, blackout and DMA in JSON', () => {
  const r = run('--hardware', 'vtd-legacy', '--strategy', 'replay-verify', '--mappings', '128')
  assert.equal(r.status, 0, r.stderr)
  const out = JSON.parse(r.stdout)
  assert.equal(out.verdict, 'hitless')
  assert.deepEqual(out.faults, { groundTruth: 0, recorded: 0, lost: 0 })
  assert.ok(out.blackoutMs > 0 && out.dmaDuringBlackout >= out.dmaFloor)
  assert.ok(Array.isArray(out.reasons))
})

test('simulate update: an injected fault exits 9; a bad option exits 2', () => {
  const r = run(
    '--strategy',
    'serialise',
    '--mappings',
    '64',
    '--inject',
    'drop-mapping',
    '--inject',
    'crash:KEXEC',
  )
  assert.equal(r.status, 9, r.stderr)
  const out = JSON.parse(r.stdout)
  assert.equal(out.verdict, 'diverged')
  assert.deepEqual(out.crashes, ['KEXEC'])
  assert.equal(run('--inject', 'nonsense').status, 2)
})

test('simulate update --mode concurrent: kernel threads and DMA worker, the same JSON fields plus mode', () => {
  // A 10 s SLO: starting the new kernel thread on 2 shared cores can take most of a second.
  const r = run(
    '--mode',
    'concurrent',
    '--strategy',
    'serialise',
    '--mappings',
    '256',
    '--blackout-slo',
    '10000',
  )
  assert.equal(r.status, 0, r.stderr || r.stdout)
  const out = JSON.parse(r.stdout)
  assert.equal(out.mode, 'concurrent')
  assert.equal(out.verdict, 'hitless', out.reasons.join('\n'))
  assert.deepEqual(out.faults, { groundTruth: 0, recorded: 0, lost: 0 })
  assert.ok(out.blackoutMs > 0 && out.dmaDuringBlackout >= out.dmaFloor)
  assert.ok(Array.isArray(out.reasons))
  assert.equal(out.kernels.length, 2)
})

test('simulate update --mode concurrent refuses an agent crash (exit 2, named), never runs deterministic instead', () => {
  const r = run('--mode', 'concurrent', '--inject', 'crash:KEXEC')
  assert.equal(r.status, 2)
  assert.equal(r.stdout, '')
  assert.match(r.stderr, /concurrent mode does not support --inject crash:KEXEC.*HITLESS_E_UNPROCESSABLE/)
})
