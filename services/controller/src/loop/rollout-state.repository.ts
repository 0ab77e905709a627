import { type Db, sqlBatch, sqlLiteral, sqlQuery } from '@hitless/db'
import type { HostUpdateState, RolloutPhase, Verdict } from '@hitless/protocol'
import type { PlannerRollout } from '../planner/types.js'
import { storedPolicy } from '../services/presenters.js'

/** A rollout row as the loop reads it (times as epoch milliseconds). */
interface RolloutRow {
  id: string
  phase: string
  policy: unknown
  rollbackOf: string | null
  rolledBack: boolean
  updateCount: number
  waves: { id: string; index: number; startedAt: number | null; finishedAt: number | null }[]
}

/** An update row as the planner reads it. */
interface UpdateRow {
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
  kexecSince: number | null
}

// The loop reads a 1,000-host rollout several times a second: on the pg pool (@hitless/db
// sql.ts), ~4× less of the process's thread than the same rows through Prisma. Times are read as
// epoch milliseconds (a `timestamp(3)` holds UTC).
const ROLLOUTS = `
  SELECT r.id, r.phase::text AS phase, r.policy, r."rollbackOf",
         (SELECT count(*)::int FROM "HostUpdate" c WHERE c."rolloutId" = r.id) AS "updateCount",
         r.phase = 'HALTED' AND EXISTS (SELECT 1 FROM "Rollout" c WHERE c."rollbackOf" = r.id) AS "rolledBack",
         COALESCE((SELECT json_agg(json_build_object('id', w.id, 'index', w.index,
                     'startedAt', (extract(epoch FROM w."startedAt") * 1000)::float8,
                     'finishedAt', (extract(epoch FROM w."finishedAt") * 1000)::float8))
                   FROM "Wave" w WHERE w."rolloutId" = r.id), '[]') AS waves
  FROM "Rollout" r`

const UPDATE_COLUMNS = `
  u.id, u.state::text AS state, u."order", u."waveId", u."blackoutMs",
  u."gateAckedAt" IS NOT NULL AS acked,
  h.name AS "hostName", h.labels, h.state::text AS "hostState",
  v.verdict,
  CASE WHEN u.state = 'RUNNING' THEN
    (SELECT (extract(epoch FROM s."startedAt") * 1000)::float8 FROM "UpdateStep" s
      WHERE s."updateId" = u.id AND s.attempt = u.attempt AND s.step = 'KEXEC' AND s.status = 'running')
  END AS "kexecSince"`

const UPDATES = `
  SELECT ${UPDATE_COLUMNS}
  FROM "HostUpdate" u
  JOIN "Host" h ON h.id = u."hostId"
  LEFT JOIN "VerdictRecord" v ON v."updateId" = u.id
  WHERE u."rolloutId" = $1`

/**
 * Whether a row version was written by a transaction with an id at least `since` (32-bit): `age`
 * counts back from one xid fixed for the statement, so `age(x) <= age(since)` is `x >= since`
 * for ids less than 2^31 apart — the rows a loop pass looks for were written seconds ago. (An
 * ancient frozen row may pass for a recent one: it is read again, which is harmless.)
 */
const writtenSince = (xmin: string, since: string) => `age(${xmin}) <= age(${since}::xid)`

/**
 * The updates of rollout `id` changed since the snapshot whose xmin is `since` (null: all of
 * them), with this statement snapshot's xmin, the next call's `since`. An update changed when
 * its row, its host's row, its verdict or (running) its current KEXEC step was written by a
 * transaction that snapshot did not see — every such transaction has an id at least its xmin.
 * One row at least (update columns null when nothing changed), for the snapshot. Values are
 * inlined (sqlLiteral): these statements go in one round trip with the rollouts' (sqlBatch).
 */
function changedUpdates(id: string, since: string | null): string {
  const w = sqlLiteral(since)
  return `
  WITH s AS MATERIALIZED (
    SELECT (pg_snapshot_xmin(pg_current_snapshot())::text::bigint % 4294967296)::text AS xmin)
  SELECT s.xmin AS "snapshotXmin", x.*
  FROM s LEFT JOIN LATERAL (
    SELECT ${UPDATE_COLUMNS}
    FROM "HostUpdate" u
    JOIN "Host" h ON h.id = u."hostId"
    LEFT JOIN "VerdictRecord" v ON v."updateId" = u.id
    WHERE u."rolloutId" = ${sqlLiteral(id)} AND (${w}::xid IS NULL
      OR ${writtenSince('u.xmin', w)} OR ${writtenSince('h.xmin', w)}
      OR (v.id IS NOT NULL AND ${writtenSince('v.xmin', w)})
      OR (u.state = 'RUNNING' AND EXISTS (SELECT 1 FROM "UpdateStep" k WHERE k."updateId" = u.id
            AND k.attempt = u.attempt AND k.step = 'KEXEC' AND ${writtenSince('k.xmin', w)})))
  ) x ON true`
}

/** Rollouts the loop plans each tick: active ones, and ended ones with a host still in flight. */
export async function loadPlannerRollouts(db: Db): Promise<PlannerRollout[]> {
  const rows = await sqlQuery<RolloutRow>(
    db,
    `${ROLLOUTS}
     WHERE r.phase IN ('RUNNING', 'PAUSED', 'HALTED')
        OR EXISTS (SELECT 1 FROM "HostUpdate" u WHERE u."rolloutId" = r.id AND u.state = 'RUNNING')
     ORDER BY r."createdAt"`,
  )
  const out: PlannerRollout[] = []
  for (const r of rows) out.push(await plannerRollout(db, r))
  return out
}

