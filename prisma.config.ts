// For the Prisma CLI on a connected machine (`npx prisma migrate deploy`). Hitless itself
// applies the same prisma/migrations folder offline: packages/db/src/migrations/.
import { defineConfig } from 'prisma/config'

export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: { url: process.env.DATABASE_URL ?? '' },
})
