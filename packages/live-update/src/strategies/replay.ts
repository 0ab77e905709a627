import type { EmulatedBackend } from '@hitless/iommufd'
import type { Ioas } from '@hitless/iommufd/kernel/ioas'
import { restoreRefused } from '../handover/handover-error.js'
import type { UserspaceRecord } from '../handover/handover-format.js'
import type { RestoreContext } from './restore-strategy.js'

/** Userspace's record, or a refusal: replay strategies cannot run without one. */
export function recordOf(ctx: RestoreContext): UserspaceRecord {
  if (!ctx.state.userspace)
    throw restoreRefused('userspace', 'the handover carries no userspace record to replay')
  return ctx.state.userspace
}

/**
 * Userspace replays its IOAS operations with ordinary ioctls (IOMMU_IOAS_ALLOC, IOMMU_IOAS_MAP_FILE
 * of the reopened memfds) and labels each IOAS with its key. Returns the IOAS objects by key.
 */
export async function replayIoas(ctx: RestoreContext, record: UserspaceRecord): Promise<Map<string, Ioas>> {
  const b: EmulatedBackend = ctx.kernel.backend
  const fds = ctx.vmm.fdsByIndex(b)
  const out = new Map<string, Ioas>()
  for (const io of record.ioas) {
    const id = await b.ioasAlloc()
    b.label(id, io.key)
    const m = io.maps
    for (let i = 0; i < m.n; i++)
      await b.ioasMapFile(id, {
        fd: fds[m.file[i]],
        start: m.offset[i],
        iova: m.iova[i],
        length: m.length[i],
        prot: { read: (m.prot[i] & 1) !== 0, write: (m.prot[i] & 2) !== 0 },
      })
    out.set(io.key, b.context.ioases().find((x) => x.id === id)!)
  }
  return out
}
