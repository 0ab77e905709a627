// Generates the Prisma client offline. The CLI insists on a schema-engine binary it would
// download from the internet; generate itself runs on WASM, so any existing file satisfies the
// check (../shared/reference/stack-notes.md §1.4).
import { spawnSync } from 'node:child_process'
const r = spawnSync('npx', ['prisma', 'generate', '--schema', 'prisma/schema.prisma'], {
  stdio: 'inherit',
  env: {
    ...process.env,
    CHECKPOINT_DISABLE: '1',
    PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY ?? '/bin/false',
    PRISMA_HIDE_UPDATE_MESSAGE: '1',
  },
})
process.exit(r.status ?? 1)
