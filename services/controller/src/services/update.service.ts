import type { Db } from '@hitless/db'
import {
  type FaultCounts,
  HitlessError,
  type HostUpdate,
  type Verdict,
  type VerdictBody,
} from '@hitless/protocol'
import { toUpdate, UPDATE_INCLUDE } from './presenters.js'

export class UpdateService {
  constructor(private readonly db: Db) {}

  async get(id: string): Promise<HostUpdate> {
    const u = await this.db.hostUpdate.findUnique({ where: { id }, include: UPDATE_INCLUDE })
    if (!u) throw new HitlessError('HITLESS_E_NOT_FOUND', `no update ${id}`)
    return toUpdate(u)
  }

  async verdict(id: string): Promise<VerdictBody> {
    const u = await this.db.hostUpdate.findUnique({ where: { id }, include: { verdict: true } })
    if (!u) throw new HitlessError('HITLESS_E_NOT_FOUND', `no update ${id}`)
    if (!u.verdict)
      throw new HitlessError('HITLESS_E_NOT_FOUND', `update ${id} has no verdict yet (state ${u.state})`)
    return {
      updateId: id,
      verdict: u.verdict.verdict as Verdict,
      reasons: u.verdict.reasons as string[],
      diff: u.verdict.diff ?? null,
      faults: (u.verdict.faults as FaultCounts | null) ?? null,
      createdAt: u.verdict.createdAt.toISOString(),
    }
  }
}
