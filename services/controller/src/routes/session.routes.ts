import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { SessionLoginBodySchema, SessionSchema } from '@hitless/protocol'
import type { ControllerContext } from '../context.js'
import { CSRF_COOKIE, parseCookies, SESSION_COOKIE } from '../services/session.service.js'
import { WRITE_ERRORS } from './errors.js'

/** Dashboard sessions: POST logs in with an API token, DELETE logs out. */
export const sessionRoutes =
  (
    ctx: ControllerContext,
    opts: { secureCookies: boolean; loginPerMinute: number },
  ): FastifyPluginAsyncTypebox =>
  async (app) => {
    const attrs = (maxAge: number) =>
      `Path=/api; Max-Age=${maxAge}; SameSite=Strict${opts.secureCookies ? '; Secure' : ''}`
    app.post(
      '/session',
      {
        config: { access: 'public', rateLimit: { max: opts.loginPerMinute, timeWindow: 60000 } },
        schema: {
          tags: ['session'],
          summary: 'Log a browser in with an API token: sets an HttpOnly, SameSite=Strict session cookie',
          description:
            'Returns a CSRF token (also set in the readable hitless_csrf cookie): requests made with the session cookie that change state must send it in X-CSRF-Token. EventSource (GET /api/v1/events) works with the cookie alone.',
          security: [],
          body: SessionLoginBodySchema,
          response: { 200: SessionSchema, ...WRITE_ERRORS },
        },
      },
      async (req, reply) => {
        const s = await ctx.sessions.login(req.body.token)
        const maxAge = Math.floor(ctx.sessions.ttlMs / 1000)
        reply.header('set-cookie', [
          `${SESSION_COOKIE}=${s.secret}; HttpOnly; ${attrs(maxAge)}`,
          `${CSRF_COOKIE}=${s.csrf}; ${attrs(maxAge)}`,
        ])
        await ctx.audit.record(s.principal.name, 'session.login', s.principal.tokenId)
        return {
          name: s.principal.name,
          role: s.principal.role as 'viewer',
          csrfToken: s.csrf,
          expiresAt: s.expiresAt.toISOString(),
        }
      },
    )
    app.delete(
      '/session',
      {
        config: { access: 'viewer' },
        schema: {
          tags: ['session'],
          summary: 'Log out (revokes the session)',
          response: { 204: Type.Null(), ...WRITE_ERRORS },
        },
      },
      async (req, reply) => {
        const secret = parseCookies(req.headers.cookie)[SESSION_COOKIE]
        if (secret) await ctx.sessions.logout(secret)
        reply.header('set-cookie', [
          `${SESSION_COOKIE}=; HttpOnly; ${attrs(0)}`,
          `${CSRF_COOKIE}=; ${attrs(0)}`,
        ])
        await ctx.audit.record(req.principal!.name, 'session.logout')
        return reply.status(204).send(null)
      },
    )
  }
