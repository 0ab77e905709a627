import type { Db } from '@hitless/db'
import {
  type FaultCounts,
  HitlessError,
  type HostUpdate,
  type HostUpdateState,
  type Verdict,
  type VerdictBody,
} from '@hitless/protocol'
import { toUpdate, UPDATE_INCLUDE } from './presenters.js'

export class UpdateService {
  constructor(private readonly db: Db) {}

  async list(q: {
    rolloutId?: string
    hostId?: string
    state?: HostUpdateState
    limit?: number
  }): Promise<HostUpdate[]> {
    const rows = await this.db.hostUpdate.findMany({
      where: {
        ...(q.rolloutId ? { rolloutId: q.rolloutId } : {}),
        ...(q.hostId ? { OR: [{ hostId: q.hostId }, { host: { name: q.hostId } }] } : {}),
        ...(q.state ? { state: q.state } : {}),
      },
      include: UPDATE_INCLUDE,
      orderBy: { createdAt: 'desc' },
      take: q.limit ?? 100,
    })
    return rows.map(toUpdate)
  }

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
