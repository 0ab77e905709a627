// `npm run bench`: runs every benchmark script (`**/bench/*.bench.ts`) one after another, each in
// its own process so that one's heap does not skew another's memory figures. Each script prints
// its own table of ratios against a baseline measured in the same run. Pass names to filter.
import { spawnSync } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'

function walk(dir: string, out: string[]): string[] {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.')) continue
    const p = join(dir, name)
    if (statSync(p).isDirectory()) walk(p, out)
    else if (name.endsWith('.bench.ts') && dir.endsWith('bench')) out.push(p)
  }
  return out
}

const filters = process.argv.slice(2)
const files = ['packages', 'services']
  .flatMap((r) => walk(r, []))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort()
let failed = 0
for (const f of files) {
  console.log(`\n=== ${f}`)
  const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', f], { stdio: 'inherit' })
  if (r.status !== 0) failed++
}
console.log(`\n${files.length - failed} benchmarks met their targets, ${failed} did not`)
process.exit(failed ? 1 : 0)
