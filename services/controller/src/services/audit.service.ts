import type { Db } from '@hitless/db'

/** Every operator action lands here (who, what, on which object). */
export class AuditService {
  constructor(private readonly db: Db) {}

  async record(
    actor: string,
    action: string,
    target?: string,
    detail?: Record<string, unknown>,
  ): Promise<void> {
    await this.db.auditEvent.create({ data: { actor, action, target, detail: detail as object | undefined } })
  }
}
