import { PAGE_SIZE } from '@hitless/emulator'
import type { Hwpt } from '@hitless/iommufd/kernel/hwpt'
import type { Ioas } from '@hitless/iommufd/kernel/ioas'
import { adoptAttachment, adoptDomain, insertHwpt, insertIoas } from './kernel-objects.js'
import { emptyReport, type RestoreContext, type RestoreStrategy } from './restore-strategy.js'

/**
 * Approach 1 of the thread: the old kernel serialised its iommufd objects (IOAS areas, HWPTs,
 * devices) into the handover; the new kernel rebuilds them with the same ids and adopts the
 * preserved tables by root and tag. Nothing is replayed and nothing the hardware reads is written;
 * the kernel trusts its predecessor's blob (checksummed and internally consistent), so a blob that
 * disagrees with the tables shows up as a snapshot difference, not a refusal. Attachments are
 * checked against the live entries all the same.
 */
export const serialise: RestoreStrategy = {
  name: 'serialise',
  preservesTables: true,
  async restore(ctx: RestoreContext) {
    const { kernel: k, state, vmm } = ctx
    const report = emptyReport()
    const ioas = new Map<number, Ioas>()
    for (const io of state.ioas) {
      ioas.set(io.id, insertIoas(k, io.id, io.areas, vmm.memfds, io.allowed))
      k.backend.label(io.id, io.key)
    }
    const hwpts = new Map<number, Hwpt>()
    for (const h of state.hwpts) {
      hwpts.set(h.id, insertHwpt(k, ioas.get(h.ioasId)!, adoptDomain(k, h), h.auto, h.id))
      k.backend.label(h.id, h.key)
      report.adopted++
    }
    for (const d of state.devices)
      adoptAttachment(k, d.name, d.hwptId ? hwpts.get(d.hwptId) : undefined, d.id)
    if (ctx.inject.has('leaf-size')) report.notes.push(demoteBlocks([...hwpts.values()]))
    return report
  },
}

/**
 * leaf-size under serialise: a new kernel whose page-table code cuts mappings differently (no
 * 2 MiB blocks) re-makes every adopted block as 4 KiB pages in place — the same translations at
 * another leaf size, which the verifier's leaf view shows (and BBML0 hardware may not tolerate).
 */
function demoteBlocks(hwpts: Hwpt[]): string {
  let n = 0
  for (const h of hwpts)
    for (const l of h.domain.leaves().filter((x) => x.size > PAGE_SIZE)) {
      h.domain.unmapLeaf(l.iova, l.size)
      for (let o = 0; o < l.size; o += PAGE_SIZE)
        h.domain.mapLeaf(l.iova + o, l.pa + o, PAGE_SIZE, { read: l.read, write: l.write })
      h.domain.flushUnmapped([{ iova: l.iova, size: l.size }])
      n++
    }
  return `leaf-size injected: ${n} block(s) re-made as 4 KiB pages`
}
