import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto'
import type { Db } from '@hitless/db'
import { HitlessError } from '@hitless/protocol'
import { hashToken, type Principal, type TokenService } from './token.service.js'

export const SESSION_COOKIE = 'hitless_session'
export const CSRF_COOKIE = 'hitless_csrf'
export const CSRF_HEADER = 'x-csrf-token'

/**
 * Browser sessions for the dashboard. EventSource cannot send an Authorization header, so a
 * browser logs in once with an API token and gets an HttpOnly, SameSite=Strict cookie. Like
 * tokens, only the hash of the session secret is stored. State-changing requests made with the
 * cookie must also send the CSRF token (returned at login and in a readable cookie) in the
 * X-CSRF-Token header; its hash is kept with the session (double submit, bound to the session).
 */
export class SessionService {
  constructor(
    private readonly db: Db,
    private readonly tokens: TokenService,
    readonly ttlMs = 12 * 3600 * 1000,
  ) {}

  async login(
    token: string,
  ): Promise<{ secret: string; csrf: string; principal: Principal; expiresAt: Date }> {
    const principal = await this.tokens.authenticate(token)
    if (!principal) throw new HitlessError('HITLESS_E_UNAUTHENTICATED', 'unknown or revoked token')
    if (principal.role === 'agent')
      throw new HitlessError('HITLESS_E_FORBIDDEN', 'agent tokens cannot open dashboard sessions')
    const secret = randomBytes(32).toString('base64url')
    const csrf = randomBytes(24).toString('base64url')
    const expiresAt = new Date(Date.now() + this.ttlMs)
    await this.db.session.create({
      data: {
        id: randomUUID(),
        hash: hashToken(secret),
        csrfHash: hashToken(csrf),
        tokenId: principal.tokenId,
        expiresAt,
      },
    })
    return { secret, csrf, principal, expiresAt }
  }

  /** The session's principal and CSRF hash, or undefined when unknown, expired or revoked. */
  async authenticate(
    secret: string,
  ): Promise<{ principal: Principal; csrfHash: string; sessionId: string } | undefined> {
    const s = await this.db.session.findUnique({
      where: { hash: hashToken(secret) },
      include: { token: true },
    })
    if (!s || s.revokedAt || s.expiresAt < new Date() || s.token.revokedAt) return undefined
    return {
      principal: {
        tokenId: s.token.id,
        name: s.token.name,
        role: s.token.role as Principal['role'],
        hostId: null,
      },
      csrfHash: s.csrfHash,
      sessionId: s.id,
    }
  }

  async logout(secret: string): Promise<void> {
    await this.db.session.updateMany({ where: { hash: hashToken(secret) }, data: { revokedAt: new Date() } })
  }

  static csrfMatches(header: string | undefined, csrfHash: string): boolean {
    if (!header) return false
    const a = Buffer.from(hashToken(header))
    const b = Buffer.from(csrfHash)
    return a.length === b.length && timingSafeEqual(a, b)
  }
}

/** Parses a Cookie header into name → value. */
export function parseCookies(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {}
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=')
    if (i > 0) out[part.slice(0, i).trim()] = decodeURIComponent(part.slice(i + 1).trim())
  }
  return out
}
