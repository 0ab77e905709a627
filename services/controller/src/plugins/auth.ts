import type { FastifyRequest } from 'fastify'
import { HitlessError } from '@hitless/protocol'
import type { Principal, Role, TokenService } from '../services/token.service.js'

/** What a route requires. Operator and admin include viewer; agent tokens act only on agent routes. */
export type Access = 'public' | 'viewer' | 'operator' | 'admin' | 'agent'

const RANK: Record<Role, number> = { agent: -1, viewer: 0, operator: 1, admin: 2 }
const NEED: Record<Exclude<Access, 'public' | 'agent'>, number> = { viewer: 0, operator: 1, admin: 2 }

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal
  }
  interface FastifyContextConfig {
    access?: Access
  }
}

export function makeAuthHook(tokens: TokenService) {
  return async (req: FastifyRequest): Promise<void> => {
    // Routes outside the API (OpenAPI UI, health) are public unless they say otherwise; API
    // routes that forget to declare access get the strictest.
    const access = req.routeOptions.config?.access ?? (req.url.startsWith('/api/') ? 'admin' : 'public')
    if (access === 'public') return
    const header = req.headers.authorization
    const m = header ? /^Bearer\s+(\S+)$/i.exec(header) : null
    if (!m)
      throw new HitlessError(
        'HITLESS_E_UNAUTHENTICATED',
        'missing bearer token: send Authorization: Bearer <token>',
      )
    const principal = await tokens.authenticate(m[1])
    if (!principal) throw new HitlessError('HITLESS_E_UNAUTHENTICATED', 'unknown or revoked token')
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
