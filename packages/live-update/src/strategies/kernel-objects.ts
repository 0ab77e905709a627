import { decodeCd, decodeSte, PAGE_SIZE, SteConfig } from '@hitless/emulator'
import {
  decodeLegacyContextEntry,
  decodePasidEntry,
  decodeScalableContextEntry,
  PGTT,
  qwordsToWords,
} from '@hitless/emulator/vtd/index'
import type { IovaRange } from '@hitless/iommufd'
import {
  type IommuDevice,
  type IommuDomain,
  type Memfd,
  Smmuv3IommuDriver,
  U64_MAX,
  type VtdIommuDriver,
} from '@hitless/iommufd'
import { Device } from '@hitless/iommufd/kernel/device'
import { Hwpt } from '@hitless/iommufd/kernel/hwpt'
import { Ioas } from '@hitless/iommufd/kernel/ioas'
import { planLeaves } from '@hitless/iommufd/kernel/leaf-size'
import { restoreRefused } from '../handover/handover-error.js'
import type { AreaColumns, HandoverHwpt } from '../handover/handover-format.js'
import type { Kernel } from '../machine/kernel.js'

/**
 * The new kernel's side of "rebuild the kernel objects, then adopt": domains recovered from
 * preserved tables by (format, tag, root), IOAS/HWPT/device objects inserted into the iommufd
 * context with the bookkeeping iommufd keeps (reservations, users, alignment), and attachments
 * adopted only where the live hardware entry already points at the domain — nothing the hardware
 * reads is written.
 */

/** A preserved domain, taken over by its root and tag (its table frames are KHO-reserved). */
export function adoptDomain(k: Kernel, h: HandoverHwpt): IommuDomain {
  const d = k.driver
  if (d instanceof Smmuv3IommuDriver) {
    if (h.format !== 'smmuv3-s1' && h.format !== 'smmuv3-s2')
      throw restoreRefused('format', `HWPT ${h.key} is ${h.format}, not an SMMUv3 domain`)
    return d.domainAdopt(h.format === 'smmuv3-s1' ? 1 : 2, h.tag, h.root)
  }
  if (h.format !== 'vtd-sl') throw restoreRefused('format', `HWPT ${h.key} is ${h.format}, not a VT-d domain`)
  return d.domainAdopt(h.tag, h.root)
}

/** iopt_table_add_domain: everything outside the aperture is reserved for the HWPT. */
function apertureReservations(domain: IommuDomain): IovaRange[] {
  const out: IovaRange[] = []
  if (domain.aperture.start > 0) out.push({ start: 0n, last: BigInt(domain.aperture.start) - 1n })
  if (BigInt(domain.aperture.last) < U64_MAX)
    out.push({ start: BigInt(domain.aperture.last) + 1n, last: U64_MAX })
  return out
}

/** An IOAS rebuilt from serialised areas (approach 1: no ioctl, no domain fill). */
export function insertIoas(
  k: Kernel,
  id: number,
  areas: AreaColumns,
  memfds: readonly Memfd[],
  allowed: [number, number][] | null,
): Ioas {
  const ctx = k.backend.context
  const ioas = ctx.objects.insert(new Ioas(id))
  for (let i = 0; i < areas.n; i++)
    ioas.iopt.areas.push({
      iova: areas.iova[i],
      length: areas.length[i],
      object: memfds[areas.file[i]],
      offset: areas.offset[i],
      prot: { read: (areas.prot[i] & 1) !== 0, write: (areas.prot[i] & 2) !== 0 },
    })
  if (allowed) ioas.iopt.allowed = allowed.map(([s, l]) => ({ start: BigInt(s), last: BigInt(l) }))
  return ioas
}

/** An HWPT around a recovered domain, mirroring `ioas` (the areas must already match the tables). */
export function insertHwpt(k: Kernel, ioas: Ioas, domain: IommuDomain, auto: boolean, id?: number): Hwpt {
  const ctx = k.backend.context
  const hwpt = ctx.objects.insert(new Hwpt(id ?? ctx.objects.nextId(), ioas, domain, auto))
  ioas.iopt.reserve(apertureReservations(domain), hwpt.reservationOwner)
  ioas.hwpts.push(hwpt)
  ioas.users++
  ioas.updateAlignment()
  return hwpt
}

