import { PageTableBuilder } from '@hitless/emulator'
import { encodePasidEntry, PGTT, SlPageTableBuilder } from '@hitless/emulator/vtd/index'
import {
  type IommuDomain,
  Smmuv3Domain,
  Smmuv3IommuDriver,
  VTD_AGAW_48,
  VtdDomain,
  type VtdIommuDriver,
} from '@hitless/iommufd'
import { predict } from '@hitless/iommufd/analysis/predict'
import type { SwitchMethod } from '@hitless/iommufd/analysis/switch-methods'
import type { Hwpt } from '@hitless/iommufd/kernel/hwpt'
import { Ioas } from '@hitless/iommufd/kernel/ioas'
import type { Hardware } from '@hitless/protocol'
import { restoreRefused } from '../handover/handover-error.js'
import type { Kernel } from '../machine/kernel.js'
import { adoptAttachment, adoptDomain, compareTables, insertHwpt, liveDomainOf } from './kernel-objects.js'
import { recordOf, replayIoas } from './replay.js'
import { attachAdopted, recoverVerified } from './replay-verify.js'
import { emptyReport, type RestoreContext, type RestoreStrategy } from './restore-strategy.js'

/**
 * The switch method for a domain format on a hardware, as docs/hitless-switch.md measured them:
 * keep the tag (ASID, VMID) and change one qword on SMMUv3; one cmpxchg16b of the legacy context
 * entry, or of the scalable PASID entry's chunk 0, on VT-d.
 */
export function switchMethod(hardware: Hardware, format: string, resized: boolean): SwitchMethod {
  if (format === 'smmuv3-s1') return resized ? 'cd-ttb0-swap-keep-asid-resized' : 'cd-ttb0-swap-keep-asid'
  if (format === 'smmuv3-s2') return resized ? 'ste-s2ttb-swap-keep-vmid-resized' : 'ste-s2ttb-swap-keep-vmid'
  return hardware === 'vtd-scalable' ? 'pasid-chunk0-cmpxchg128' : 'context-cmpxchg128'
}

/** Fresh tables in the preserved domain's format, under its tag, filled from the rebuilt IOAS. */
function freshDomain(k: Kernel, old: IommuDomain, ioas: Ioas): IommuDomain {
  const d = k.driver
  const fresh =
    d instanceof Smmuv3IommuDriver
      ? new Smmuv3Domain(
          d.smmuDriver,
          (old as Smmuv3Domain).stage,
          old.tag,
          PageTableBuilder.create(k.port, k.allocator, { stage: (old as Smmuv3Domain).stage }),
        )
      : new VtdDomain(
          (d as VtdIommuDriver).vtdDriver,
          old.tag,
          SlPageTableBuilder.create(k.port, k.allocator, 4),
        )
  for (const a of ioas.iopt.areas) Ioas.fillArea(fresh, a)
  return fresh
}

/** Points one device's live entry at `fresh` (same tag) with the hitless method, then invalidates. */
function switchDevice(k: Kernel, name: string, old: IommuDomain, fresh: IommuDomain): void {
  const dev = k.backend.context.platformDevice(name)!
  const d = k.driver
  if (d instanceof Smmuv3IommuDriver) {
    // The attach path with a same-tag domain: only CD.TTB0 (or STE.S2TTB) changes — one store.
    d.attach(dev, fresh, old)
    if ((old as Smmuv3Domain).stage === 1) d.smmuDriver.tlbiAsid(old.tag)
    else d.smmuDriver.tlbiVmall(old.tag)
    return
  }
  const v = d as VtdIommuDriver
  const low = v.vtdDriver
  const sid = dev.requesterId
  if (!low.scalable) {
    const ok = low.setLegacyContext(
      sid,
      { p: true, fpd: false, tt: 0, slptptr: fresh.root, aw: VTD_AGAW_48, did: fresh.tag },
      'cmpxchg128',
    )
    if (!ok) throw restoreRefused('switch', `${name}: the context entry changed under the cmpxchg16b`)
    return
  }
  const dir = v.pasidDirs.get(sid)!
  const pa = low.pasidEntryAddress(dir, 0, false)
  const q = encodePasidEntry({
    p: true,
    did: fresh.tag,
    pgtt: PGTT.SL_ONLY,
    slptptr: fresh.root,
    aw: VTD_AGAW_48,
  })
  low.writer.cmpxchg128(pa, k.port.read64(pa), k.port.read64(pa + 8), q[0], q[1])
  low.flushPasidCache(old.tag, 0)
  low.flushIotlbDomain(old.tag)
}

