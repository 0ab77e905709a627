// Runs every test with node:test (whose closing summary CI reads). Node 20's --test takes no
// globs, so files are found here. `--unit` runs only colocated unit tests (no servers). A full
// run ends with the real-kernel lane (scripts/kernel/lane.sh builds a kernel and boots it in
// QEMU; it says SKIPPED and why when its prerequisites cannot be had). HITLESS_SKIP_KERNEL=1
// leaves the lane out.
import { spawnSync } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'

const unitOnly = process.argv.includes('--unit')
const extra = process.argv.slice(2).filter((a) => a !== '--unit')

function walk(dir, out) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'generated' || name.startsWith('.')) continue
    const p = join(dir, name)
    if (p === join('test', 'kernel')) continue // run by the lane, with a kernel
    if (statSync(p).isDirectory()) walk(p, out)
    else if (name.endsWith('.test.ts')) out.push(p)
  }
  return out
}

const roots = ['packages', 'services', ...(unitOnly ? [] : ['test'])]
const files = extra.length ? extra : roots.flatMap((r) => walk(r, [])).sort()
const started = Date.now()
// A hung test (a worker thread waiting forever, say) fails after 10 minutes instead of running CI
// past its limit; the slowest test here takes about a minute on 2 loaded cores.
const r = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-timeout=600000', ...files],
  {
    stdio: 'inherit',
    env: { ...process.env, NODE_ENV: 'test' },
  },
)
console.log(`tests took ${((Date.now() - started) / 1000).toFixed(1)}s`)
let status = r.status ?? 1
if (!unitOnly && extra.length === 0) {
  if (process.env.HITLESS_SKIP_KERNEL === '1') {
    console.log('real-kernel lane: SKIPPED (HITLESS_SKIP_KERNEL=1)')
  } else {
    const lane = spawnSync('bash', ['scripts/kernel/lane.sh'], { stdio: 'inherit' })
    if (lane.status !== 0) status = status || lane.status || 1
  }
}
process.exit(status)
