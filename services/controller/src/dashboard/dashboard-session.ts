import type { FastifyRequest } from 'fastify'
import type { ControllerContext } from '../context.js'
import { CSRF_COOKIE, parseCookies, SESSION_COOKIE, SessionService } from '../services/session.service.js'
import type { Viewer } from './layout.js'

/**
 * The dashboard's sessions are the API's (`SessionService`): the same HttpOnly, SameSite=Strict
 * cookie and CSRF token, but set with `Path=/` by the dashboard's own login so that pages under
 * /ui, the events stream under /api and the queue view all receive them.
 */
export async function viewerOf(ctx: ControllerContext, req: FastifyRequest): Promise<Viewer | undefined> {
  const cookies = parseCookies(req.headers.cookie)
  const secret = cookies[SESSION_COOKIE]
  if (!secret) return undefined
  const s = await ctx.sessions.authenticate(secret)
  if (!s || s.principal.role === 'agent') return undefined
  const csrf = cookies[CSRF_COOKIE] ?? ''
  // A readable CSRF cookie that does not belong to this session is ignored (forms then fail closed).
  return {
    name: s.principal.name,
    role: s.principal.role,
    csrf: SessionService.csrfMatches(csrf, s.csrfHash) ? csrf : '',
  }
}

export function sessionCookies(secret: string, csrf: string, maxAgeS: number, secure: boolean): string[] {
  const attrs = `Path=/; Max-Age=${maxAgeS}; SameSite=Strict${secure ? '; Secure' : ''}`
  return [`${SESSION_COOKIE}=${secret}; HttpOnly; ${attrs}`, `${CSRF_COOKIE}=${csrf}; ${attrs}`]
}

/** Only same-site dashboard paths are followed after login (no open redirect). */
export function safeNext(next: unknown): string {
  return typeof next === 'string' &&
    /^\/(ui\/|admin\/queues\/?$)/.test(next) &&
    !next.includes('//') &&
    !next.includes('\\')
    ? next
    : '/ui/rollouts'
}
