import { randomUUID } from 'node:crypto'
import type { CpuStorePort, FrameAllocator, PhysicalMemory } from '@hitless/emulator'
import type { FaultCounts, Hardware, Snapshot } from '@hitless/protocol'
import type {
  DeviceInfo,
  IommufdBackend,
  IovaRange,
  MapOptions,
  ObjectInfo,
  Protection,
} from '../contract/iommufd-backend.js'
import type {
  BackendCapabilities,
  BackendSnapshot,
  SnapshotHwpt,
  SnapshotIoas,
} from '../contract/snapshot.js'
import { type SnapshotOptions, toProtocolSnapshot } from '../contract/to-protocol-snapshot.js'
import type { IommuDriver } from '../drivers/iommu-driver.js'
import { Hwpt } from '../kernel/hwpt.js'
import { IommufdContext } from '../kernel/iommufd-context.js'
import { formatRanges } from '../kernel/iova-ranges.js'
import { UserProcess } from '../kernel/user-process.js'

/** The emulated host's pieces a backend runs on (they outlive the kernel: a kexec replaces only the kernel). */
export interface EmulatedMachine {
  memory: PhysicalMemory
  allocator: FrameAllocator
  port: CpuStorePort
}

/**
 * DMA a backend counts into its fault counters and snapshots: a DmaEngine on the same thread, or
 * readings of one that runs on another (concurrent mode).
 */
export interface DmaCounterSource {
  /** Accesses that did not reach the page the working set says. */
  readonly groundTruthTotal: number
  /** Accesses so far, every device. */
  readonly accessTotal: number
}

export interface EmulatedBackendOptions {
  /** uname -r of the emulated kernel. */
  kernelVersion?: string
  /** Boot ID; default a fresh UUID (one per emulated boot). */
  bootId?: string
}

const DEFAULT_PROT: Protection = { read: true, write: true }

/**
 * An IommufdBackend over the emulated kernel (IommufdContext + a driver) on an emulated machine.
 * Calls run synchronously inside; the async surface is the contract's. Everything observable
 * is observable here: physical addresses, configuration entries, ground-truth faults of the DMA
 * engines registered with `addDmaEngine`.
 */
export class EmulatedBackend implements IommufdBackend {
  readonly context: IommufdContext
  readonly process: UserProcess
  readonly kernelVersion: string
  readonly bootId: string
  private readonly engines: DmaCounterSource[] = []
  private readonly labels = new Map<number, string>()

  constructor(
    readonly backend: string,
    readonly machine: EmulatedMachine,
    readonly driver: IommuDriver,
    opts: EmulatedBackendOptions = {},
  ) {
    this.process = new UserProcess(machine.allocator)
    this.context = new IommufdContext(driver, this.process)
    this.kernelVersion = opts.kernelVersion ?? '7.2.0-hitless-emulated'
    this.bootId = opts.bootId ?? randomUUID()
  }

  get hardware(): Hardware {
    return this.driver.hardware
  }

  get capabilities(): BackendCapabilities {
    return {
      leafView: true,
      physicalAddresses: true,
      backing: true,
      configEntries: true,
      hardwareFaultCounters: true,
      groundTruthFaults: true,
      dmaContinuity: this.engines.length > 0,
    }
  }

  /** Counts this engine's ground truth in faultCounters() and snapshots. */
  addDmaEngine(engine: DmaCounterSource): void {
    this.engines.push(engine)
  }

  async kernel() {
    return { version: this.kernelVersion, bootId: this.bootId }
  }

  async memfdCreate(name: string, size: number, token?: string) {
    const { fd, uptr, memfd } = this.process.memfdCreate(name, size, token)
    return { fd, uptr, token: memfd.token }
  }

  async close(fd: number) {
    this.process.close(fd)
  }

  async ioasAlloc() {
    return this.context.ioasAlloc()
  }

  async ioasIovaRanges(ioasId: number) {
    return this.context.ioasIovaRanges(ioasId)
  }

  async ioasAllowIovas(ioasId: number, ranges: IovaRange[]) {
    this.context.ioasAllowIovas(ioasId, ranges)
  }

  async ioasMap(ioasId: number, o: MapOptions & { uptr?: number }) {
    return this.context.ioasMap(ioasId, {
      iova: o.iova === 'auto' ? undefined : o.iova,
      length: o.length,
      prot: o.prot ?? DEFAULT_PROT,
      uptr: o.uptr,
    })
  }

  async ioasMapFile(ioasId: number, o: MapOptions & { fd: number; start: number }) {
    return this.context.ioasMapFile(ioasId, {
      iova: o.iova === 'auto' ? undefined : o.iova,
      length: o.length,
      prot: o.prot ?? DEFAULT_PROT,
      fd: o.fd,
      start: o.start,
    })
  }

  async ioasUnmap(ioasId: number, iova: number, length: number | bigint) {
    return this.context.ioasUnmap(ioasId, iova, length)
  }

