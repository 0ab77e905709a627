// The controller process: `node --import tsx services/controller/src/main.ts`.
import closeWithGrace from 'close-with-grace'
import { applyMigrations, createDb } from '@hitless/db'
import { exitWithError } from '@hitless/protocol'
import { checkPostgres, checkRedis } from '@hitless/provision'
import { buildController } from './app.js'
import { loadControllerConfig } from './config.js'
import { newTokenSecret } from './services/token.service.js'

async function main(): Promise<void> {
  const cfg = loadControllerConfig()
  await checkPostgres(cfg.databaseUrl, 'DATABASE_URL')
  await checkRedis(cfg.redisUrl, 'REDIS_URL')
  await applyMigrations(cfg.databaseUrl)
  const db = createDb(cfg.databaseUrl, cfg.dbPoolSize)
  const { app, ctx } = await buildController(cfg, db, { logger: process.env.HITLESS_LOG !== '0' })
  if (cfg.adminToken) {
    await ctx.tokens.ensure('admin (HITLESS_ADMIN_TOKEN)', 'admin', cfg.adminToken)
  } else if ((await ctx.tokens.countAdmins()) === 0) {
    const token = newTokenSecret('hlt')
    await ctx.tokens.create('admin (generated at first start)', 'admin', null, token)
    console.log(`Generated an admin API token (shown once, stored hashed): ${token}`)
  }
  await app.listen({ port: cfg.port, host: cfg.host })
  ctx.loop.start()
  closeWithGrace({ delay: cfg.shutdownDeadlineMs }, async ({ err }) => {
    if (err) app.log.error({ err }, 'shutting down after error')
    await app.close()
    await ctx.lease.release().catch(() => {})
    await db.$disconnect()
  })
}

main().catch(exitWithError('hitless-controller'))
