// Runs every test with node:test (whose closing summary CI reads). Node 20's --test takes no
// globs, so files are found here. `--unit` runs only colocated unit tests (no servers).
import { spawnSync } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'

const unitOnly = process.argv.includes('--unit')
const extra = process.argv.slice(2).filter((a) => a !== '--unit')

function walk(dir, out) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'generated' || name.startsWith('.')) continue
    const p = join(dir, name)
    if (statSync(p).isDirectory()) walk(p, out)
    else if (name.endsWith('.test.ts')) out.push(p)
  }
  return out
}

const roots = ['packages', 'services', ...(unitOnly ? [] : ['test'])]
const files = extra.length ? extra : roots.flatMap((r) => walk(r, [])).sort()
const started = Date.now()
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', ...files], {
  stdio: 'inherit',
  env: { ...process.env, NODE_ENV: 'test' },
})
console.log(`tests took ${((Date.now() - started) / 1000).toFixed(1)}s`)
process.exit(r.status ?? 1)
