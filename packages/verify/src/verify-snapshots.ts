import type { FaultCounts, Snapshot, Verdict } from '@hitless/protocol'
import { compareAreas } from './area-compare.js'
import { compareAttachments } from './attachment-compare.js'
import { compareConfigEntries } from './config-compare.js'
import { type BoundedDiff, DiffCollector, type DiffKind } from './diff-collector.js'
import { checkFaults, type FaultFindings, faultCounts } from './fault-check.js'
import { compareLeafViews, type LeafCompareStats } from './leaf-compare.js'

/** What the update promised, from the controller's records. */
export interface UpdateExpectations {
  /** The rollout's target kernel (HostUpdate.toKernel). */
  targetKernel?: string
  /** The rollout's blackout SLO; absent: no SLO check. */
  blackoutSloMs?: number
  /** Blackout the agent reported at finish, used when the post snapshot carries none. */
  reportedBlackoutMs?: number
  /** First N differences of each kind kept in the diff. Default 20. */
  diffLimit?: number
}

export interface VerifyResult {
  verdict: Verdict
  /** Human reasons, most severe first; each starts with a kind (`leaf.pa: ...`). */
  reasons: string[]
  diff: BoundedDiff & {
    /** What could not be compared (a capability missing on either side). */
    notCompared: string[]
    notObserved: string[]
    faults: Omit<FaultFindings, 'reasons' | 'unknown' | 'faulted' | 'notObserved'>
    leafViews: Record<string, LeafCompareStats>
  }
  /** Faults between the snapshots, when recorded, lost and ground truth are all known. */
  faults: FaultCounts | null
}

const PHRASE: Record<DiffKind, string> = {
  'ioas.missing': 'IOAS gone after the update',
  'ioas.extra': 'IOAS that did not exist before',
  'area.missing': 'IOAS area range(s) missing after the update',
  'area.extra': 'IOAS area range(s) added by the update',
  'area.changed': 'IOAS area range(s) with a different backing or permissions',
  'hwpt.missing': 'HWPT(s) gone after the update',
  'hwpt.extra': 'HWPT(s) that did not exist before',
  'hwpt.changed': 'HWPT(s) now mapping another IOAS',
  'leaf.missing': 'mapping range(s) missing after the update',
  'leaf.extra': 'mapping range(s) added by the update',
  'leaf.pa': 'mapping range(s) translating to a different physical address',
  'leaf.backing': 'mapping range(s) backed by a different file or offset',
  'leaf.prot': 'mapping range(s) with changed permissions',
  'leaf.size': 'mapping range(s) whose leaf size alone changed (break-before-make hazard)',
  'attachment.missing': 'device attachment(s) gone',
  'attachment.extra': 'device attachment(s) added',
  'attachment.moved': 'device(s) attached to another domain (HWPT)',
  'config.missing': 'configuration entr(ies) gone',
  'config.extra': 'configuration entr(ies) added',
  'config.changed': 'configuration entr(ies) changed',
  'kernel.version': 'wrong kernel after the update',
  'boot.unchanged': 'boot ID unchanged: no kexec happened between the snapshots',
  'blackout.slo': 'blackout over the rollout SLO',
}

function firstAsText(e: Record<string, unknown> | undefined): string {
  if (!e) return ''
  const s = JSON.stringify(e)
  return ` — first: ${s.length > 300 ? `${s.slice(0, 297)}...` : s}`
}

/**
 * The verdict on one host update from its pre- and post-kexec snapshots (pure).
 *
 * Precedence: any fault → `faulted`; else any difference (state, kernel, boot ID, blackout) →
 * `diverged`; else data that is inconsistent or a comparison that could not be made at all (no
 * translations on either side, a blackout SLO without a blackout) → `unverified`; else, when the
 * backend declares it cannot observe something (configuration entries, fault counters, DMA
 * continuity — a real kernel today), `consistent` with a reason naming each blind spot: never
 * counted as equal, never `hitless`; else DMA continuity shown → `hitless`.
 */
