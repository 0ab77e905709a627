import { randomUUID } from 'node:crypto'
import { type Db, sqlQuery, sqlTime } from '@hitless/db'

/**
 * Leadership among controller replicas: one row, taken when expired, renewed while held. Each
 * takeover increments `epoch`, the fencing token: writes of a replica whose epoch is no longer
 * current are refused (see `fence`), and jobs carry the epoch that dispatched them.
 */
export class LeaseService {
  readonly holder = `controller-${randomUUID().slice(0, 8)}`
  private epoch: number | undefined
  private renewedAt = 0

  constructor(
    private readonly db: Db,
    readonly leaseMs: number,
  ) {}

  /**
   * The epoch held, without a round trip, when the lease was taken or renewed less than a
   * third of its length before `now` (it cannot have expired, so no other replica can have
   * taken it); undefined otherwise (then call `tryAcquire`). Writes stay fenced by the epoch.
   */
  recentEpoch(): number | undefined {
    if (this.epoch === undefined) return undefined
    const age = Date.now() - this.renewedAt
    return age >= 0 && age < this.leaseMs / 3 ? this.epoch : undefined
  }

  get currentEpoch(): number | undefined {
    return this.epoch
  }

  /** Takes or renews the lease; returns the epoch held, or undefined when another replica leads. */
  async tryAcquire(now = new Date()): Promise<number | undefined> {
    const expires = new Date(now.getTime() + this.leaseMs)
    // The lease runs from the earlier of the given time and the clock (a test may pass a past `now`).
    const from = Math.min(now.getTime(), Date.now())
    // Renewed every loop tick: on the pg pool (@hitless/db sql.ts).
    const rows = await sqlQuery<{ epoch: number; holder: string }>(
      this.db,
      `INSERT INTO "ControllerLease" (id, holder, epoch, "expiresAt") VALUES (1, $1, 1, $2::timestamp(3))
       ON CONFLICT (id) DO UPDATE SET
         epoch = CASE WHEN "ControllerLease".holder = $1 THEN "ControllerLease".epoch ELSE "ControllerLease".epoch + 1 END,
         holder = $1,
         "expiresAt" = $2::timestamp(3)
       WHERE "ControllerLease".holder = $1 OR "ControllerLease"."expiresAt" < $3::timestamp(3)
       RETURNING epoch, holder`,
      [this.holder, sqlTime(expires), sqlTime(now)],
    )
    this.epoch = rows.length === 1 ? rows[0].epoch : undefined
    if (this.epoch !== undefined) this.renewedAt = from
    return this.epoch
  }

  /** True when `epoch` is still the current lease's (read inside the caller's transaction). */
  static async isCurrent(tx: Pick<Db, '$queryRaw'>, epoch: number): Promise<boolean> {
    const rows = await tx.$queryRaw<
      { epoch: number }[]
    >`SELECT epoch FROM "ControllerLease" WHERE id = 1 FOR SHARE`
    return rows.length === 1 && rows[0].epoch === epoch
  }

  async release(): Promise<void> {
    await this.db.controllerLease.updateMany({
      where: { holder: this.holder },
      data: { expiresAt: new Date(0) },
    })
    this.epoch = undefined
    this.renewedAt = 0
  }
}
