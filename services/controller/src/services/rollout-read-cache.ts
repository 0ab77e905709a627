import type { Rollout } from '@hitless/protocol'

/**
 * GET /rollouts/:id under load: a dashboard wall and scripts poll the same rollout, and its body
 * is the largest the API serves. Concurrent reads of one rollout share one PostgreSQL load
 * (single flight), and its serialised JSON is reused for `ttlMs` (default 250 ms): a reader sees
 * a snapshot at most that old. Writes made through this replica invalidate it at once; writes
 * elsewhere (the leader's loop, the verifier, another replica) show within `ttlMs`.
 */
export class RolloutReadCache {
  private readonly entries = new Map<string, { json: string; until: number }>()
  private readonly inflight = new Map<string, Promise<string>>()

  constructor(
    private readonly load: (id: string) => Promise<Rollout>,
    private readonly ttlMs = 250,
  ) {}

  async get(id: string): Promise<string> {
    const hit = this.entries.get(id)
    if (hit && hit.until > Date.now()) return hit.json
    let p = this.inflight.get(id)
    if (!p) {
      p = this.load(id).then(
        (r) => {
          const json = JSON.stringify(r)
          if (this.ttlMs > 0) {
            if (this.entries.size > 1000) this.entries.clear()
            this.entries.set(id, { json, until: Date.now() + this.ttlMs })
          }
          this.inflight.delete(id)
          return json
        },
        (e: unknown) => {
          this.inflight.delete(id)
          throw e
        },
      )
      this.inflight.set(id, p)
    }
    return p
  }

  invalidate(id: string): void {
    this.entries.delete(id)
  }
}
