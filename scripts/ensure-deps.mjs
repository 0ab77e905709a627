// Makes a fresh clone runnable: installs dependencies when they are missing or stale (the lock
// file changed since the last install) and generates the Prisma client when the schema changed.
// Plain JavaScript: it runs before anything is installed.
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'

const hash = (files) => {
  const h = createHash('sha256')
  for (const f of files) h.update(existsSync(f) ? readFileSync(f) : '')
  return h.digest('hex')
}
const run = (cmd, args, env = {}) => {
  const r = spawnSync(cmd, args, { stdio: 'inherit', env: { ...process.env, ...env } })
  if (r.status !== 0) {
    console.error(`hitless: \`${cmd} ${args.join(' ')}\` failed (exit ${r.status})`)
    process.exit(r.status ?? 1)
  }
}

const stampFile = 'node_modules/.hitless-deps'
const want = hash(['package-lock.json', 'package.json'])
const have = existsSync(stampFile) ? readFileSync(stampFile, 'utf8') : ''
if (have !== want || !existsSync('node_modules/.bin/tsx')) {
  console.log('hitless: installing dependencies (npm ci)…')
  run('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'])
  writeFileSync(stampFile, want)
}
const genStamp = 'packages/db/src/generated/.schema-hash'
const schemaHash = hash(['prisma/schema.prisma'])
if (!existsSync(genStamp) || readFileSync(genStamp, 'utf8') !== schemaHash) {
  run(process.execPath, ['scripts/prisma-generate.mjs'])
  writeFileSync(genStamp, schemaHash)
}
