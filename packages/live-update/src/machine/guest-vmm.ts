import { PAGE_SIZE, SeededRandom, WorkingSet, type WorkingSetEntry } from '@hitless/emulator'
import { type EmulatedBackend, Memfd, type MemfdDescriptor } from '@hitless/iommufd'
import {
  type AreaColumns,
  areasFrom,
  type HandoverMemfd,
  runsToAddresses,
  type UserspaceRecord,
} from '../handover/handover-format.js'
import type { Kernel } from './kernel.js'

export interface WorkloadOptions {
  /** 4 KiB mappings (leaves) of guest RAM in the guest IOAS. */
  mappings: number
  seed: number
  /** DMA working-set entries per device. Default 128. */
  workingSet?: number
}

export const GUEST_IOVA = 0x1_0000_0000
export const HUGE_IOVA = 0x40_0000_0000
export const AUX_IOVA = 0x80_0000_0000
const SIZE_2M = 2 * 1024 * 1024
/** Guest RAM pages at most; more mappings alias the same pages at other IOVAs. */
const MAX_RAM_PAGES = 65536

/** Pages per MAP_FILE call for `mappings` pages: at most ~2K areas, never a 2 MiB run. */
export function chunkPages(mappings: number): number {
  return Math.max(1, Math.min(256, Math.ceil(mappings / 2048)))
}

/** Emulated RAM a workload of `mappings` needs (guest RAM, page tables, IOMMU structures, slack). */
export function memoryFor(mappings: number): number {
  const ram = Math.min(mappings, MAX_RAM_PAGES) * PAGE_SIZE
  const tables = Math.ceil(mappings / 512) * PAGE_SIZE * 4
  const bytes = ram + tables + SIZE_2M * 2 + 48 * 1024 * 1024
  return Math.ceil(bytes / SIZE_2M) * SIZE_2M
}

/**
 * The VMM: userspace that owns guest memory (memfds) and drives iommufd. It records what it did
 * (the replay record), preserves its memfds into the LUO session, and after kexec reopens them by
 * token. Layout: IOAS `ioas:guest` maps guest RAM page runs at shuffled file offsets (so IOVA-
 * adjacent pages are physically apart) plus one 2 MiB block (a 2 MiB leaf); HWPT `hwpt:guest`
 * (stage 1 on SMMUv3) holds every device but the last; the last device sits on `hwpt:aux`
 * (a nesting parent: stage 2 on SMMUv3) over IOAS `ioas:aux`.
 */
export class GuestVmm {
  /** Memfds in LUO-session order (the handover's memfd indices). */
  readonly memfds: Memfd[] = []
  readonly record: UserspaceRecord = { ioas: [], hwpts: [], attachments: [] }
  /** Ground truth of each device's DMA: IOVA → page it must reach. */
  readonly workingSets = new Map<string, WorkingSetEntry[]>()

