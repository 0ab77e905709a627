import { recordOf, replayIoas } from './replay.js'
import { emptyReport, type RestoreContext, type RestoreStrategy } from './restore-strategy.js'

/**
 * What a plain kexec does today: the old kernel's shutdown turned translation off, the new kernel
 * reset the IOMMU at boot (fresh stream table / root table, every device blocked), and userspace
 * rebuilds everything with ordinary ioctls onto fresh tables. DMA faults from the shutdown until
 * each device is attached again: the control experiment that shows the other strategies' zero is
 * not vacuous.
 */
export const naive: RestoreStrategy = {
  name: 'naive',
  preservesTables: false,
  async restore(ctx: RestoreContext) {
    const report = emptyReport()
    const record = recordOf(ctx)
    const b = ctx.kernel.backend
    const ioas = await replayIoas(ctx, record)
    const devIds = new Map<string, number>()
    const bind = async (name: string) => {
      if (!devIds.has(name)) devIds.set(name, await b.deviceBind(name))
      return devIds.get(name)!
    }
    const hwpts = new Map<string, number>()
    for (const h of record.hwpts) {
      const id = await b.hwptAlloc(await bind(h.device), ioas.get(h.ioasKey)!.id, {
        nestParent: h.nestParent,
      })
      b.label(id, h.key)
      hwpts.set(h.key, id)
      report.rebuilt++
    }
    for (const a of record.attachments) await b.deviceAttach(await bind(a.device), hwpts.get(a.hwptKey)!)
    return report
  },
}
