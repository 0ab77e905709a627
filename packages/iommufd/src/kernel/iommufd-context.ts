import { PAGE_SIZE } from '@hitless/emulator'
import type { IommuDevice, IommuDomain, IommuDriver } from '../drivers/iommu-driver.js'
import { fail } from '../errno.js'
import { Device } from './device.js'
import { Hwpt } from './hwpt.js'
import type { Area, Prot } from './io-pagetable.js'
import { Ioas } from './ioas.js'
import { type IovaRange, U64_MAX } from './iova-ranges.js'
import { ObjectTable } from './object-table.js'
import type { UserProcess } from './user-process.js'

export interface MapRequest {
  /** Fixed IOVA (IOMMU_IOAS_MAP_FIXED_IOVA), or undefined to let the kernel choose. */
  iova?: number
  length: number
  prot: Prot
}

export interface HwptAllocFlags {
  /** IOMMU_HWPT_ALLOC_NEST_PARENT: on SMMUv3 a stage-2 domain. */
  nestParent?: boolean
  /** Any other flag bit: EOPNOTSUPP. */
  other?: number
}

/**
 * The iommufd context (`struct iommufd_ctx`, one open /dev/iommu) over one IOMMU driver: the
 * ioctl handlers of drivers/iommu/iommufd/{ioas,io_pagetable,hw_pagetable,device,main}.c, with
 * their checks in their order and their errnos. Every handler validates before it changes
 * anything, so a failed call leaves the state as it was.
 *
 * The kernel objects here are kernel state: a kexec destroys them. Everything the hardware uses
 * lives in emulated physical memory (page tables, STE/CD, context and PASID entries), so a new
 * kernel can rebuild the objects from memory and a handover and adopt the tables by root address.
 */
export class IommufdContext {
  readonly objects = new ObjectTable()

  constructor(
    readonly driver: IommuDriver,
    readonly process: UserProcess,
  ) {}

  // ---- IOAS ----------------------------------------------------------------------------------

  ioasAlloc(): number {
    return this.objects.insert(new Ioas(this.objects.nextId())).id
  }

  private ioas(id: number, call: string): Ioas {
    return this.objects.get<Ioas>(id, 'ioas', call)
  }

  ioasIovaRanges(id: number): { alignment: number; ranges: IovaRange[] } {
    const ioas = this.ioas(id, 'IOMMU_IOAS_IOVA_RANGES')
    return { alignment: ioas.iopt.alignment, ranges: ioas.iopt.ranges() }
  }

  ioasAllowIovas(id: number, ranges: readonly IovaRange[]): void {
    this.ioas(id, 'IOMMU_IOAS_ALLOW_IOVAS').iopt.setAllowed(ranges, 'IOMMU_IOAS_ALLOW_IOVAS')
  }

  /** IOMMU_IOAS_MAP of user memory at `uptr` (anonymous memory is mmap'd when uptr is undefined). */
  ioasMap(id: number, req: MapRequest & { uptr?: number }): { iova: number; uptr: number } {
    const call = 'IOMMU_IOAS_MAP'
    checkProt(req.prot, call)
    const ioas = this.ioas(id, call)
    checkLength(req.length, call)
    if (req.uptr !== undefined && req.uptr % PAGE_SIZE !== 0)
      fail('EINVAL', call, 'uptr must be page aligned')
    if (req.iova !== undefined) ioas.iopt.checkIova(req.iova, req.length, call)
    const uptr = req.uptr ?? this.process.mmapAnon(req.length)
    const { object, offset } = this.process.resolve(uptr, req.length, call)
    const iova = req.iova ?? ioas.iopt.allocIova(req.length, uptr, call)
    ioas.addArea({ iova, length: req.length, object, offset, prot: { ...req.prot } })
    return { iova, uptr }
  }

  /** IOMMU_IOAS_MAP_FILE: `length` bytes of the memfd `fd` from `start`. */
  ioasMapFile(id: number, req: MapRequest & { fd: number; start: number }): { iova: number } {
    const call = 'IOMMU_IOAS_MAP_FILE'
    checkProt(req.prot, call)
    const ioas = this.ioas(id, call)
    const file = this.process.file(req.fd, call)
    checkLength(req.length, call)
    if (req.start % PAGE_SIZE !== 0 || req.start < 0) fail('EINVAL', call, 'start must be page aligned')
    if (req.start + req.length > file.size) fail('EINVAL', call, 'range beyond the end of the file')
    if (req.iova !== undefined) ioas.iopt.checkIova(req.iova, req.length, call)
    const iova = req.iova ?? ioas.iopt.allocIova(req.length, req.start, call)
    ioas.addArea({ iova, length: req.length, object: file, offset: req.start, prot: { ...req.prot } })
    return { iova }
  }

