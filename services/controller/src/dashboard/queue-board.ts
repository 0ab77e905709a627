import { createBullBoard } from '@bull-board/api'
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter'
import { FastifyAdapter } from '@bull-board/fastify'
import { Queue } from 'bullmq'
import type { FastifyPluginAsync } from 'fastify'
import { Redis } from 'ioredis'
import { hostUpdateQueueName, VERIFY_QUEUE } from '@hitless/protocol'
import type { ControllerContext } from '../context.js'
import { viewerOf } from './dashboard-session.js'
import { page } from './layout.js'
import { errorView } from './views/login.view.js'

const BASE = '/admin/queues'

/**
 * Bull Board over the platform's queues (`verify` and one `host-update.<agent>` per agent), for
 * admins only. Read-only on purpose: retrying or removing a host-update job by hand would go
 * around the controller, which alone decides a new attempt (docs/architecture.md, "Queues").
 */
export const queueBoard =
  (ctx: ControllerContext, opts: { redisUrl: string; redisPrefix: string }): FastifyPluginAsync =>
  async (app) => {
    const connection = new Redis(opts.redisUrl, { maxRetriesPerRequest: null, lazyConnect: true })
    connection.on('error', () => {})
    const queues = new Map<string, Queue>()
    const serverAdapter = new FastifyAdapter()
    serverAdapter.setBasePath(BASE)
    const board = createBullBoard({
      queues: [],
      serverAdapter,
      options: { uiConfig: { boardTitle: 'Hitless queues' } },
    })
    let refreshed = 0
    // Agents enrol over time: the list of queues is re-read at most every 5 s.
    const refresh = async () => {
      if (Date.now() - refreshed < 5000) return
      refreshed = Date.now()
      const agents = await ctx.db.host.findMany({ distinct: ['agentId'], select: { agentId: true } })
      const names = [VERIFY_QUEUE, ...agents.map((a) => hostUpdateQueueName(a.agentId)).sort()]
      for (const n of names)
        if (!queues.has(n)) {
          const queue = new Queue(n, { connection, prefix: opts.redisPrefix })
          queue.on('error', () => {})
          queues.set(n, queue)
        }
      board.replaceQueues(names.map((n) => new BullMQAdapter(queues.get(n)!, { readOnlyMode: true })))
    }

    app.addHook('onRequest', async (req, reply) => {
      const v = await viewerOf(ctx, req)
      if (!v) return reply.redirect(`/ui/login?next=${encodeURIComponent(BASE)}`, 303)
      if (v.role !== 'admin') {
        const body = page(
          { title: 'Queues', section: 'none', viewer: v },
          errorView(403, `The queue view is for admins; you are ${v.role}.`),
        )
        return reply.status(403).type('text/html; charset=utf-8').send(body.value)
      }
      await refresh()
    })
    // Bull Board's page asks Google for its fonts: nothing leaves the controller, system fonts it is.
    app.addHook('onSend', async (_req, reply, payload) => {
      if (typeof payload !== 'string' || !String(reply.getHeader('content-type') ?? '').includes('text/html'))
        return payload
      return payload.replace(/<link[^>]+fonts\.(googleapis|gstatic)\.com[^>]*>/g, '')
    })
    await app.register(serverAdapter.registerPlugin() as FastifyPluginAsync)
    app.addHook('onClose', async () => {
      await Promise.all([...queues.values()].map((qu) => qu.close()))
      connection.disconnect()
    })
  }
