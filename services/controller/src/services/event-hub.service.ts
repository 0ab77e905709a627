import type { Db } from '@hitless/db'

export interface HubEvent {
  /** Cursor: `<updatedAt ms>`; a client resuming with Last-Event-ID gets what changed since. */
  id: string
  type: 'rollout' | 'update'
  data: Record<string, unknown>
}

type Listener = (events: HubEvent[]) => void

/**
 * Live changes of rollouts and host updates for /api/v1/events. Any replica serves the stream,
 * and the leader, the verifier and other replicas all write PostgreSQL, so changes are read
 * from there: one poll of rows whose `updatedAt` moved, shared by every subscriber of this
 * replica, and only while there is one.
 */
export class EventHub {
  private readonly listeners = new Set<Listener>()
  private timer: NodeJS.Timeout | undefined
  private cursor = new Date()
  /** Rows seen at exactly `cursor` (updatedAt has ms precision: ties must not repeat or be lost). */
  private seenAtCursor = new Set<string>()

  constructor(
    private readonly db: Db,
    private readonly pollMs = 500,
  ) {}

  subscribe(l: Listener): () => void {
    if (this.listeners.size === 0) {
      this.cursor = new Date()
      this.seenAtCursor.clear()
      this.timer = setInterval(() => void this.poll().catch(() => {}), this.pollMs)
    }
    this.listeners.add(l)
    return () => {
      this.listeners.delete(l)
      if (this.listeners.size === 0 && this.timer) {
        clearInterval(this.timer)
        this.timer = undefined
      }
    }
  }

  /** Changes since `since` (for a client resuming with Last-Event-ID). */
  async since(since: Date, limit = 1000): Promise<HubEvent[]> {
    return (await this.read(since, limit)).events
  }

  private async read(since: Date, limit: number): Promise<{ events: HubEvent[]; keys: string[]; max: Date }> {
    const [rollouts, updates] = await Promise.all([
      this.db.rollout.findMany({
        where: { updatedAt: { gte: since } },
        select: { id: true, phase: true, phaseReason: true, updatedAt: true },
        orderBy: { updatedAt: 'asc' },
        take: limit,
      }),
      this.db.hostUpdate.findMany({
        where: { updatedAt: { gte: since } },
        select: {
          id: true,
          rolloutId: true,
          state: true,
          attempt: true,
          blackoutMs: true,
          failureReason: true,
          updatedAt: true,
          host: { select: { name: true } },
          verdict: { select: { verdict: true } },
        },
        orderBy: { updatedAt: 'asc' },
        take: limit,
      }),
    ])
    const rows = [
      ...rollouts.map((r) => ({
        at: r.updatedAt,
        key: `r:${r.id}:${r.updatedAt.getTime()}`,
        type: 'rollout' as const,
        data: { id: r.id, phase: r.phase, phaseReason: r.phaseReason },
      })),
      ...updates.map((u) => ({
        at: u.updatedAt,
        key: `u:${u.id}:${u.updatedAt.getTime()}`,
        type: 'update' as const,
        data: {
          id: u.id,
          rolloutId: u.rolloutId,
          hostName: u.host.name,
          state: u.state,
          attempt: u.attempt,
          verdict: u.verdict?.verdict ?? null,
          blackoutMs: u.blackoutMs,
          failureReason: u.failureReason,
        },
      })),
    ].sort((a, b) => a.at.getTime() - b.at.getTime())
    const max = rows.length ? rows[rows.length - 1].at : since
    return {
      events: rows.map((r) => ({ id: String(r.at.getTime()), type: r.type, data: r.data })),
      keys: rows.map((r) => r.key),
      max,
    }
  }

  private async poll(): Promise<void> {
    const { events, keys, max } = await this.read(this.cursor, 1000)
    const fresh: HubEvent[] = []
    events.forEach((e, i) => {
      if (!this.seenAtCursor.has(keys[i])) fresh.push(e)
    })
    if (max.getTime() !== this.cursor.getTime()) {
      this.cursor = max
      this.seenAtCursor.clear()
    }
    keys.forEach((k, i) => {
      if (events[i].id === String(max.getTime())) this.seenAtCursor.add(k)
    })
    if (fresh.length) for (const l of this.listeners) l(fresh)
  }
}