export function verifySnapshots(
  pre: Snapshot,
  post: Snapshot,
  expect: UpdateExpectations = {},
): VerifyResult {
  const diff = new DiffCollector(expect.diffLimit ?? 20)
  const notCompared: string[] = []
  const notObserved: string[] = []
  const leafViews: Record<string, LeafCompareStats> = {}
  const problems: string[] = []
  const A = pre.header
  const B = post.header
  if (A.phase !== 'pre' || B.phase !== 'post') {
    problems.push(`snapshot phases are ${A.phase}/${B.phase}, expected pre/post: the uploads are mixed up`)
  }
  if (A.backend !== B.backend || A.hardware !== B.hardware) {
    problems.push(
      `snapshots come from different backends (${A.backend}/${A.hardware} before, ${B.backend}/${B.hardware} after): not comparable`,
    )
  }
  const files = { pre: A.files, post: B.files }

  // IOAS areas, by key.
  const postIoas = new Map(post.ioas.map((i) => [i.key, i]))
  for (const io of pre.ioas) {
    const other = postIoas.get(io.key)
    postIoas.delete(io.key)
    if (!other) diff.add('ioas.missing', { ioas: io.key, areas: io.areas.count })
    else compareAreas(io.key, io.areas, other.areas, files, diff)
  }
  for (const io of postIoas.values()) diff.add('ioas.extra', { ioas: io.key, areas: io.areas.count })

  // Leaf views, by HWPT key.
  const leafView = A.capabilities.leafView && B.capabilities.leafView
  const paBoth = A.capabilities.physicalAddresses && B.capabilities.physicalAddresses
  const backingBoth = A.capabilities.backing && B.capabilities.backing
  if (!leafView) notCompared.push('leaf view: the backend cannot walk its page tables')
  else if (!paBoth && !backingBoth) {
    notCompared.push('translation targets: neither physical addresses nor backing are observed on both sides')
  }
  const postHwpts = new Map(post.hwpts.map((h) => [h.key, h]))
  for (const h of pre.hwpts) {
    const other = postHwpts.get(h.key)
    postHwpts.delete(h.key)
    if (!other) {
      diff.add('hwpt.missing', { hwpt: h.key, leaves: h.leaves.count })
      continue
    }
    if (h.ioas !== other.ioas) diff.add('hwpt.changed', { hwpt: h.key, pre: h.ioas, post: other.ioas })
    if (leafView) leafViews[h.key] = compareLeafViews(h.key, h, other, files, diff)
  }
  for (const h of postHwpts.values()) diff.add('hwpt.extra', { hwpt: h.key, leaves: h.leaves.count })

  compareAttachments(A.attachments, B.attachments, diff)
  if (A.capabilities.configEntries && B.capabilities.configEntries)
    compareConfigEntries(A.config, B.config, diff)
  else notObserved.push('configuration entries: the backend cannot read STE/CD or context/PASID entries')

  // The update's own contract.
  if (expect.targetKernel !== undefined && B.kernel.version !== expect.targetKernel) {
    diff.add('kernel.version', { pre: A.kernel.version, post: B.kernel.version, target: expect.targetKernel })
  }
  if (A.kernel.bootId === B.kernel.bootId) diff.add('boot.unchanged', { bootId: A.kernel.bootId })
  if (expect.blackoutSloMs !== undefined) {
    const blackout = B.blackoutMs ?? expect.reportedBlackoutMs
    if (blackout === undefined)
      notCompared.push(`blackout: not reported, the ${expect.blackoutSloMs} ms SLO cannot be checked`)
    else if (blackout > expect.blackoutSloMs) {
      diff.add('blackout.slo', { blackoutMs: blackout, sloMs: expect.blackoutSloMs })
    }
  }

  const faults = checkFaults(A, B)
  const reasons: string[] = [...faults.reasons]
  const json = diff.toJSON()
  for (const k of diff.kindsFound()) {
    const s = json.kinds[k]!
    const bytes = s.bytes ? ` (${s.bytes} bytes of IOVA)` : ''
    reasons.push(`${k}: ${s.total} ${PHRASE[k]}${bytes}${firstAsText(s.first[0])}`)
  }
  reasons.push(
    ...problems,
    ...faults.unknown,
    ...notCompared.map((n) => `not compared: ${n}`),
    ...[...notObserved, ...faults.notObserved].map((n) => `not observed: ${n}`),
  )

  let verdict: Verdict
  if (faults.faulted) verdict = 'faulted'
  else if (diff.count() > 0) verdict = 'diverged'
  else if (problems.length || faults.unknown.length || notCompared.length) verdict = 'unverified'
  else if (notObserved.length || faults.notObserved.length) verdict = 'consistent'
  else {
    const continuity = dmaContinuity(pre, post)
    verdict = continuity.shown ? 'hitless' : 'consistent'
    reasons.push(continuity.reason)
  }
  const { reasons: _r, unknown: _u, faulted: _f, notObserved: _n, ...faultNumbers } = faults
  return {
    verdict,
    reasons,
    diff: {
      ...json,
      notCompared,
      notObserved: [...notObserved, ...faults.notObserved],
      faults: faultNumbers,
      leafViews,
    },
    faults: faultCounts(faults),
  }
}

/** Evidence that DMA ran through the update: the hardware counter advanced and DMA ran during the blackout. */
function dmaContinuity(pre: Snapshot, post: Snapshot): { shown: boolean; reason: string } {
  const A = pre.header
  const B = post.header
  if (!A.capabilities.dmaContinuity || !B.capabilities.dmaContinuity) {
    return {
      shown: false,
      reason: 'continuity: state equal and no fault, but the backend cannot observe DMA continuity',
    }
  }
  const before = A.dma.accessCounter
  const after = B.dma.accessCounter
  const during = B.dma.duringBlackout
  if (before === undefined || after === undefined || during === undefined) {
    return { shown: false, reason: 'continuity: the snapshots carry no DMA access counts' }
  }
  const advanced = after - before
  if (advanced > 0 && during > 0 && advanced >= during) {
    return {
      shown: true,
      reason: `continuity: ${advanced} DMA accesses between the snapshots, ${during} during the blackout`,
    }
  }
  return {
    shown: false,
    reason: `continuity: not shown (hardware counter advanced by ${advanced}, ${during} accesses during the blackout)`,
  }
}
