import type { Verdict } from '@hitless/protocol'

export interface StoredSnapshot {
  phase: string
  format: string
  digest: string
  sizeBytes: number
}

export interface Judgement {
  verdict: Verdict
  reasons: string[]
}

/**
 * The verdict from what is stored for an update. Without both snapshots nothing can be proven,
 * so the answer is `unverified` — never `hitless`. The snapshot comparison itself (IOAS areas,
 * leaf views, attachments, faults) plugs in here when the snapshot format lands.
 */
export function judge(snapshots: StoredSnapshot[]): Judgement {
  const pre = snapshots.find((s) => s.phase === 'pre')
  const post = snapshots.find((s) => s.phase === 'post')
  const reasons: string[] = []
  if (!pre) reasons.push('no pre-kexec snapshot was uploaded: the state before the update is unknown')
  if (!post) reasons.push('no post-kexec snapshot was uploaded: the state after the update is unknown')
  if (reasons.length) return { verdict: 'unverified', reasons }
  return {
    verdict: 'unverified',
    reasons: [
      `snapshot format ${post!.format} has no comparator in this verifier version: state not compared`,
    ],
  }
}