  /**
   * IOMMU_IOAS_UNMAP: whole areas only. `iova` 0 with `length` U64_MAX unmaps everything. ENOENT
   * when nothing is mapped in the range or when it would split an area (then nothing is unmapped:
   * this model checks every area first).
   */
  ioasUnmap(id: number, iova: number, length: number | bigint): number {
    const call = 'IOMMU_IOAS_UNMAP'
    const ioas = this.ioas(id, call)
    let victims: Area[]
    if (iova === 0 && BigInt(length) === U64_MAX) victims = [...ioas.iopt.areas]
    else {
      const len = BigInt(length)
      if (len === 0n) fail('EINVAL', call, 'length is 0')
      if (BigInt(iova) + len - 1n > U64_MAX) fail('EOVERFLOW', call, 'IOVA + length overflows')
      const n = Number(len > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : len)
      victims = ioas.iopt.areasIn(iova, n)
      if (victims.some((a) => a.iova < iova || a.iova + a.length > iova + n))
        fail('ENOENT', call, 'the range splits a mapping')
      if (!victims.length) fail('ENOENT', call, 'nothing is mapped there')
    }
    let unmapped = 0
    for (const a of victims) {
      ioas.removeArea(a)
      unmapped += a.length
    }
    return unmapped
  }

  /**
   * IOMMU_IOAS_COPY: the pages behind [srcIova, srcIova+length) of `src` (which areas must cover
   * without a gap: ENOENT) mapped again into `dst`, sharing the same backing.
   */
  ioasCopy(dstId: number, srcId: number, srcIova: number, req: MapRequest): { iova: number } {
    const call = 'IOMMU_IOAS_COPY'
    checkProt(req.prot, call)
    const src = this.ioas(srcId, call)
    checkLength(req.length, call)
    const slices: { at: number; length: number; area: Area }[] = []
    let cursor = srcIova
    const end = srcIova + req.length
    for (const a of src.iopt.areasIn(srcIova, req.length)) {
      if (a.iova > cursor) break
      const from = Math.max(a.iova, cursor)
      const to = Math.min(a.iova + a.length, end)
      slices.push({ at: from - srcIova, length: to - from, area: a })
      cursor = to
    }
    if (cursor < end) fail('ENOENT', call, 'the source range is not fully mapped')
    const dst = this.ioas(dstId, call)
    if (req.iova !== undefined) dst.iopt.checkIova(req.iova, req.length, call)
    const iova = req.iova ?? dst.iopt.allocIova(req.length, srcIova, call)
    for (const s of slices)
      dst.addArea({
        iova: iova + s.at,
        length: s.length,
        object: s.area.object,
        offset: s.area.offset + (srcIova + s.at - s.area.iova),
        prot: { ...req.prot },
      })
    return { iova }
  }

  // ---- HWPT ------------------------------------------------------------------------------------

  /** IOMMU_HWPT_ALLOC from an IOAS for a device's IOMMU. */
  hwptAlloc(devId: number, ptId: number, flags: HwptAllocFlags = {}): number {
    const call = 'IOMMU_HWPT_ALLOC'
    if (flags.other) fail('EOPNOTSUPP', call, `unsupported flags 0x${flags.other.toString(16)}`)
    this.device(devId, call)
    const pt = this.objects.find(ptId)
    // iommufd_hwpt_alloc answers EINVAL (not ENOENT) for a pt_id that is not an IOAS.
    if (pt?.type !== 'ioas') fail('EINVAL', call, `pt ${ptId} is not an IOAS`)
    return this.newHwpt(pt as Ioas, flags, false, call).id
  }

  private newHwpt(ioas: Ioas, flags: HwptAllocFlags, auto: boolean, call: string): Hwpt {
    const domain = this.driver.domainAlloc({ nestParent: flags.nestParent })
    const aperture = apertureReservations(domain)
    try {
      ioas.iopt.checkReserve(aperture, call)
    } catch (e) {
      this.driver.domainFree(domain)
      throw e
    }
    const hwpt = this.objects.insert(new Hwpt(this.objects.nextId(), ioas, domain, auto))
    ioas.iopt.reserve(aperture, hwpt.reservationOwner)
    for (const a of ioas.iopt.areas) Ioas.fillArea(domain, a)
    ioas.hwpts.push(hwpt)
    ioas.users++
    ioas.updateAlignment()
    return hwpt
  }

