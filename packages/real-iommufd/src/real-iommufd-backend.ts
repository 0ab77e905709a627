// The IommufdBackend over the real kernel's /dev/iommu, through native/iommufd-helper.
//
// Every state-changing call is the kernel's: the backend sends the ioctl, and on `err` rejects with
// the kernel's errno (IommufdError) having changed nothing. What the kernel answers is also what
// the backend records, because iommufd has no ioctl that lists an IOAS's mappings, its HWPTs or
// its devices: objects(), the IOAS areas of state() and snapshot() are this record of successful
// calls. What the kernel *can* be asked is asked at every snapshot: IOMMU_IOAS_IOVA_RANGES, and,
// on the selftest mock, the MD_CHECK_MAP oracle for every page of every HWPT's leaf view.
// docs/real-kernel-lane.md ("The real backend") lists what maps to what and what cannot be seen.
import type {
  BackendHardware,
  DeviceInfo,
  IommufdBackend,
  IovaRange,
  MapOptions,
  ObjectInfo,
  Protection,
} from '@hitless/iommufd/contract/iommufd-backend'
import type {
  BackendCapabilities,
  BackendSnapshot,
  SnapshotHwpt,
  SnapshotIoas,
  SnapshotLeaf,
} from '@hitless/iommufd/contract/snapshot'
import { type SnapshotOptions, toProtocolSnapshot } from '@hitless/iommufd/contract/to-protocol-snapshot'
import { ERRNO, type Errno, IommufdError, fail } from '@hitless/iommufd/errno'
import { formatRanges } from '@hitless/iommufd/kernel/iova-ranges'
import type { FaultCounts, Snapshot } from '@hitless/protocol'
import type { BoundDevice, DevicePort } from './devices/device-port.js'
import { faultInterrupts } from './fault-interrupts.js'
import {
  type HelperArg,
  HelperError,
  type HelperOk,
  decodeText,
  num,
  parseRanges,
} from './helper-protocol.js'
import type { HelperTransport } from './helper-transport.js'

const PAGE = 0x1000
const RW: Protection = { read: true, write: true }

export interface RealIommufdBackendOptions {
  /** The helper: QemuGuest in the lane, PipeHelper on a real host. */
  helper: HelperTransport
  /** How devices are bound and attached: MockDevices (selftest) or VfioCdevDevices (real host). */
  devices: DevicePort
  /** The IOMMU under the kernel; default `iommufd-mock` (what the lane runs on). */
  hardware?: BackendHardware
}

/** One IOAS area as the backend recorded it from a successful map, map_file or copy. */
interface Area {
  iova: number
  length: number
  read: boolean
  write: boolean
  /** Backing memfd token, or null for anonymous memory. */
  file: string | null
  offset: number
  /** Where the helper has the backing pages mapped (for MD_CHECK_MAP); undefined if unknown. */
  uptr: number | undefined
}

interface Memfd {
  fd: number
  token: string
  uptr: number
  size: number
}

interface DeviceRecord {
  name: string
  bound: BoundDevice
  hwpt: number | undefined
}

const protArg = (p: Protection) => `prot=${(p.read ? 'r' : '') + (p.write ? 'w' : '') || '-'}`

/**
 * The real /dev/iommu as an IommufdBackend. Capabilities are what userspace can observe: no
 * physical addresses, no hardware configuration entries, no hardware-held fault counters, no
 * ground truth of DMA faults, no DMA continuity. The leaf view (with backing) exists only where
 * the selftest mock's MD_CHECK_MAP oracle can confirm every page of it; on a real host it is absent.
 */
export class RealIommufdBackend implements IommufdBackend {
  readonly backend = 'real-iommufd'
  readonly hardware: BackendHardware
  readonly capabilities: BackendCapabilities
  private readonly helper: HelperTransport
  private readonly port: DevicePort
  private readonly ioases = new Map<number, Area[]>()
  private readonly hwpts = new Map<number, { ioas: number; auto: boolean }>()
  private readonly devs = new Map<number, DeviceRecord>()
  private readonly memfds = new Map<number, Memfd>()
  private readonly labels = new Map<number, string>()
  private nextToken = 1

