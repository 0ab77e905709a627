import type { Db } from '@hitless/db'

export interface AuditEntry {
  id: string
  at: string
  actor: string
  action: string
  target: string | null
  detail: unknown
}

type Tx = Pick<Db, 'auditEvent'>

/** One audit entry, written by `tx`: in the transaction of the action it records, so both or neither land. */
export async function auditIn(
  tx: Tx,
  actor: string,
  action: string,
  target?: string,
  detail?: Record<string, unknown>,
): Promise<void> {
  await tx.auditEvent.create({ data: { actor, action, target, detail: detail as object | undefined } })
}

/** Every operator action lands here (who, what, on which object), and the loop's decisions too. */
export class AuditService {
  constructor(private readonly db: Db) {}

  async record(
    actor: string,
    action: string,
    target?: string,
    detail?: Record<string, unknown>,
    tx: Tx = this.db,
  ): Promise<void> {
    await auditIn(tx, actor, action, target, detail)
  }

  async list(q: {
    limit?: number
    before?: string
    actor?: string
    action?: string
    target?: string
  }): Promise<AuditEntry[]> {
    const rows = await this.db.auditEvent.findMany({
      where: {
        ...(q.before ? { id: { lt: BigInt(q.before) } } : {}),
        ...(q.actor ? { actor: q.actor } : {}),
        ...(q.action ? { action: { startsWith: q.action } } : {}),
        ...(q.target ? { target: q.target } : {}),
      },
      orderBy: { id: 'desc' },
      take: q.limit ?? 100,
    })
    return rows.map((r) => ({
      id: r.id.toString(),
      at: r.at.toISOString(),
      actor: r.actor,
      action: r.action,
      target: r.target,
      detail: r.detail ?? null,
    }))
  }
}