/**
 * One rollout as the planner sees it (types.ts): its row and waves in one query, its updates
 * (with host, verdict and running KEXEC step) in another.
 */
export async function loadPlannerRollout(db: Db, id: string): Promise<PlannerRollout | undefined> {
  const [r] = await sqlQuery<RolloutRow>(db, `${ROLLOUTS} WHERE r.id = $1`, [id])
  return r ? plannerRollout(db, r) : undefined
}

async function plannerRollout(db: Db, r: RolloutRow): Promise<PlannerRollout> {
  const rows = await sqlQuery<UpdateRow>(db, UPDATES, [r.id])
  return toPlanner(r, rows)
}

function toPlanner(r: RolloutRow, rows: Iterable<UpdateRow>): PlannerRollout {
  const policy = storedPolicy(r.policy)
  const waveIndex = new Map(r.waves.map((w) => [w.id, w.index]))
  const date = (ms: number | null) => (ms === null ? null : new Date(ms))
  return {
    id: r.id,
    phase: r.phase as RolloutPhase,
    policy,
    rollbackOf: r.rollbackOf,
    rolledBack: r.rolledBack && policy.onHalt === 'rollback',
    waves: r.waves.map((w) => ({
      index: w.index,
      startedAt: date(w.startedAt),
      finishedAt: date(w.finishedAt),
    })),
    updates: Array.from(rows, (u) => ({
      id: u.id,
      hostName: u.hostName,
      domain: policy.spreadBy ? (u.labels?.[policy.spreadBy] ?? null) : null,
      wave: u.waveId ? (waveIndex.get(u.waveId) ?? 0) : 0,
      order: u.order,
      state: u.state as HostUpdateState,
      hostReady: u.hostState === 'READY',
      verdict: u.verdict as Verdict | null,
      blackoutMs: u.blackoutMs,
      kexecRunningSince: date(u.kexecSince),
      gateAcked: u.acked,
    })),
  }
}

/**
 * The rollouts the loop plans, read incrementally: a pass reads every rollout row (and its
 * waves) but only the updates changed since the pass before (changedUpdates), and patches
 * what it kept. A 1,000-host rollout is otherwise 1,000 rows read and parsed several times a
 * second for a handful of changes. The whole rollout is read again when it is new here, when
 * its number of updates differs from what is kept, every `fullEveryMs`, and after `reset`
 * (a takeover). What is kept only steers planning: every write stays fenced and conditional.
 */
export class PlannerRollouts {
  private readonly kept = new Map<
    string,
    { updates: Map<string, UpdateRow>; snapshotXmin: string; fullAt: number }
  >()

  constructor(
    private readonly db: Db,
    private readonly fullEveryMs = 10000,
  ) {}

  /** Forgets what is kept: the next load reads every rollout whole. */
  reset(): void {
    this.kept.clear()
  }

  async load(now = Date.now()): Promise<PlannerRollout[]> {
    // One round trip: the rollouts to plan, and what changed in each kept one (still fresh).
    const kept = [...this.kept.entries()].filter(([, k]) => now - k.fullAt < this.fullEveryMs)
    const [rows, ...changedSets] = (await sqlBatch(this.db, [
      `${ROLLOUTS}
       WHERE r.phase IN ('RUNNING', 'PAUSED', 'HALTED')
          OR EXISTS (SELECT 1 FROM "HostUpdate" u WHERE u."rolloutId" = r.id AND u.state = 'RUNNING')
       ORDER BY r."createdAt"`,
      ...kept.map(([id, k]) => changedUpdates(id, k.snapshotXmin)),
    ])) as [RolloutRow[], ...ChangedRow[][]]
    const changedIn = new Map(kept.map(([id], i) => [id, changedSets[i]]))
    const out: PlannerRollout[] = []
    for (const r of rows) {
      let changed = changedIn.get(r.id)
      let k = changed ? this.kept.get(r.id) : undefined
      if (!changed || !k) {
        // New here, or read whole again: every update.
        changed = await sqlQuery<ChangedRow>(this.db, changedUpdates(r.id, null))
        k = { updates: new Map(), snapshotXmin: changed[0].snapshotXmin, fullAt: now }
        this.kept.set(r.id, k)
      }
      k.snapshotXmin = changed[0].snapshotXmin
      for (const u of changed) if (u.id !== null) k.updates.set(u.id, u as UpdateRow)
      if (k.updates.size !== r.updateCount) {
        // Rows came or went between the two statements (a create, a delete): read it whole.
        this.kept.delete(r.id)
        out.push(await plannerRollout(this.db, r))
        continue
      }
      out.push(toPlanner(r, k.updates.values()))
    }
    // Rollouts no longer planned are forgotten.
    const live = new Set(rows.map((r) => r.id))
    for (const id of this.kept.keys()) if (!live.has(id)) this.kept.delete(id)
    return out
  }
}

type ChangedRow = Omit<UpdateRow, 'id'> & { id: string | null; snapshotXmin: string }
