import { createHash, randomBytes, randomUUID } from 'node:crypto'
import type { Db } from '@hitless/db'

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
  constructor(private readonly db: Db) {}

  async create(name: string, role: Role, hostId: string | null = null, secret?: string): Promise<string> {
    const token = secret ?? newTokenSecret(role === 'agent' ? 'hla' : 'hlt')
    await this.db.apiToken.create({ data: { id: randomUUID(), name, role, hash: hashToken(token), hostId } })
    return token
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
    const t = await this.db.apiToken.findUnique({ where: { hash: hashToken(secret) } })
    if (!t || t.revokedAt) return undefined
    return { tokenId: t.id, name: t.name, role: t.role as Role, hostId: t.hostId }
  }

  /** Replaces a host's agent token (re-enrolment); the old one stops working at once. */
  async rotateHostToken(hostId: string, hostName: string): Promise<string> {
    await this.db.apiToken.updateMany({ where: { hostId, revokedAt: null }, data: { revokedAt: new Date() } })
    return this.create(`agent:${hostName}`, 'agent', hostId)
  }
}
