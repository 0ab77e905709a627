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

/** One rollout as the planner sees it (types.ts). */
export async function loadPlannerRollout(
  db: Pick<Db, 'rollout'>,
  id: string,
): Promise<PlannerRollout | undefined> {
  const r = await db.rollout.findUnique({
    where: { id },
    select: {
      id: true,
      phase: true,
      policy: true,
      rollbackOf: true,
      waves: { select: { id: true, index: true, startedAt: true, finishedAt: true } },
      updates: {
        select: {
          id: true,
          state: true,
          attempt: true,
          order: true,
          waveId: true,
          blackoutMs: true,
          gateAckedAt: true,
          host: { select: { name: true, labels: true, state: true } },
          verdict: { select: { verdict: true } },
          steps: { where: { step: 'KEXEC', status: 'running' }, select: { attempt: true, startedAt: true } },
        },
      },
    },
  })
  if (!r) return undefined
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
    updates: r.updates.map((u) => {
      const labels = (u.host.labels ?? {}) as Record<string, string>
      const kexec = u.steps.find((s) => s.attempt === u.attempt)
      return {
        id: u.id,
        hostName: u.host.name,
        domain: policy.spreadBy ? (labels[policy.spreadBy] ?? null) : null,
        wave: u.waveId ? (waveIndex.get(u.waveId) ?? 0) : 0,
        order: u.order,
        state: u.state as HostUpdateState,
        hostReady: u.host.state === 'READY',
        verdict: (u.verdict?.verdict ?? null) as Verdict | null,
        blackoutMs: u.blackoutMs,
        kexecRunningSince: kexec ? kexec.startedAt : null,
        gateAcked: u.gateAckedAt !== null,
      }
    }),
  }
}
