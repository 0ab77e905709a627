import type { Hwpt } from '@hitless/iommufd/kernel/hwpt'
import { restoreRefused } from '../handover/handover-error.js'
import { adoptAttachment, adoptDomain, compareTables, insertHwpt } from './kernel-objects.js'
import { recordOf, replayIoas } from './replay.js'
import {
  emptyReport,
  type RestoreContext,
  type RestoreReport,
  type RestoreStrategy,
} from './restore-strategy.js'

/**
 * Approach 2 with Jason Gunthorpe's "recover, validate, adopt": userspace replays its recorded
 * IOAS operations on fresh objects; for each preserved HWPT (named by the token the old kernel
 * gave it) the kernel checks, both ways, that the rebuilt IOAS calls for exactly the leaves the
 * preserved tables hold — same PA, same permissions, same leaf size — and only then adopts the
 * domain. Any mismatch is refused (HITLESS_E_HANDOVER) and the preserved tables stay live.
 */
export const replayVerify: RestoreStrategy = {
  name: 'replay-verify',
  preservesTables: true,
  async restore(ctx: RestoreContext) {
    const report = emptyReport()
    const record = recordOf(ctx)
    const ioas = await replayIoas(ctx, record)
    const hwpts = new Map<string, Hwpt>()
    for (const h of record.hwpts) hwpts.set(h.key, recoverVerified(ctx, h.key, h.ioasKey, ioas, report))
    attachAdopted(ctx, hwpts)
    return report
  },
}

/** IOMMU_HWPT_ALLOC "recover" of a preserved HWPT for a rebuilt IOAS: validate, then adopt. */
export function recoverVerified(
  ctx: RestoreContext,
  key: string,
  ioasKey: string,
  ioas: Map<string, import('@hitless/iommufd/kernel/ioas').Ioas>,
  report: RestoreReport,
): Hwpt {
  const k = ctx.kernel
  const preserved = ctx.state.hwpts.find((p) => p.key === key)
  if (!preserved) throw restoreRefused('token', `no preserved HWPT ${key} in the handover`)
  const target = ioas.get(ioasKey)
  if (!target) throw restoreRefused('token', `HWPT ${key} names IOAS ${ioasKey}, which was not replayed`)
  const domain = adoptDomain(k, preserved)
  const { leaves, mismatches } = compareTables(target, domain)
  report.checkedLeaves += leaves
  if (mismatches.length) {
    // Give the tag back; the tables themselves stay live and preserved.
    ;(k.driver as { dids?: { free(t: number): void } }).dids?.free(domain.tag)
    const m = mismatches[0]
    throw restoreRefused(
      `tables.${m.kind}`,
      `HWPT ${key}: ${mismatches.length}${mismatches.length >= 8 ? '+' : ''} mismatch(es) between the replayed IOAS and the preserved tables; first at IOVA 0x${m.iova.toString(16)}: ${m.kind}${m.expected ? ` expected ${JSON.stringify(m.expected)}` : ''}${m.found ? ` found ${JSON.stringify(m.found)}` : ''}`,
      { hwpt: key, mismatches },
    )
  }
  const hwpt = insertHwpt(k, target, domain, false)
  k.backend.label(hwpt.id, key)
  report.adopted++
  return hwpt
}

/** Userspace binds each device and attaches it to its HWPT; the kernel adopts the live attachment after checking it. */
export function attachAdopted(ctx: RestoreContext, hwpts: Map<string, Hwpt>): void {
  const record = ctx.state.userspace!
  for (const a of record.attachments) {
    const hwpt = hwpts.get(a.hwptKey)
    if (!hwpt)
      throw restoreRefused('attachment', `${a.device} names HWPT ${a.hwptKey}, which was not recovered`)
    adoptAttachment(ctx.kernel, a.device, hwpt)
  }
}