  async ioasCopy(dstIoasId: number, srcIoasId: number, srcIova: number, o: MapOptions) {
    return this.context.ioasCopy(dstIoasId, srcIoasId, srcIova, {
      iova: o.iova === 'auto' ? undefined : o.iova,
      length: o.length,
      prot: o.prot ?? DEFAULT_PROT,
    })
  }

  async hwptAlloc(devId: number, ptId: number, flags: { nestParent?: boolean } = {}) {
    return this.context.hwptAlloc(devId, ptId, flags)
  }

  async devices(): Promise<DeviceInfo[]> {
    const bound = this.context.boundDevices()
    return this.driver.devices.map((d) => {
      const b = bound.find((x) => x.dev === d)
      return { name: d.name, requesterId: d.requesterId, devId: b?.id, hwptId: b?.hwpt?.id }
    })
  }

  async deviceBind(name: string) {
    return this.context.deviceBind(name)
  }

  async deviceAttach(devId: number, ptId: number) {
    return this.context.deviceAttach(devId, ptId)
  }

  async deviceReplace(devId: number, ptId: number) {
    return this.context.deviceReplace(devId, ptId)
  }

  async deviceDetach(devId: number) {
    this.context.deviceDetach(devId)
  }

  async deviceUnbind(devId: number) {
    this.context.deviceUnbind(devId)
  }

  async destroy(id: number) {
    this.context.destroy(id)
    this.labels.delete(id)
  }

  async objects(): Promise<ObjectInfo[]> {
    return this.context.objects.all().map((o) => {
      const info: ObjectInfo = { id: o.id, type: o.type }
      if (o instanceof Hwpt) {
        info.ioasId = o.ioas.id
        info.auto = o.auto
      }
      const key = this.labels.get(o.id)
      if (key) info.key = key
      return info
    })
  }

  label(id: number, key: string): void {
    this.labels.set(id, key)
  }

  async checkMap(hwptId: number, iova: number, length: number, uptr: number) {
    this.context.checkMap(hwptId, iova, length, uptr)
  }

  async faultCounters(): Promise<FaultCounts> {
    const log = this.driver.faultLog()
    let groundTruth = 0
    for (const e of this.engines) groundTruth += e.groundTruthTotal
    return { groundTruth, recorded: log.recorded, lost: log.lost }
  }

  private keyOf(id: number, kind: string): string {
    return this.labels.get(id) ?? `${kind}:${id}`
  }

  async snapshot(opts: SnapshotOptions = {}): Promise<Snapshot> {
    let accesses = 0
    for (const e of this.engines) accesses += e.accessTotal
    return toProtocolSnapshot(await this.state(), {
      ...(this.engines.length ? { accessCounter: accesses } : {}),
      ...opts,
    })
  }

  async state(): Promise<BackendSnapshot> {
    const files = new Set<string>()
    const ioas: SnapshotIoas[] = this.context.ioases().map((x) => ({
      key: this.keyOf(x.id, 'ioas'),
      id: x.id,
      alignment: x.iopt.alignment,
      ranges: formatRanges(x.iopt.ranges()),
      areas: x.iopt.areas.map((a) => {
        if (a.object.token) files.add(a.object.token)
        return {
          iova: a.iova,
          length: a.length,
          read: a.prot.read,
          write: a.prot.write,
          file: a.object.token ?? null,
          offset: a.offset,
        }
      }),
    }))
    const hwpts: SnapshotHwpt[] = this.context.hwpts().map((h) => {
      const areas = h.ioas.iopt.areas
      return {
        key: this.keyOf(h.id, 'hwpt'),
        id: h.id,
        ioas: this.keyOf(h.ioas.id, 'ioas'),
        auto: h.auto,
        format: h.domain.format,
        leaves: h.domain.leaves().map((l) => {
          const a = areas.find((x) => l.iova >= x.iova && l.iova < x.iova + x.length)
          return {
            iova: l.iova,
            size: l.size,
            read: l.read,
            write: l.write,
            pa: l.pa,
            file: a ? (a.object.token ?? null) : null,
            offset: a ? a.offset + (l.iova - a.iova) : undefined,
          }
        }),
      }
    })
    const bound = this.context.boundDevices()
    return {
      backend: this.backend,
      hardware: this.hardware,
      kernel: await this.kernel(),
      capabilities: this.capabilities,
      files: [...files].sort(),
      ioas,
      hwpts,
      attachments: bound
        .filter((d) => d.hwpt)
        .map((d) => ({ device: d.dev.name, hwpt: this.keyOf(d.hwpt!.id, 'hwpt') })),
      devices: bound.map((d) => ({ name: d.dev.name, id: d.id })),
      config: this.driver.configEntries(),
      faults: await this.faultCounters(),
      hardwareFaults: this.driver.faultLog(),
    }
  }
}
