import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { type Db, sqlQuery } from '@hitless/db'
import { auditIn } from './audit.service.js'

export type Role = 'viewer' | 'operator' | 'admin' | 'agent'

export interface Principal {
  tokenId: string
  name: string
  role: Role
  /** Set for agent tokens: the one host this token may act for. */
  hostId: string | null
}

/**
 * API tokens are random 256-bit secrets shown once; only their SHA-256 is stored. A fast hash is
 * right here (unlike passwords): the secret has full entropy, so there is nothing to brute-force.
 */
export const hashToken = (token: string): string => createHash('sha256').update(token).digest('hex')

export const newTokenSecret = (prefix: string): string => `${prefix}_${randomBytes(32).toString('base64url')}`

export class TokenService {
  /**
   * Authenticated tokens for `cacheMs` (default 2 s): a busy API does not pay a PostgreSQL
   * round trip per request; a revocation reaches every replica within that time.
   */
  private readonly cache = new Map<string, { principal: Principal | undefined; until: number }>()

  constructor(
    private readonly db: Db,
    private readonly cacheMs = 2000,
  ) {}

  async create(name: string, role: Role, hostId: string | null = null, secret?: string): Promise<string> {
    return (await this.issue(name, role, hostId, secret)).token
  }

  async issue(
    name: string,
    role: Role,
    hostId: string | null = null,
    secret?: string,
  ): Promise<{ id: string; token: string }> {
    const token = secret ?? newTokenSecret(role === 'agent' ? 'hla' : 'hlt')
    const id = randomUUID()
    await this.db.apiToken.create({ data: { id, name, role, hash: hashToken(token), hostId } })
    return { id, token }
  }

  /** Ensures the admin token from HITLESS_ADMIN_TOKEN exists (idempotent across restarts). */
  async ensure(name: string, role: Role, secret: string): Promise<void> {
    const hash = hashToken(secret)
    await this.db.apiToken.upsert({
      where: { hash },
      update: { revokedAt: null },
      create: { id: randomUUID(), name, role, hash },
    })
  }

  async countAdmins(): Promise<number> {
    return this.db.apiToken.count({ where: { role: 'admin', revokedAt: null } })
  }

  async authenticate(secret: string): Promise<Principal | undefined> {
    const hash = hashToken(secret)
    const now = Date.now()
    const hit = this.cache.get(hash)
    if (hit && hit.until > now) return hit.principal
    // On the pg pool (@hitless/db sql.ts): every agent's calls authenticate a token of its own.
    const [t] = await sqlQuery<{
      id: string
      name: string
      role: string
      hostId: string | null
      revoked: boolean
    }>(
      this.db,
      `SELECT id, name, role::text AS role, "hostId", "revokedAt" IS NOT NULL AS revoked FROM "ApiToken" WHERE hash = $1`,
      [hash],
    )
    const principal =
      !t || t.revoked ? undefined : { tokenId: t.id, name: t.name, role: t.role as Role, hostId: t.hostId }
    if (this.cache.size > 10000) this.cache.clear()
    // Unknown tokens are not cached: a token created on another replica works at once.
    if (principal) this.cache.set(hash, { principal, until: now + this.cacheMs })
    return principal
  }

  async list(): Promise<{ id: string; name: string; role: Role; createdAt: Date; revokedAt: Date | null }[]> {
    const rows = await this.db.apiToken.findMany({
      where: { role: { not: 'agent' } },
      orderBy: { createdAt: 'asc' },
    })
    return rows.map((t) => ({
      id: t.id,
      name: t.name,
      role: t.role as Role,
      createdAt: t.createdAt,
      revokedAt: t.revokedAt,
    }))
  }

  /** An operator's token, created and audited in one transaction (`actor` created it). */
  async issueFor(actor: string, name: string, role: Role): Promise<{ id: string; token: string }> {
    const token = newTokenSecret('hlt')
    const id = randomUUID()
    await this.db.$transaction(async (tx) => {
      await tx.apiToken.create({ data: { id, name, role, hash: hashToken(token), hostId: null } })
      await auditIn(tx, actor, 'token.create', id, { name, role })
    })
    return { id, token }
  }

  /** Revokes a live token (false: none), audited in the same transaction when `actor` is given. */
  async revoke(id: string, actor?: string): Promise<boolean> {
    const n = await this.db.$transaction(async (tx) => {
      const r = await tx.apiToken.updateMany({
        where: { id, revokedAt: null },
        data: { revokedAt: new Date() },
      })
      if (r.count > 0 && actor) await auditIn(tx, actor, 'token.revoke', id)
      return r.count
    })
    this.cache.clear()
    return n > 0
  }

  /** Replaces a host's agent token (re-enrolment); the old one stops working at once. */
  async rotateHostToken(hostId: string, hostName: string): Promise<string> {
    this.cache.clear()
    await this.db.apiToken.updateMany({ where: { hostId, revokedAt: null }, data: { revokedAt: new Date() } })
    return this.create(`agent:${hostName}`, 'agent', hostId)
  }
}
