import type { Db } from '@hitless/db'
import { VERDICTS, type Verdict } from '@hitless/protocol'

type Counts = Record<Verdict, number> & { updates: number; hitlessRate: number | null }

function tally(rows: { key: string; verdict: string; n: bigint | number }[]): Map<string, Counts> {
  const out = new Map<string, Counts>()
  for (const r of rows) {
    let c = out.get(r.key)
    if (!c) {
      c = {
        updates: 0,
        hitlessRate: null,
        ...(Object.fromEntries(VERDICTS.map((v) => [v, 0])) as Record<Verdict, number>),
      }
      out.set(r.key, c)
    }
    const n = Number(r.n)
    if ((VERDICTS as readonly string[]).includes(r.verdict)) c[r.verdict as Verdict] += n
    c.updates += n
  }
  // The hitless rate is over every judged update: an unverified one is not a success.
  for (const c of out.values()) c.hitlessRate = c.updates ? c.hitless / c.updates : null
  return out
}

/** Dashboard statistics: the hitless rate over time, by hardware model and by strategy. */
export class StatsService {
  constructor(private readonly db: Db) {}

  async stats(since: Date, bucket: 'hour' | 'day') {
    const [overTime, byHardware, byStrategy] = await Promise.all([
      this.db.$queryRaw<{ key: string; verdict: string; n: bigint }[]>`
        SELECT to_char(date_trunc(${bucket}, v."createdAt" AT TIME ZONE 'UTC'), 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS key,
               v.verdict, count(*) AS n
        FROM "VerdictRecord" v WHERE v."createdAt" >= ${since}
        GROUP BY 1, 2 ORDER BY 1`,
      this.db.$queryRaw<{ key: string; verdict: string; n: bigint }[]>`
        SELECT h.hardware AS key, v.verdict, count(*) AS n
        FROM "VerdictRecord" v JOIN "HostUpdate" u ON u.id = v."updateId" JOIN "Host" h ON h.id = u."hostId"
        WHERE v."createdAt" >= ${since} GROUP BY 1, 2 ORDER BY 1`,
      this.db.$queryRaw<{ key: string; verdict: string; n: bigint }[]>`
        SELECT r.strategy AS key, v.verdict, count(*) AS n
        FROM "VerdictRecord" v JOIN "HostUpdate" u ON u.id = v."updateId" JOIN "Rollout" r ON r.id = u."rolloutId"
        WHERE v."createdAt" >= ${since} GROUP BY 1, 2 ORDER BY 1`,
    ])
    return {
      since: since.toISOString(),
      bucket,
      overTime: [...tally(overTime)].map(([at, c]) => ({ at, ...c })),
      byHardware: [...tally(byHardware)].map(([hardware, c]) => ({ hardware, ...c })),
      byStrategy: [...tally(byStrategy)].map(([strategy, c]) => ({ strategy, ...c })),
    }
  }
}
