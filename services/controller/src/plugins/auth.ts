import type { FastifyRequest } from 'fastify'
import { HitlessError } from '@hitless/protocol'
import { CSRF_HEADER, parseCookies, SESSION_COOKIE, SessionService } from '../services/session.service.js'
import type { Principal, Role, TokenService } from '../services/token.service.js'

/** What a route requires. Operator and admin include viewer; agent tokens act only on agent routes. */
export type Access = 'public' | 'viewer' | 'operator' | 'admin' | 'agent'

const RANK: Record<Role, number> = { agent: -1, viewer: 0, operator: 1, admin: 2 }
const NEED: Record<Exclude<Access, 'public' | 'agent'>, number> = { viewer: 0, operator: 1, admin: 2 }
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal
    /** How the caller authenticated: a bearer token, or a dashboard session cookie. */
    authVia?: 'bearer' | 'session'
  }
  interface FastifyContextConfig {
    access?: Access
  }
}

/**
 * Authentication and role check for every request: a bearer token, or (for the dashboard and
 * EventSource) a session cookie, in which case a state-changing request must carry the CSRF
 * token. Routes declare `config.access`; API routes that forget get the strictest.
 */
export function makeAuthHook(tokens: TokenService, sessions: SessionService) {
  return async (req: FastifyRequest): Promise<void> => {
    const access = req.routeOptions.config?.access ?? (req.url.startsWith('/api/') ? 'admin' : 'public')
    if (access === 'public') return
    const header = req.headers.authorization
    let principal: Principal | undefined
    if (header) {
      const m = /^Bearer\s+(\S+)$/i.exec(header)
      if (!m)
        throw new HitlessError(
          'HITLESS_E_UNAUTHENTICATED',
          'malformed Authorization header: send Bearer <token>',
        )
      principal = await tokens.authenticate(m[1])
      if (!principal) throw new HitlessError('HITLESS_E_UNAUTHENTICATED', 'unknown or revoked token')
      req.authVia = 'bearer'
    } else {
      const cookie = parseCookies(req.headers.cookie)[SESSION_COOKIE]
      if (!cookie)
        throw new HitlessError(
          'HITLESS_E_UNAUTHENTICATED',
          'missing bearer token: send Authorization: Bearer <token> (or log in at POST /api/v1/session)',
        )
      const s = await sessions.authenticate(cookie)
      if (!s) throw new HitlessError('HITLESS_E_UNAUTHENTICATED', 'session unknown or expired: log in again')
      if (!SAFE_METHODS.has(req.method)) {
        const sent = req.headers[CSRF_HEADER]
        if (!SessionService.csrfMatches(typeof sent === 'string' ? sent : undefined, s.csrfHash))
          throw new HitlessError(
            'HITLESS_E_FORBIDDEN',
            `missing or wrong CSRF token: send the csrfToken from login in the ${CSRF_HEADER} header`,
          )
      }
      principal = s.principal
      req.authVia = 'session'
    }
    if (access === 'agent') {
      if (principal.role !== 'agent')
        throw new HitlessError('HITLESS_E_FORBIDDEN', 'this route is for host agents')
    } else if (RANK[principal.role] < NEED[access]) {
      throw new HitlessError(
        'HITLESS_E_FORBIDDEN',
        `role ${principal.role} may not do this; ${access} or above is required`,
      )
    }
    req.principal = principal
  }
}