  private freeHwpt(hwpt: Hwpt): void {
    const ioas = hwpt.ioas
    ioas.hwpts.splice(ioas.hwpts.indexOf(hwpt), 1)
    ioas.iopt.unreserve(hwpt.reservationOwner)
    ioas.users--
    ioas.updateAlignment()
    this.objects.remove(hwpt.id)
    this.driver.domainFree(hwpt.domain)
  }

  // ---- devices ---------------------------------------------------------------------------------

  /** VFIO_DEVICE_BIND_IOMMUFD: binds a platform device by name; returns the device id. */
  deviceBind(name: string): number {
    const call = 'VFIO_DEVICE_BIND_IOMMUFD'
    const dev = this.driver.devices.find((d) => d.name === name)
    if (!dev) fail('ENOENT', call, `no device ${name}`)
    if (this.objects.ofType<Device>('device').some((d) => d.dev === dev))
      fail('EBUSY', call, `${name} is bound`)
    return this.objects.insert(new Device(this.objects.nextId(), dev)).id
  }

  private device(id: number, call: string): Device {
    return this.objects.get<Device>(id, 'device', call)
  }

  /**
   * VFIO_DEVICE_ATTACH_IOMMUFD_PT on a detached device: `ptId` an HWPT, or an IOAS (then an
   * automatic HWPT of that IOAS is reused, or made). Returns the HWPT id.
   */
  deviceAttach(devId: number, ptId: number): number {
    const call = 'IOMMU_DEVICE_ATTACH'
    const dev = this.device(devId, call)
    const pt = this.objects.find(ptId)
    if (!pt || (pt.type !== 'ioas' && pt.type !== 'hwpt_paging'))
      fail('ENOENT', call, `no IOAS or HWPT ${ptId}`)
    if (dev.hwpt) fail('EINVAL', call, `device ${devId} is attached; replace it`)
    return this.moveDevice(dev, pt as Ioas | Hwpt, call).id
  }

  /** iommufd_device_replace: moves an attached device to `ptId` without blocking DMA in between. */
  deviceReplace(devId: number, ptId: number): number {
    const call = 'IOMMU_DEVICE_REPLACE'
    const dev = this.device(devId, call)
    const pt = this.objects.find(ptId)
    if (!pt || (pt.type !== 'ioas' && pt.type !== 'hwpt_paging'))
      fail('ENOENT', call, `no IOAS or HWPT ${ptId}`)
    if (!dev.hwpt) fail('EINVAL', call, `device ${devId} is not attached`)
    if (pt === dev.hwpt) return pt.id
    return this.moveDevice(dev, pt as Ioas | Hwpt, call).id
  }

  /** VFIO_DEVICE_DETACH_IOMMUFD_PT: the device's DMA is blocked. */
  deviceDetach(devId: number): void {
    const call = 'IOMMU_DEVICE_DETACH'
    const dev = this.device(devId, call)
    const old = dev.hwpt
    if (!old) fail('EINVAL', call, `device ${devId} is not attached`)
    this.driver.detach(dev.dev, old.domain)
    this.leave(dev, old)
  }

  /** Closing the device file: detach, then the device object goes. */
  deviceUnbind(devId: number): void {
    const dev = this.device(devId, 'VFIO_DEVICE_UNBIND')
    if (dev.hwpt) this.deviceDetach(devId)
    this.objects.remove(dev.id)
  }

  private moveDevice(dev: Device, pt: Ioas | Hwpt, call: string): Hwpt {
    const old = dev.hwpt
    const ioas = pt instanceof Hwpt ? pt.ioas : pt
    // The device's reserved regions must fit the target IOAS (iopt_table_enforce_dev_resv_regions).
    const sameIoas = old?.ioas === ioas
    if (!sameIoas) ioas.iopt.checkReserve(dev.dev.reserved, call)
    let target: Hwpt
    if (pt instanceof Hwpt) target = pt
    else {
      // iommufd_device_auto_get_domain: reuse an automatic HWPT of this IOAS, else make one.
      target = ioas.hwpts.find((h) => h.auto) ?? this.newHwpt(ioas, {}, true, call)
    }
    if (target === old) return old
    if (!sameIoas) ioas.iopt.reserve(dev.dev.reserved, dev.reservationOwner)
    this.driver.attach(dev.dev, target.domain, old?.domain)
    if (old) this.leave(dev, old, sameIoas)
    dev.hwpt = target
    target.devices.add(dev)
    target.users++
    return target
  }