  constructor(opts: RealIommufdBackendOptions) {
    this.helper = opts.helper
    this.port = opts.devices
    this.hardware = opts.hardware ?? 'iommufd-mock'
    const oracle = this.port.oracle
    this.capabilities = {
      leafView: oracle,
      physicalAddresses: false,
      backing: oracle,
      configEntries: false,
      hardwareFaultCounters: false,
      groundTruthFaults: false,
      dmaContinuity: false,
    }
  }

  /** A helper call whose `err` answer becomes IommufdError (the kernel's errno, by name). */
  private async k(command: string, ...args: HelperArg[]): Promise<HelperOk> {
    try {
      return await this.helper.call(command, ...args)
    } catch (e) {
      throw asIommufdError(e)
    }
  }

  /** Runs a device-port call with the same error conversion. */
  private async viaPort<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call()
    } catch (e) {
      throw asIommufdError(e)
    }
  }

  async kernel() {
    const ping = await this.k('ping')
    const boot = await this.k('read_file', '/proc/sys/kernel/random/boot_id')
    return { version: ping.values.release, bootId: decodeText(boot.values.text).trim() }
  }

  // ---- guest memory ----

  async memfdCreate(name: string, size: number, token?: string) {
    const r = await this.k('memfd_create', name, size)
    const m: Memfd = {
      fd: num(r, 'fd'),
      uptr: num(r, 'uptr'),
      size,
      token: token ?? `memfd:${this.nextToken++}:${name}`,
    }
    this.memfds.set(m.fd, m)
    return { fd: m.fd, uptr: m.uptr, token: m.token }
  }

  /**
   * Takes a memfd the helper already holds (one LUO gave back after a kexec) under its token:
   * maps the whole file so that MD_CHECK_MAP can compare against its pages.
   */
  async adoptMemfd(fd: number, token: string): Promise<{ fd: number; uptr: number; size: number }> {
    const size = num(await this.k('fd_size', fd), 'size')
    const uptr = num(await this.k('mmap', fd, 0, size), 'uptr')
    this.memfds.set(fd, { fd, uptr, size, token })
    return { fd, uptr, size }
  }

  /** The memfds this backend knows, by fd. */
  memfdList(): { fd: number; token: string; uptr: number; size: number }[] {
    return [...this.memfds.values()].map((m) => ({ ...m }))
  }

  async close(fd: number) {
    await this.k('close', fd)
    this.memfds.delete(fd)
  }

  /** Backing of user memory at `uptr`: the memfd mapping it falls in, else anonymous. */
  private backingOf(uptr: number): { file: string | null; offset: number } {
    for (const m of this.memfds.values())
      if (uptr >= m.uptr && uptr < m.uptr + m.size) return { file: m.token, offset: uptr - m.uptr }
    return { file: null, offset: 0 }
  }

  // ---- IOAS ----

  async ioasAlloc() {
    const id = num(await this.k('ioas_alloc'), 'id')
    this.ioases.set(id, [])
    return id
  }

  async ioasIovaRanges(ioasId: number) {
    const r = await this.k('ioas_iova_ranges', ioasId)
    return { alignment: num(r, 'alignment'), ranges: parseRanges(r.values.ranges) }
  }

  async ioasAllowIovas(ioasId: number, ranges: IovaRange[]) {
    const list = ranges.map((r) => `0x${r.start.toString(16)}-0x${r.last.toString(16)}`).join(',')
    await this.k('ioas_allow_iovas', ioasId, list || '-')
  }

  async ioasMap(ioasId: number, o: MapOptions & { uptr?: number }) {
    const prot = o.prot ?? RW
    const args: HelperArg[] = [ioasId, o.iova ?? 'auto', o.length, protArg(prot)]
    if (o.uptr !== undefined) args.push(`uptr=0x${o.uptr.toString(16)}`)
    const r = await this.k('ioas_map', ...args)
    const iova = num(r, 'iova')
    const uptr = num(r, 'uptr')
    this.ioases.get(ioasId)?.push({ iova, length: o.length, ...prot, ...this.backingOf(uptr), uptr })
    return { iova, uptr }
  }

  async ioasMapFile(ioasId: number, o: MapOptions & { fd: number; start: number }) {
    const prot = o.prot ?? RW
    const r = await this.k('ioas_map_file', ioasId, o.fd, o.start, o.length, o.iova ?? 'auto', protArg(prot))
    const iova = num(r, 'iova')
    const m = this.memfds.get(o.fd)
    this.ioases.get(ioasId)?.push({
      iova,
      length: o.length,
      ...prot,
      file: m?.token ?? `fd:${o.fd}`,
      offset: o.start,
      uptr: m ? m.uptr + o.start : undefined,
    })
    return { iova }
  }

  async ioasUnmap(ioasId: number, iova: number, length: number | bigint) {
    const r = await this.k('ioas_unmap', ioasId, iova, length)
    const areas = this.ioases.get(ioasId)
    if (areas) {
      const start = BigInt(iova)
      const end = start + BigInt(length)
      const kept = areas.filter((a) => !(BigInt(a.iova) >= start && BigInt(a.iova + a.length) <= end))
      areas.splice(0, areas.length, ...kept)
    }
    return num(r, 'length')
  }

  async ioasCopy(dstIoasId: number, srcIoasId: number, srcIova: number, o: MapOptions) {
    const prot = o.prot ?? RW
    const r = await this.k(
      'ioas_copy',
      dstIoasId,
      srcIoasId,
      srcIova,
      o.length,
      o.iova ?? 'auto',
      protArg(prot),
    )
    const iova = num(r, 'iova')
    // IOMMU_IOAS_COPY maps the pages of each source area it covers as one destination area
    // (iopt_get_pages, then iopt_map_pages): the backing carries over, the permissions are new.
    const dst = this.ioases.get(dstIoasId)
    const end = srcIova + o.length
    for (const a of [...(this.ioases.get(srcIoasId) ?? [])].sort((x, y) => x.iova - y.iova)) {
      const from = Math.max(a.iova, srcIova)
      const to = Math.min(a.iova + a.length, end)
      if (from >= to) continue
      dst?.push({
        iova: iova + (from - srcIova),
        length: to - from,
        ...prot,
        file: a.file,
        offset: a.offset + (from - a.iova),
        uptr: a.uptr === undefined ? undefined : a.uptr + (from - a.iova),
      })
    }
    return { iova }
  }

  // ---- HWPT ----

  async hwptAlloc(devId: number, ptId: number, flags: { nestParent?: boolean } = {}) {
    const args: HelperArg[] = [devId, ptId]
    if (flags.nestParent) args.push('flags=1') // IOMMU_HWPT_ALLOC_NEST_PARENT
    const id = num(await this.k('hwpt_alloc', ...args), 'id')
    this.hwpts.set(id, { ioas: this.ioasOf(ptId), auto: false })
    return id
  }

  /** The IOAS behind a pt id (an IOAS itself, or the IOAS a HWPT maps). */
  private ioasOf(ptId: number): number {
    return this.ioases.has(ptId) ? ptId : (this.hwpts.get(ptId)?.ioas ?? ptId)
  }

  // ---- devices ----

  async devices(): Promise<DeviceInfo[]> {
    const bound = [...this.devs.entries()]
    return this.port.names().map((name) => {
      const b = bound.find(([, d]) => d.name === name)
      return { name, devId: b?.[0], hwptId: b?.[1].hwpt }
    })
  }

  async deviceBind(name: string) {
    const call = 'VFIO_DEVICE_BIND_IOMMUFD'
    if (!this.port.names().includes(name)) fail('ENOENT', call, `backend: no device ${name}`)
    if ([...this.devs.values()].some((d) => d.name === name)) fail('EBUSY', call, `backend: ${name} is bound`)
    const bound = await this.viaPort(() => this.port.bind(name))
    this.devs.set(bound.devId, { name, bound, hwpt: undefined })
    return bound.devId
  }

  private device(devId: number, call: string): DeviceRecord {
    return this.devs.get(devId) ?? fail('ENOENT', call, `backend: no bound device ${devId}`)
  }

  private known(ptId: number): boolean {
    return this.ioases.has(ptId) || this.hwpts.has(ptId)
  }

  async deviceAttach(devId: number, ptId: number) {
    const call = 'VFIO_DEVICE_ATTACH_IOMMUFD_PT'
    const dev = this.device(devId, call)
    // VFIO itself would replace here (vfio_iommufd_physical_attach_ioas); the contract keeps
    // attach for detached devices and answers as the in-kernel iommufd_device_attach() does.
    if (dev.hwpt !== undefined) {
      if (!this.known(ptId)) fail('ENOENT', call, `backend: no IOAS or HWPT ${ptId}`)
      fail('EINVAL', call, `backend: device ${devId} is attached; replace it`)
    }
    const hwpt = await this.viaPort(() => this.port.attach(dev.bound, ptId))
    this.moved(dev, ptId, hwpt)
    return hwpt
  }

  async deviceReplace(devId: number, ptId: number) {
    const call = 'IOMMU_DEVICE_REPLACE'
    const dev = this.device(devId, call)
    if (dev.hwpt === undefined) {
      if (!this.known(ptId)) fail('ENOENT', call, `backend: no IOAS or HWPT ${ptId}`)
      fail('EINVAL', call, `backend: device ${devId} is not attached`)
    }
    const hwpt = await this.viaPort(() => this.port.replace(dev.bound, ptId))
    this.moved(dev, ptId, hwpt)
    return hwpt
  }

  async deviceDetach(devId: number) {
    const call = 'VFIO_DEVICE_DETACH_IOMMUFD_PT'
    const dev = this.device(devId, call)
    if (dev.hwpt === undefined) fail('EINVAL', call, `backend: device ${devId} is not attached`)
    await this.viaPort(() => this.port.detach(dev.bound))
    this.left(dev)
  }

  async deviceUnbind(devId: number) {
    const dev = this.device(devId, 'VFIO_DEVICE_UNBIND')
    await this.viaPort(() => this.port.unbind(dev.bound))
    this.left(dev)
    this.devs.delete(devId)
  }

  /** The device is now on `hwpt` (asked for `ptId`): an IOAS as pt means an automatic HWPT. */
  private moved(dev: DeviceRecord, ptId: number, hwpt: number): void {
    if (!this.hwpts.has(hwpt)) this.hwpts.set(hwpt, { ioas: this.ioasOf(ptId), auto: this.ioases.has(ptId) })
    if (dev.hwpt === hwpt) return
    this.left(dev)
    dev.hwpt = hwpt
  }

  /** The device left its HWPT; an automatic HWPT goes with its last device (as in the kernel). */
  private left(dev: DeviceRecord): void {
    const old = dev.hwpt
    dev.hwpt = undefined
    if (old === undefined || !this.hwpts.get(old)?.auto) return
    if (![...this.devs.values()].some((d) => d.hwpt === old)) {
      this.hwpts.delete(old)
      this.labels.delete(old)
    }
  }

  async destroy(id: number) {
    await this.k('destroy', id)
    this.ioases.delete(id)
    this.hwpts.delete(id)
    this.labels.delete(id)
  }

  async objects(): Promise<ObjectInfo[]> {
    const out: ObjectInfo[] = []
    const key = (id: number) => {
      const k = this.labels.get(id)
      return k ? { key: k } : {}
    }
    for (const id of this.ioases.keys()) out.push({ id, type: 'ioas', ...key(id) })
    for (const [id, h] of this.hwpts)
      out.push({ id, type: 'hwpt_paging', ioasId: h.ioas, auto: h.auto, ...key(id) })
    for (const id of this.devs.keys()) out.push({ id, type: 'device', ...key(id) })
    return out.sort((a, b) => a.id - b.id)
  }

  label(id: number, key: string): void {
    this.labels.set(id, key)
  }

  async checkMap(hwptId: number, iova: number, length: number, uptr: number) {
    if (!this.port.oracle)
      fail('EOPNOTSUPP', 'IOMMU_TEST_OP_MD_CHECK_MAP', `backend: ${this.port.kind} devices have no oracle`)
    await this.k('md_check_map', hwptId, iova, length, uptr)
  }

  /**
   * The kernel's IOMMU fault interrupts since boot (/proc/interrupts) as `recorded`; ground truth
   * and lost faults cannot be observed from userspace and are 0 here (capabilities say so).
   */
  async faultCounters(): Promise<FaultCounts> {
    const r = await this.k('read_file', '/proc/interrupts', 1 << 20)
    return { groundTruth: 0, recorded: faultInterrupts(decodeText(r.values.text)).count, lost: 0 }
  }

  private keyOf(id: number, kind: string): string {
    return this.labels.get(id) ?? `${kind}:${id}`
  }

  /**
   * The leaf view of one HWPT as far as the oracle confirms it: each recorded area of its IOAS is
   * checked with MD_CHECK_MAP against the backing pages; an area that fails as a whole is checked
   * page by page, and only the pages the mock domain really maps are leaves. Permissions are the
   * recorded ones (the oracle does not report them). IOVAs the backend never mapped are not asked.
   */
  private async oracleLeaves(hwptId: number, areas: readonly Area[]): Promise<SnapshotLeaf[]> {
    const leaves: SnapshotLeaf[] = []
    const pages = (a: Area, from: number, n: number) => {
      for (let i = from; i < from + n; i++)
        leaves.push({
          iova: a.iova + i * PAGE,
          size: PAGE,
          read: a.read,
          write: a.write,
          file: a.file,
          offset: a.offset + i * PAGE,
        })
    }
    for (const a of areas) {
      if (a.uptr === undefined)
        throw new Error(`real-iommufd: area 0x${a.iova.toString(16)} has no known backing pages to check`)
      if (await this.mapped(hwptId, a.iova, a.length, a.uptr)) pages(a, 0, a.length / PAGE)
      else
        for (let i = 0; i < a.length / PAGE; i++)
          if (await this.mapped(hwptId, a.iova + i * PAGE, PAGE, a.uptr + i * PAGE)) pages(a, i, 1)
    }
    return leaves
  }

  private async mapped(hwptId: number, iova: number, length: number, uptr: number): Promise<boolean> {
    try {
      await this.k('md_check_map', hwptId, iova, length, uptr)
      return true
    } catch (e) {
      if (e instanceof IommufdError && e.errno === 'EINVAL') return false
      throw e
    }
  }

  async state(): Promise<BackendSnapshot> {
    const files = new Set<string>()
    const ioas: SnapshotIoas[] = []
    for (const [id, areas] of [...this.ioases].sort((a, b) => a[0] - b[0])) {
      const r = await this.k('ioas_iova_ranges', id)
      const sorted = [...areas].sort((a, b) => a.iova - b.iova)
      for (const a of sorted) if (a.file !== null) files.add(a.file)
      ioas.push({
        key: this.keyOf(id, 'ioas'),
        id,
        alignment: num(r, 'alignment'),
        ranges: formatRanges(parseRanges(r.values.ranges)),
        areas: sorted.map((a) => ({
          iova: a.iova,
          length: a.length,
          read: a.read,
          write: a.write,
          file: a.file,
          offset: a.offset,
        })),
      })
    }
    const hwpts: SnapshotHwpt[] = []
    for (const [id, h] of [...this.hwpts].sort((a, b) => a[0] - b[0])) {
      const areas = [...(this.ioases.get(h.ioas) ?? [])].sort((a, b) => a.iova - b.iova)
      hwpts.push({
        key: this.keyOf(id, 'hwpt'),
        id,
        ioas: this.keyOf(h.ioas, 'ioas'),
        auto: h.auto,
        ...(this.capabilities.leafView ? { leaves: await this.oracleLeaves(id, areas) } : {}),
      })
    }
    const bound = [...this.devs.entries()].sort((a, b) => a[0] - b[0])
    return {
      backend: this.backend,
      hardware: this.hardware,
      kernel: await this.kernel(),
      capabilities: this.capabilities,
      files: [...files].sort(),
      ioas,
      hwpts,
      attachments: bound
        .filter(([, d]) => d.hwpt !== undefined)
        .map(([, d]) => ({ device: d.name, hwpt: this.keyOf(d.hwpt!, 'hwpt') })),
      devices: bound.map(([id, d]) => ({ name: d.name, id })),
      config: [],
      faults: await this.faultCounters(),
    }
  }

  async snapshot(opts: SnapshotOptions = {}): Promise<Snapshot> {
    return toProtocolSnapshot(await this.state(), opts)
  }
}

/** HelperError with a known errno → IommufdError (what the contract compares); anything else as it is. */
function asIommufdError(e: unknown): unknown {
  if (e instanceof HelperError && e.errno in ERRNO)
    return new IommufdError(
      e.errno as Errno,
      e.what || e.command,
      `the kernel answered ${e.errno} (helper command ${e.command})`,
    )
  return e
}
