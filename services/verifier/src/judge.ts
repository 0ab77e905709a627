import { createHash } from 'node:crypto'
import { gunzipSync } from 'node:zlib'
import {
  decodeSnapshot,
  type FaultCounts,
  SNAPSHOT_FORMAT,
  type Snapshot,
  toHitlessError,
  type Verdict,
} from '@hitless/protocol'
import { type UpdateExpectations, verifySnapshots } from '@hitless/verify'

export interface StoredSnapshot {
  phase: string
  format: string
  digest: string
  sizeBytes: number
  /** `gzip` as the controller stores them; absent: raw. */
  encoding?: string
  /** The stored bytes; absent when only metadata was loaded. */
  data?: Uint8Array
}

export interface Judgement {
  verdict: Verdict
  reasons: string[]
  diff?: unknown
  faults?: FaultCounts | null
}

const PHASE_NAME: Record<string, string> = { pre: 'pre-kexec', post: 'post-kexec' }

/** Stored bytes → decoded snapshot, or the reason it cannot be read. */
function load(s: StoredSnapshot): Snapshot | string {
  const what = `${PHASE_NAME[s.phase] ?? s.phase} snapshot`
  if (s.format !== SNAPSHOT_FORMAT) {
    return `${what} has format ${s.format}; this verifier reads ${SNAPSHOT_FORMAT}: state not compared`
  }
  if (!s.data) return `${what} has no stored data: state not compared`
  let raw: Uint8Array
  try {
    raw = s.encoding === 'gzip' ? gunzipSync(s.data) : s.data
  } catch (e) {
    return `${what} unreadable: stored ${s.encoding} data does not decompress (${(e as Error).message})`
  }
  const digest = `sha256:${createHash('sha256').update(raw).digest('hex')}`
  if (digest !== s.digest)
    return `${what} unreadable: its bytes hash to ${digest}, not the digest ${s.digest} recorded at upload`
  try {
    return decodeSnapshot(raw)
  } catch (e) {
    return `${what} unreadable: ${toHitlessError(e).message}`
  }
}

/**
 * The verdict from what is stored for an update. Without both snapshots nothing can be proven,
 * so the answer is `unverified` — never `hitless`; the same for a snapshot that cannot be read
 * (the reason says which check failed). Otherwise @hitless/verify compares them.
 */
export function judge(snapshots: StoredSnapshot[], expect: UpdateExpectations = {}): Judgement {
  const pre = snapshots.find((s) => s.phase === 'pre')
  const post = snapshots.find((s) => s.phase === 'post')
  const reasons: string[] = []
  if (!pre) reasons.push('no pre-kexec snapshot was uploaded: the state before the update is unknown')
  if (!post) reasons.push('no post-kexec snapshot was uploaded: the state after the update is unknown')
  if (!pre || !post) return { verdict: 'unverified', reasons }
  const a = load(pre)
  const b = load(post)
  if (typeof a === 'string') reasons.push(a)
  if (typeof b === 'string') reasons.push(b)
  if (typeof a === 'string' || typeof b === 'string') return { verdict: 'unverified', reasons }
  const r = verifySnapshots(a, b, expect)
  return { verdict: r.verdict, reasons: r.reasons, diff: r.diff, faults: r.faults }
}