  /** The device no longer uses `old`: drop its references; an automatic HWPT goes with its last device. */
  private leave(dev: Device, old: Hwpt, keepReservation = false): void {
    old.devices.delete(dev)
    old.users--
    if (dev.hwpt === old) dev.hwpt = undefined
    if (!keepReservation) old.ioas.iopt.unreserve(dev.reservationOwner)
    if (old.auto && old.devices.size === 0) this.freeHwpt(old)
  }

  // ---- destroy and the oracle ------------------------------------------------------------------

  /** IOMMU_DESTROY: ENOENT for an unknown id, EBUSY while anything holds the object. */
  destroy(id: number): void {
    const call = 'IOMMU_DESTROY'
    const obj = this.objects.find(id)
    if (!obj) fail('ENOENT', call, `no object ${id}`)
    if (obj.users > 0) fail('EBUSY', call, `object ${id} is in use`)
    if (obj instanceof Hwpt) this.freeHwpt(obj)
    else if (obj instanceof Ioas) {
      for (const a of [...obj.iopt.areas]) obj.removeArea(a)
      this.objects.remove(id)
    } else fail('EBUSY', call, `device ${id} belongs to its device file: unbind it`)
  }

  /**
   * The MD_CHECK_MAP oracle: every page of [iova, iova+length) in the HWPT's page table (a walk of
   * memory) translates to the frame behind the same page of user memory at `uptr`. EINVAL when not.
   */
  checkMap(hwptId: number, iova: number, length: number, uptr: number): void {
    const call = 'IOMMU_TEST_OP_MD_CHECK_MAP'
    const hwpt = this.objects.get<Hwpt>(hwptId, 'hwpt_paging', call)
    checkLength(length, call)
    for (let off = 0; off < length; off += PAGE_SIZE) {
      const leaf = hwpt.domain.lookup(iova + off)
      if (!leaf) fail('EINVAL', call, `IOVA 0x${(iova + off).toString(16)} is not mapped`)
      const pa = leaf.pa + ((iova + off) % leaf.size) - ((iova + off) % PAGE_SIZE)
      const { object, offset } = this.process.resolve(uptr + off, PAGE_SIZE, call)
      if (object.frameAt(offset) !== pa)
        fail('EINVAL', call, `IOVA 0x${(iova + off).toString(16)} maps other memory`)
    }
  }

  // ---- listing ----------------------------------------------------------------------------------

  ioases(): Ioas[] {
    return this.objects.ofType<Ioas>('ioas')
  }

  hwpts(): Hwpt[] {
    return this.objects.ofType<Hwpt>('hwpt_paging')
  }

  boundDevices(): Device[] {
    return this.objects.ofType<Device>('device')
  }

  /** The platform device behind a name, bound or not. */
  platformDevice(name: string): IommuDevice | undefined {
    return this.driver.devices.find((d) => d.name === name)
  }
}

function checkProt(prot: Prot, call: string): void {
  if (!prot.read && !prot.write) fail('EINVAL', call, 'neither READABLE nor WRITEABLE')
}

/** Length 0 is EINVAL; this model also wants whole pages (the kernel allows byte offsets). */
function checkLength(length: number, call: string): void {
  if (!Number.isSafeInteger(length) || length <= 0) fail('EINVAL', call, 'length is 0')
  if (length % PAGE_SIZE !== 0) fail('EINVAL', call, 'length must be a multiple of 4 KiB in this model')
}

/** iopt_table_add_domain: everything outside the domain's aperture becomes reserved. */
function apertureReservations(domain: IommuDomain): IovaRange[] {
  const out: IovaRange[] = []
  if (domain.aperture.start > 0) out.push({ start: 0n, last: BigInt(domain.aperture.start) - 1n })
  if (BigInt(domain.aperture.last) < U64_MAX)
    out.push({ start: BigInt(domain.aperture.last) + 1n, last: U64_MAX })
  return out
}