/** What the live configuration entry of `dev` translates through, read from memory. */
export function liveDomainOf(k: Kernel, dev: IommuDevice): { root: number; tag: number } | undefined {
  const d = k.driver
  const sid = dev.requesterId
  if (d instanceof Smmuv3IommuDriver) {
    const ste = decodeSte(d.smmuDriver.readSte(sid))
    if (ste.V !== 1) return undefined
    if (ste.Config === SteConfig.S2Trans) return { root: ste.S2TTB, tag: ste.S2VMID }
    if (ste.Config !== SteConfig.S1Trans) return undefined
    const cd = decodeCd(d.smmuDriver.readCd(ste.S1ContextPtr, 0))
    if (cd.V !== 1) return undefined
    d.cdTables.set(sid, ste.S1ContextPtr)
    return { root: cd.TTB0, tag: cd.ASID }
  }
  const low = (d as VtdIommuDriver).vtdDriver
  const w = qwordsToWords(low.readContextEntry(sid))
  if (!low.scalable) {
    const ce = decodeLegacyContextEntry(w)
    return ce.p ? { root: ce.slptptr, tag: ce.did } : undefined
  }
  const ce = decodeScalableContextEntry(w)
  if (!ce.p) return undefined
  ;(d as VtdIommuDriver).pasidDirs.set(sid, ce.pasidDirPtr)
  const pa = low.pasidEntryAddress(ce.pasidDirPtr, 0, false)
  if (pa < 0) return undefined
  const pe = decodePasidEntry(qwordsToWords(Array.from({ length: 8 }, (_, i) => k.port.read64(pa + i * 8))))
  if (!pe.p || pe.pgtt !== PGTT.SL_ONLY) return undefined
  return { root: pe.slptptr, tag: pe.did }
}

/**
 * Binds `name` and adopts its attachment to `hwpt`: refused unless the live entry already
 * translates through exactly that domain (root and tag) — the kernel never writes an entry here.
 */
export function adoptAttachment(k: Kernel, name: string, hwpt: Hwpt | undefined, id?: number): Device {
  const ctx = k.backend.context
  const platform = ctx.platformDevice(name)
  if (!platform) throw restoreRefused('device', `no device ${name} on this host`)
  if (hwpt) {
    const live = liveDomainOf(k, platform)
    if (!live || live.root !== hwpt.domain.root || live.tag !== hwpt.domain.tag)
      throw restoreRefused(
        'attachment',
        `${name}: the live entry translates through ${live ? `root 0x${live.root.toString(16)} tag ${live.tag}` : 'nothing'}, not HWPT ${hwpt.id} (root 0x${hwpt.domain.root.toString(16)} tag ${hwpt.domain.tag})`,
        { device: name },
      )
  }
  const dev = ctx.objects.insert(new Device(id ?? ctx.objects.nextId(), platform))
  if (hwpt) {
    hwpt.ioas.iopt.reserve(platform.reserved, dev.reservationOwner)
    dev.hwpt = hwpt
    hwpt.devices.add(dev)
    hwpt.users++
  }
  return dev
}

export interface TableMismatch {
  kind: 'missing-in-replay' | 'missing-in-tables' | 'pa' | 'perm' | 'leaf-size'
  iova: number
  expected?: { pa: number; size: number; read: boolean; write: boolean }
  found?: { pa: number; size: number; read: boolean; write: boolean }
}

/**
 * The "trust but verify" check before adopting a preserved domain for a rebuilt IOAS: both ways,
 * every leaf the IOAS's areas call for (as iommu_map would cut them: same PA, permissions, leaf
 * size) is in the tables, and every leaf of the tables is one of them. Returns the first
 * mismatches (up to `limit`), none when the domain may be adopted.
 */
export function compareTables(
  ioas: Ioas,
  domain: IommuDomain,
  limit = 8,
): { leaves: number; mismatches: TableMismatch[] } {
  const found = domain.leaves()
  const out: TableMismatch[] = []
  let j = 0
  let leaves = 0
  const areas = [...ioas.iopt.areas].sort((a, b) => a.iova - b.iova)
  for (const a of areas) {
    for (const l of planLeaves(a.iova, a.length, (o) => a.object.frameAt(a.offset + o), domain.pageSizes)) {
      leaves++
      while (j < found.length && found[j].iova + found[j].size <= l.iova) {
        out.push({ kind: 'missing-in-replay', iova: found[j].iova, found: found[j] })
        j++
      }
      const f = found[j]
      const expected = { pa: l.pa, size: l.size, read: a.prot.read, write: a.prot.write }
      if (!f || f.iova > l.iova + l.size - 1) out.push({ kind: 'missing-in-tables', iova: l.iova, expected })
      else {
        if (f.iova !== l.iova || f.size !== l.size)
          out.push({ kind: 'leaf-size', iova: l.iova, expected, found: f })
        else if (f.pa !== l.pa) out.push({ kind: 'pa', iova: l.iova, expected, found: f })
        else if (f.read !== a.prot.read || f.write !== a.prot.write)
          out.push({ kind: 'perm', iova: l.iova, expected, found: f })
        // A leaf covering several planned ones (size mismatch) is consumed once.
        if (f.iova + f.size <= l.iova + l.size) j++
      }
      if (out.length >= limit) return { leaves, mismatches: out }
    }
  }
  for (; j < found.length && out.length < limit; j++)
    out.push({ kind: 'missing-in-replay', iova: found[j].iova, found: found[j] })
  return { leaves, mismatches: out }
}

export const PAGE = PAGE_SIZE
