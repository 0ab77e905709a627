import type { Db } from '@hitless/db'
import type { Verdict } from '@hitless/protocol'

export interface FaultReport {
  byHardware: { hardware: string; updates: number; groundTruth: number; recorded: number; lost: number }[]
  updates: {
    updateId: string
    hostName: string
    hardware: string
    rolloutId: string
    rolloutName: string
    verdict: Verdict
    groundTruth: number
    recorded: number
    lost: number
    createdAt: Date
  }[]
}

/** DMA faults from the verdicts (the same sums /metrics exports), and the latest updates that had any. */
export async function faultReport(db: Db, limit = 100): Promise<FaultReport> {
  const [byHardware, updates] = await Promise.all([
    db.$queryRaw<{ hardware: string; n: bigint; gt: bigint; rec: bigint; lost: bigint }[]>`
      SELECT h.hardware, count(*) AS n,
             coalesce(sum((v.faults->>'groundTruth')::bigint), 0) AS gt,
             coalesce(sum((v.faults->>'recorded')::bigint), 0) AS rec,
             coalesce(sum((v.faults->>'lost')::bigint), 0) AS lost
      FROM "VerdictRecord" v JOIN "HostUpdate" u ON u.id = v."updateId" JOIN "Host" h ON h.id = u."hostId"
      WHERE v.faults IS NOT NULL GROUP BY h.hardware ORDER BY h.hardware`,
    db.$queryRaw<
      {
        updateId: string
        hostName: string
        hardware: string
        rolloutId: string
        rolloutName: string
        verdict: string
        gt: bigint
        rec: bigint
        lost: bigint
        createdAt: Date
      }[]
    >`
      SELECT v."updateId", h.name AS "hostName", h.hardware, r.id AS "rolloutId", r.name AS "rolloutName", v.verdict,
             coalesce((v.faults->>'groundTruth')::bigint, 0) AS gt,
             coalesce((v.faults->>'recorded')::bigint, 0) AS rec,
             coalesce((v.faults->>'lost')::bigint, 0) AS lost, v."createdAt"
      FROM "VerdictRecord" v JOIN "HostUpdate" u ON u.id = v."updateId" JOIN "Host" h ON h.id = u."hostId"
      JOIN "Rollout" r ON r.id = u."rolloutId"
      WHERE v.verdict = 'faulted' OR (v.faults IS NOT NULL AND (
        coalesce((v.faults->>'groundTruth')::bigint, 0) + coalesce((v.faults->>'recorded')::bigint, 0)
        + coalesce((v.faults->>'lost')::bigint, 0)) > 0)
      ORDER BY v."createdAt" DESC LIMIT ${limit}`,
  ])
  return {
    byHardware: byHardware.map((h) => ({
      hardware: h.hardware,
      updates: Number(h.n),
      groundTruth: Number(h.gt),
      recorded: Number(h.rec),
      lost: Number(h.lost),
    })),
    updates: updates.map((u) => ({
      updateId: u.updateId,
      hostName: u.hostName,
      hardware: u.hardware,
      rolloutId: u.rolloutId,
      rolloutName: u.rolloutName,
      verdict: u.verdict as Verdict,
      groundTruth: Number(u.gt),
      recorded: Number(u.rec),
      lost: Number(u.lost),
      createdAt: u.createdAt,
    })),
  }
}