/**
 * The reply's proposal: build fresh tables from the replayed IOAS and switch each device to them
 * atomically — only where the hitless-switch rules (packages/iommufd/src/analysis/predict.ts) say
 * the hardware sees the old or the new tables and never an invalid entry or a BBM hazard. Where
 * they do not (a leaf-size change on BBML0, a device that would change tag), the policy decides:
 * fall back to replay-verify (adopt the preserved tables after the check) or refuse.
 */
export const freshSwitch: RestoreStrategy = {
  name: 'fresh-switch',
  preservesTables: true,
  async restore(ctx: RestoreContext) {
    const k = ctx.kernel
    const report = emptyReport()
    const record = recordOf(ctx)
    const ioas = await replayIoas(ctx, record)
    const hwpts = new Map<string, Hwpt>()
    const switched = new Set<string>()
    for (const h of record.hwpts) {
      const preserved = ctx.state.hwpts.find((p) => p.key === h.key)
      if (!preserved) throw restoreRefused('token', `no preserved HWPT ${h.key} to switch from`)
      const target = ioas.get(h.ioasKey)!
      const old = adoptDomain(k, preserved)
      const resized = compareTables(target, old, 1 << 20).mismatches.some((m) => m.kind === 'leaf-size')
      const method = switchMethod(ctx.machine.hardware, old.format, resized)
      const rule = predict(ctx.machine.hardware, method)
      const users = record.attachments.filter((a) => a.hwptKey === h.key)
      const wrongTag = users.filter((u) => {
        const live = liveDomainOf(k, k.backend.context.platformDevice(u.device)!)
        return !live || live.root !== old.root || live.tag !== old.tag
      })
      const why = !rule.hitless
        ? `${method} is not hitless on ${ctx.machine.hardware}: ${rule.rule}`
        : wrongTag.length
          ? `${wrongTag.map((w) => w.device).join(', ')} would change tag (a breaking entry update)`
          : undefined
      if (why) {
        report.notes.push(`HWPT ${h.key}: ${why}`)
        if (ctx.fallback === 'refuse') throw restoreRefused('switch', `HWPT ${h.key}: ${why}; policy refuses`)
        ;(k.driver as { dids?: { free(t: number): void } }).dids?.free(old.tag)
        hwpts.set(h.key, recoverVerified(ctx, h.key, h.ioasKey, ioas, report))
        report.notes.push(`HWPT ${h.key}: fell back to replay-verify`)
        continue
      }
      const fresh = freshDomain(k, old, target)
      const hwpt = insertHwpt(k, target, fresh, false)
      k.backend.label(hwpt.id, h.key)
      for (const u of users) switchDevice(k, u.device, old, fresh)
      // The old tables are unreachable and their tag's TLB entries retired: free them.
      for (const pa of old.tableFrames()) k.allocator.free(pa)
      hwpts.set(h.key, hwpt)
      switched.add(h.key)
      report.switched++
      report.notes.push(`HWPT ${h.key}: switched by ${method}`)
    }
    // Devices: switched ones now point at their fresh tables; the rest are adopted after the check.
    for (const a of record.attachments) {
      const hwpt = hwpts.get(a.hwptKey)
      if (!hwpt)
        throw restoreRefused('attachment', `${a.device} names HWPT ${a.hwptKey}, which was not restored`)
      adoptAttachment(k, a.device, hwpt)
    }
    void attachAdopted
    return report
  },
}