  static async setup(kernel: Kernel, o: WorkloadOptions): Promise<GuestVmm> {
    const vmm = new GuestVmm()
    const b = kernel.backend
    const rng = new SeededRandom(o.seed ^ 0x5eed)
    const chunk = chunkPages(o.mappings)
    const ramPages = Math.min(o.mappings, MAX_RAM_PAGES)
    const ramChunks = Math.ceil(ramPages / chunk)
    const ram = await vmm.memfd(b, 'guest-ram', ramChunks * chunk * PAGE_SIZE)
    const huge = await vmm.memfd(b, 'guest-huge', SIZE_2M)
    const aux = await vmm.memfd(b, 'aux-ram', 16 * PAGE_SIZE)

    // Shuffled chunk order (Fisher-Yates, seeded).
    const order = Array.from({ length: ramChunks }, (_, i) => i)
    for (let i = order.length - 1; i > 0; i--) {
      const j = rng.int(i + 1)
      ;[order[i], order[j]] = [order[j], order[i]]
    }
    const maps: {
      iova: number
      length: number
      file: number
      offset: number
      read: boolean
      write: boolean
    }[] = []
    const areas = Math.ceil(o.mappings / chunk)
    for (let i = 0; i < areas; i++) {
      const pages = Math.min(chunk, o.mappings - i * chunk)
      maps.push({
        iova: GUEST_IOVA + i * chunk * PAGE_SIZE,
        length: pages * PAGE_SIZE,
        file: ram.index,
        offset: order[i % ramChunks] * chunk * PAGE_SIZE,
        read: true,
        write: i % 7 !== 3,
      })
    }
    maps.push({ iova: HUGE_IOVA, length: SIZE_2M, file: huge.index, offset: 0, read: true, write: true })
    const guest = await vmm.ioas(b, 'ioas:guest', areasFrom(maps))
    const auxIoas = await vmm.ioas(
      b,
      'ioas:aux',
      areasFrom([
        { iova: AUX_IOVA, length: 16 * PAGE_SIZE, file: aux.index, offset: 0, read: true, write: true },
      ]),
    )
    const devices = kernel.machine.devices
    const last = devices.length > 1 ? devices[devices.length - 1] : undefined
    const devIds = new Map<string, number>()
    for (const d of devices) devIds.set(d.name, await b.deviceBind(d.name))
    const hwptGuest = await b.hwptAlloc(devIds.get(devices[0].name)!, guest)
    b.label(hwptGuest, 'hwpt:guest')
    vmm.record.hwpts.push({
      key: 'hwpt:guest',
      ioasKey: 'ioas:guest',
      device: devices[0].name,
      nestParent: false,
    })
    let hwptAux = 0
    if (last) {
      hwptAux = await b.hwptAlloc(devIds.get(last.name)!, auxIoas, { nestParent: true })
      b.label(hwptAux, 'hwpt:aux')
      vmm.record.hwpts.push({ key: 'hwpt:aux', ioasKey: 'ioas:aux', device: last.name, nestParent: true })
    }
    for (const d of devices) {
      const key = d === last ? 'hwpt:aux' : 'hwpt:guest'
      await b.deviceAttach(devIds.get(d.name)!, d === last ? hwptAux : hwptGuest)
      vmm.record.attachments.push({ device: d.name, hwptKey: key })
    }
    // DMA ground truth: pages of the IOAS each device's HWPT maps, from the VMM's own layout.
    for (const d of devices) {
      const ioasKey = d === last ? 'ioas:aux' : 'ioas:guest'
      const list = vmm.record.ioas.find((x) => x.key === ioasKey)!.maps
      const ws: WorkingSetEntry[] = []
      for (let k = 0; k < (o.workingSet ?? 128); k++) {
        const i = rng.int(list.n)
        const page = rng.int(list.length[i] / PAGE_SIZE)
        const f = vmm.memfds[list.file[i]]
        ws.push({
          iova: list.iova[i] + page * PAGE_SIZE,
          pa: f.frameAt(list.offset[i] + page * PAGE_SIZE),
          perm: list.prot[i] & 2 ? 'rw' : 'r',
        })
      }
      vmm.workingSets.set(d.name, ws)
      kernel.machine.addDmaDevice({
        name: d.name,
        requesterId: d.requesterId,
        workingSet: WorkingSet.from(ws),
        rate: kernel.machine.dmaRate,
      })
    }
    for (const m of vmm.memfds) kernel.session.add(m.token)
    return vmm
  }

  private async memfd(b: EmulatedBackend, name: string, size: number) {
    const { fd } = await b.memfdCreate(name, size, `memfd:${name}`)
    const memfd = b.process.file(fd, 'memfd')
    this.memfds.push(memfd)
    return { fd, memfd, index: this.memfds.length - 1 }
  }

  private async ioas(b: EmulatedBackend, key: string, maps: AreaColumns): Promise<number> {
    const id = await b.ioasAlloc()
    b.label(id, key)
    const fds = this.fdsByIndex(b)
    for (let i = 0; i < maps.n; i++)
      await b.ioasMapFile(id, {
        fd: fds[maps.file[i]],
        start: maps.offset[i],
        iova: maps.iova[i],
        length: maps.length[i],
        prot: { read: (maps.prot[i] & 1) !== 0, write: (maps.prot[i] & 2) !== 0 },
      })
    this.record.ioas.push({ key, maps })
    return id
  }

  /** The process's fd of each session memfd, by handover index. */
  fdsByIndex(b: EmulatedBackend): number[] {
    const open = b.process.openFiles()
    return this.memfds.map((m) => open.find((o) => o.memfd.token === m.token)!.fd)
  }

  /** What the LUO session carries of each memfd (its pages stay where they are). */
  describeMemfds(): HandoverMemfd[] {
    return this.memfds.map((m) => {
      const d = m.describe()
      return { token: d.token, name: d.name, size: d.size, frames: runsFromPas(d.frames) }
    })
  }

  /**
   * The restarted VMM after kexec: retrieves its memfds from the LUO session (same frames) and
   * installs them in the new process; `record` comes from the handover's userspace section.
   */
  static reopen(kernel: Kernel, memfds: HandoverMemfd[], record: UserspaceRecord | null): GuestVmm {
    const vmm = new GuestVmm()
    for (const m of memfds) {
      const d: MemfdDescriptor = {
        token: m.token,
        name: m.name,
        size: m.size,
        frames: runsToAddresses(m.frames),
      }
      const memfd = Memfd.restore(kernel.allocator, d)
      kernel.backend.process.install(memfd)
      vmm.memfds.push(memfd)
      kernel.session.add(m.token)
    }
    if (record) Object.assign(vmm.record, record)
    return vmm
  }
}

import { runsFromAddresses as runsFromPas } from '../handover/handover-format.js'
