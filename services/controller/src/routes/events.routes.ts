import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import type { ControllerContext } from '../context.js'
import type { HubEvent } from '../services/event-hub.service.js'
import { READ_ERRORS } from './errors.js'

/** Live rollout and host-update changes as server-sent events (works with the session cookie). */
export const eventRoutes =
  (ctx: ControllerContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/events',
      {
        config: { access: 'viewer', rateLimit: false },
        schema: {
          tags: ['events'],
          summary: 'Server-sent events: `rollout` (phase changes) and `update` (host update state, verdict)',
          description:
            'text/event-stream. Each event has an id (a cursor); reconnecting with Last-Event-ID resumes from it. ' +
            'Filter with ?rolloutId=. Example event: `event: update` / `id: 1764100000123` / ' +
            '`data: {"id":"upd-…","rolloutId":"ro-…","hostName":"h001","state":"SUCCEEDED","verdict":"hitless"}`.',
          querystring: Type.Object({ rolloutId: Type.Optional(Type.String({ maxLength: 200 })) }),
          headers: Type.Object({ 'last-event-id': Type.Optional(Type.String({ pattern: '^[0-9]{1,16}$' })) }),
          response: {
            200: {
              description:
                'The event stream, open until the client leaves (a comment line every 15 s keeps it alive)',
              content: {
                'text/event-stream': {
                  schema: Type.String({
                    examples: [
                      'id: 1764100000123\nevent: update\ndata: {"id":"upd-7e1d…","rolloutId":"ro-1a2b…","hostName":"gpu-a-017","state":"SUCCEEDED","verdict":"hitless"}\n\n',
                    ],
                  }),
                },
              },
            },
            ...READ_ERRORS,
          },
        },
      },
      async (req, reply) => {
        const only = req.query.rolloutId
        reply.hijack()
        const res = reply.raw
        res.writeHead(200, {
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-cache, no-transform',
          connection: 'keep-alive',
          'x-accel-buffering': 'no',
        })
        const send = (events: HubEvent[]) => {
          for (const e of events) {
            if (only && e.data.id !== only && e.data.rolloutId !== only) continue
            res.write(`id: ${e.id}\nevent: ${e.type}\ndata: ${JSON.stringify(e.data)}\n\n`)
          }
        }
        res.write(': hitless events\n\n')
        const last = req.headers['last-event-id']
        if (last) send(await ctx.events.since(new Date(Number(last) + 1)))
        const unsubscribe = ctx.events.subscribe(send)
        const ping = setInterval(() => res.write(': ping\n\n'), 15000)
        req.raw.on('close', () => {
          clearInterval(ping)
          unsubscribe()
        })
      },
    )
  }
