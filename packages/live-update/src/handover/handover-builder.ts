import { Hwpt } from '@hitless/iommufd/kernel/hwpt'
import type { Strategy } from '@hitless/protocol'
import type { GuestVmm } from '../machine/guest-vmm.js'
import { iommuStructureFrames } from '../machine/iommu-structures.js'
import type { Kernel } from '../machine/kernel.js'
import { areasFrom, type HandoverState, type JobContext, runsFromAddresses } from './handover-format.js'

export interface PreservePlan {
  state: HandoverState
  /** Every frame to mark preserved (KHO): kernel tables and structures, and the session's memfds. */
  frames: number[]
  tableFrames: number
}

/**
 * The old kernel's half of PRESERVE: serialises its iommufd objects (with `preservesTables`:
 * IOAS areas, HWPT roots and tags, device attachments) and lists the frames to keep — every page
 * of every HWPT's tables and every IOMMU structure the hardware reads — plus the LUO session's
 * memfds, whose pages stay put. Without `preservesTables` (naive) only the memfds and the
 * userspace record cross.
 */
export async function planPreserve(
  k: Kernel,
  vmm: GuestVmm,
  o: { strategy: Strategy; targetKernel: string; preservesTables: boolean; job: JobContext | null },
): Promise<PreservePlan> {
  const ctx = k.backend.context
  const keys = new Map((await k.backend.objects()).map((x) => [x.id, x.key]))
  const memfds = vmm.describeMemfds()
  const index = new Map(memfds.map((m, i) => [m.token, i]))
  const frames: number[] = []
  for (const m of vmm.memfds) frames.push(...m.frames)
  let tableFrames = 0
  const state: HandoverState = {
    meta: {
      hardware: k.machine.hardware,
      backend: k.backend.backend,
      kernel: { version: k.version, bootId: k.bootId },
      targetKernel: o.targetKernel,
      strategy: o.strategy,
    },
    preserved: runsFromAddresses([]),
    memfds,
    ioas: [],
    hwpts: [],
    devices: [],
    userspace: vmm.record,
    job: o.job,
  }
  if (o.preservesTables) {
    const kernelFrames: number[] = iommuStructureFrames(k)
    for (const io of ctx.ioases()) {
      const areas = io.iopt.areas.map((a) => {
        const file = a.object.token === undefined ? undefined : index.get(a.object.token)
        if (file === undefined)
          throw new Error(
            `IOAS ${io.id} maps memory outside the LUO session (anonymous or unpreserved): cannot preserve`,
          )
        return {
          iova: a.iova,
          length: a.length,
          file,
          offset: a.offset,
          read: a.prot.read,
          write: a.prot.write,
        }
      })
      state.ioas.push({
        id: io.id,
        key: keys.get(io.id) ?? `ioas:${io.id}`,
        allowed: io.iopt.allowed ? io.iopt.allowed.map((r) => [Number(r.start), Number(r.last)]) : null,
        areas: areasFrom(areas),
      })
    }
    for (const h of ctx.hwpts()) {
      const tables = h.domain.tableFrames()
      kernelFrames.push(...tables)
      tableFrames += tables.length
      state.hwpts.push({
        id: h.id,
        key: keys.get(h.id) ?? `hwpt:${h.id}`,
        ioasId: h.ioas.id,
        auto: h.auto,
        format: h.domain.format,
        tag: h.domain.tag,
        root: h.domain.root,
        tablePages: tables.length,
      })
    }
    for (const d of ctx.boundDevices())
      state.devices.push({ id: d.id, name: d.dev.name, hwptId: d.hwpt instanceof Hwpt ? d.hwpt.id : 0 })
    kernelFrames.sort((a, b) => a - b)
    state.preserved = runsFromAddresses(kernelFrames)
    frames.push(...kernelFrames)
  }
  return { state, frames, tableFrames }
}
