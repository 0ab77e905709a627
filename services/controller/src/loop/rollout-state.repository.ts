import type { Db } from '@hitless/db'
import type { HostUpdateState, RolloutPhase, Verdict } from '@hitless/protocol'
import type { PlannerRollout } from '../planner/types.js'
import { storedPolicy } from '../services/presenters.js'

/** Rollouts the loop plans each tick: active ones, and ended ones with a host still in flight. */
export async function loadPlannerRollouts(db: Db): Promise<PlannerRollout[]> {
  const rows = await db.rollout.findMany({
    where: {
      OR: [{ phase: { in: ['RUNNING', 'PAUSED', 'HALTED'] } }, { updates: { some: { state: 'RUNNING' } } }],
    },
    select: { id: true },
    orderBy: { createdAt: 'asc' },
  })
  const out: PlannerRollout[] = []
  for (const r of rows) {
    const s = await loadPlannerRollout(db, r.id)
    if (s) out.push(s)
  }
  return out
}

/**
 * One rollout as the planner sees it (types.ts). The updates come from one SQL query (a tick
 * plans every active rollout, and a 1,000-host rollout is read many times a second).
 */
export async function loadPlannerRollout(db: Db, id: string): Promise<PlannerRollout | undefined> {
  const r = await db.rollout.findUnique({
    where: { id },
    select: {
      id: true,
      phase: true,
      policy: true,
      rollbackOf: true,
      waves: { select: { id: true, index: true, startedAt: true, finishedAt: true } },
    },
  })
  if (!r) return undefined
  const rows = await db.$queryRaw<
    {
      id: string
      state: string
      order: number
      waveId: string | null
      blackoutMs: number | null
      acked: boolean
      hostName: string
      labels: Record<string, string> | null
      hostState: string
      verdict: string | null
      kexecSince: Date | null
    }[]
  >`
    SELECT u.id, u.state::text AS state, u."order", u."waveId", u."blackoutMs",
           u."gateAckedAt" IS NOT NULL AS acked,
           h.name AS "hostName", h.labels, h.state::text AS "hostState",
           v.verdict,
           CASE WHEN u.state = 'RUNNING' THEN
             (SELECT s."startedAt" FROM "UpdateStep" s
               WHERE s."updateId" = u.id AND s.attempt = u.attempt AND s.step = 'KEXEC' AND s.status = 'running')
           END AS "kexecSince"
    FROM "HostUpdate" u
    JOIN "Host" h ON h.id = u."hostId"
    LEFT JOIN "VerdictRecord" v ON v."updateId" = u.id
    WHERE u."rolloutId" = ${id}`
  const policy = storedPolicy(r.policy)
  const waveIndex = new Map(r.waves.map((w) => [w.id, w.index]))
  const rolledBack =
    r.phase === 'HALTED' && policy.onHalt === 'rollback'
      ? (await db.rollout.count({ where: { rollbackOf: r.id } })) > 0
      : false
  return {
    id: r.id,
    phase: r.phase as RolloutPhase,
    policy,
    rollbackOf: r.rollbackOf,
    rolledBack,
    waves: r.waves.map((w) => ({ index: w.index, startedAt: w.startedAt, finishedAt: w.finishedAt })),
    updates: rows.map((u) => ({
      id: u.id,
      hostName: u.hostName,
      domain: policy.spreadBy ? (u.labels?.[policy.spreadBy] ?? null) : null,
      wave: u.waveId ? (waveIndex.get(u.waveId) ?? 0) : 0,
      order: u.order,
      state: u.state as HostUpdateState,
      hostReady: u.hostState === 'READY',
      verdict: u.verdict as Verdict | null,
      blackoutMs: u.blackoutMs,
      kexecRunningSince: u.kexecSince,
      gateAcked: u.acked,
    })),
  }
}
