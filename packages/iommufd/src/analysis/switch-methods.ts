import {
  DmaEngine,
  encodePasidEntry,
  PageTableBuilder,
  PGTT,
  SeededRandom,
  WorkingSet,
  type WorkingSetEntry,
} from '@hitless/emulator'
import type { Hardware } from '@hitless/protocol'
import type { EmulatedBackend } from '../backends/emulated-backend.js'
import { createEmulatedSmmuv3 } from '../backends/emulated-smmuv3.js'
import { createEmulatedVtd } from '../backends/emulated-vtd.js'
import type { IommuDomain } from '../drivers/iommu-driver.js'
import { Smmuv3Domain, type Smmuv3IommuDriver } from '../drivers/smmuv3-domain.js'
import { VTD_AGAW_48, type VtdIommuDriver } from '../drivers/vtd-domain.js'
import type { Hwpt } from '../kernel/hwpt.js'
import { planLeaves } from '../kernel/leaf-size.js'

/**
 * Ways of moving a live device to new page tables, as the seed question asks them ("can the
 * SMMUv3 page-table root be switched atomically and hitlessly, or must the old tables be
 * re-used?"). Each is a short CPU store sequence run by a kernel driver while DMA goes on.
 */
export const SWITCH_METHODS = [
  'cd-ttb0-swap-keep-asid',
  'cd-ttb0-swap-keep-asid-resized',
  'cd-swap-new-asid',
  'ste-s2ttb-swap-keep-vmid',
  'ste-s2ttb-swap-keep-vmid-resized',
  'ste-s2ttb-swap-new-vmid',
  'context-cmpxchg128',
  'context-two-stores',
  'pasid-clear-invalidate-set',
  'pasid-chunk0-cmpxchg128',
  'break-invalid',
  'adopt-existing-tables',
] as const
export type SwitchMethod = (typeof SWITCH_METHODS)[number]

export interface SwitchMethodInfo {
  method: SwitchMethod
  /** Hardware models the method exists on. */
  hardware: readonly Hardware[]
  /** One line: what the kernel does. */
  summary: string
}

const SMMU: Hardware[] = ['smmuv3-bbml0', 'smmuv3-bbml2']
const VTD: Hardware[] = ['vtd-legacy', 'vtd-scalable']

export const SWITCH_METHOD_INFO: Record<SwitchMethod, SwitchMethodInfo> = {
  'cd-ttb0-swap-keep-asid': {
    method: 'cd-ttb0-swap-keep-asid',
    hardware: SMMU,
    summary:
      'CD.TTB0 → new stage-1 tables (same leaf sizes), ASID kept; arm_smmu_write_entry, then TLBI_NH_ASID',
  },
  'cd-ttb0-swap-keep-asid-resized': {
    method: 'cd-ttb0-swap-keep-asid-resized',
    hardware: SMMU,
    summary:
      'as above, but the new tables map the 2 MiB block as 4 KiB pages (a leaf-size change under one ASID)',
  },
  'cd-swap-new-asid': {
    method: 'cd-swap-new-asid',
    hardware: SMMU,
    summary: 'iommufd replace onto a new stage-1 HWPT: CD.ASID and CD.TTB0 both change',
  },
  'ste-s2ttb-swap-keep-vmid': {
    method: 'ste-s2ttb-swap-keep-vmid',
    hardware: SMMU,
    summary: 'STE.S2TTB → new stage-2 tables (same leaf sizes), VMID kept; then TLBI_S12_VMALL',
  },
  'ste-s2ttb-swap-keep-vmid-resized': {
    method: 'ste-s2ttb-swap-keep-vmid-resized',
    hardware: SMMU,
    summary: 'as above, but the new stage-2 tables map the 2 MiB block as 4 KiB pages',
  },
  'ste-s2ttb-swap-new-vmid': {
    method: 'ste-s2ttb-swap-new-vmid',
    hardware: SMMU,
    summary: 'iommufd replace onto a new stage-2 HWPT: STE.S2VMID and STE.S2TTB both change',
  },
  'context-cmpxchg128': {
    method: 'context-cmpxchg128',
    hardware: VTD,
    summary:
      'context entry replaced by one 128-bit cmpxchg16b (legacy: SLPTPTR+DID; scalable: PASID-directory pointer)',
  },
  'context-two-stores': {
    method: 'context-two-stores',
    hardware: VTD,
    summary: 'the same context entry written as two 64-bit stores (high half, then low half)',
  },
  'pasid-clear-invalidate-set': {
    method: 'pasid-clear-invalidate-set',
    hardware: ['vtd-scalable'],
    summary: 'iommufd replace as upstream does it since Jan 2026: PASID entry P=0 → invalidate → set',
  },
  'pasid-chunk0-cmpxchg128': {
    method: 'pasid-chunk0-cmpxchg128',
    hardware: ['vtd-scalable'],
    summary: 'PASID entry chunk 0 (SLPTPTR+DID) replaced by one cmpxchg16b (the dropped v1 "replace" helper)',
  },
  'break-invalid': {
    method: 'break-invalid',
    hardware: [...SMMU, ...VTD],
    summary: 'any change made through an invalid entry: STE V=0 / context P=0 → sync → new entry → valid',
  },
  'adopt-existing-tables': {
    method: 'adopt-existing-tables',
    hardware: [...SMMU, ...VTD],
    summary: 'the new kernel adopts the live tables by root address; nothing the hardware reads is written',
  },
}

/** Methods that exist on `hardware`, in table order. */
export function methodsFor(hardware: Hardware): SwitchMethod[] {
  return SWITCH_METHODS.filter((m) => SWITCH_METHOD_INFO[m].hardware.includes(hardware))
}

/** The guest memory every scenario maps: a 2 MiB block and four 4 KiB pages. */
export const GUEST_BLOCK_IOVA = 0x4000_0000
export const GUEST_PAGES_IOVA = 0x100_0000
const SIZE_2M = 2 ** 21
const PAGE = 4096

/** One emulated host with a device doing DMA through HWPT A, and what a method needs prepared. */
export interface SwitchWorld {
  port: EmulatedBackend['machine']['port']
  engine: DmaEngine
  backend: EmulatedBackend
  hardware: Hardware
  devId: number
  ioas: number
  requesterId: number
  hwptA: Hwpt
  /** Prepared before the switch (not reachable by the device yet). */
  next?: { domain?: IommuDomain; hwptB?: Hwpt; pasidDir?: { dir: number; pdts: number } }
}

function stageOf(method: SwitchMethod): 1 | 2 {
  return method.startsWith('ste-s2ttb') ? 2 : 1
}

/**
 * Builds the host for `method` on `hardware`: IOAS with a 2 MiB memfd block and four 4 KiB pages,
 * one device attached to a user HWPT A, a DMA engine whose working set is the ground truth (the
 * memfd frames, never the tables), caches warmed by one probe; then what the method prepares
 * before its switch (new tables, a new HWPT, a new PASID directory).
 */
export function buildSwitchWorld(hardware: Hardware, method: SwitchMethod, seed = 1): SwitchWorld {
  const memoryBytes = 8 * 1024 * 1024
  const backend: EmulatedBackend = hardware.startsWith('smmuv3')
    ? createEmulatedSmmuv3({ bbml: hardware === 'smmuv3-bbml2' ? 2 : 0, memoryBytes, devices: 1 })
    : createEmulatedVtd({ scalable: hardware === 'vtd-scalable', memoryBytes, devices: 1 })
  const ctx = backend.context
  const dev = backend.driver.devices[0]
  const ioas = ctx.ioasAlloc()
  const devId = ctx.deviceBind(dev.name)
  const stage = stageOf(method)
  const hwptAId = ctx.hwptAlloc(devId, ioas, { nestParent: stage === 2 })
  ctx.deviceAttach(devId, hwptAId)
  const block = backend.process.memfdCreate('guest-ram', SIZE_2M, 'guest-ram')
  const pages = backend.process.memfdCreate('io-buffers', 4 * PAGE, 'io-buffers')
  const rw = { read: true, write: true }
  ctx.ioasMapFile(ioas, { fd: block.fd, start: 0, length: SIZE_2M, iova: GUEST_BLOCK_IOVA, prot: rw })
  ctx.ioasMapFile(ioas, { fd: pages.fd, start: 0, length: 4 * PAGE, iova: GUEST_PAGES_IOVA, prot: rw })
  const truth: WorkingSetEntry[] = [
    ...[0, 1, 0x100, 0x1ff].map((p) => ({
      iova: GUEST_BLOCK_IOVA + p * PAGE,
      pa: block.memfd.frameAt(p * PAGE),
      perm: 'rw' as const,
    })),
    ...[0, 1, 2, 3].map((p) => ({
      iova: GUEST_PAGES_IOVA + p * PAGE,
      pa: pages.memfd.frameAt(p * PAGE),
      perm: 'rw' as const,
    })),
  ]
  const engine = new DmaEngine(backend.driver.translator, new SeededRandom(seed))
  engine.addDevice({ requesterId: dev.requesterId, workingSet: WorkingSet.from(truth) })
  backend.addDmaEngine(engine)
  engine.probeAll()
  const hwptA = ctx.hwpts().find((h) => h.id === hwptAId)!
  const w: SwitchWorld = {
    port: backend.machine.port,
    engine,
    backend,
    hardware,
    devId,
    ioas,
    requesterId: dev.requesterId,
    hwptA,
  }
  prepare(w, method)
  return w
}

/** Fresh tables with `domain`'s tag and format, filled from the IOAS (4 KiB leaves only if `resized`). */
function sameTagTables(w: SwitchWorld, resized: boolean): IommuDomain {
  const drv = w.backend.driver as Smmuv3IommuDriver
  const old = w.hwptA.domain as Smmuv3Domain
  const tables = PageTableBuilder.create(drv.port, drv.allocator, { stage: old.stage })
  const d = new Smmuv3Domain(drv.smmuDriver, old.stage, old.tag, tables)
  const sizes = resized ? [PAGE] : d.pageSizes
  for (const a of w.hwptA.ioas.iopt.areas)
    for (const l of planLeaves(a.iova, a.length, (o) => a.object.frameAt(a.offset + o), sizes))
      d.mapLeaf(l.iova, l.pa, l.size, a.prot)
  return d
}

function newHwpt(w: SwitchWorld): Hwpt {
  const ctx = w.backend.context
  const id = ctx.hwptAlloc(w.devId, w.ioas, { nestParent: w.hwptA.domain.format === 'smmuv3-s2' })
  return ctx.hwpts().find((h) => h.id === id)!
}

function prepare(w: SwitchWorld, method: SwitchMethod): void {
  const vtd = w.hardware.startsWith('vtd') ? (w.backend.driver as VtdIommuDriver) : undefined
  switch (method) {
    case 'cd-ttb0-swap-keep-asid':
    case 'ste-s2ttb-swap-keep-vmid':
      w.next = { domain: sameTagTables(w, false) }
      return
    case 'cd-ttb0-swap-keep-asid-resized':
    case 'ste-s2ttb-swap-keep-vmid-resized':
      w.next = { domain: sameTagTables(w, true) }
      return
    case 'adopt-existing-tables':
      return
    default: {
      const hwptB = newHwpt(w)
      w.next = { hwptB }
      if (vtd?.vtdDriver.scalable && (method.startsWith('context') || method === 'break-invalid')) {
        // A new PASID directory whose RID_PASID entry points at B: reachable only once the
        // context entry is switched to it.
        const dir = vtd.vtdDriver.allocPasidDirectory()
        vtd.vtdDriver.setPasidEntry(dir.dir, 0, {
          did: hwptB.domain.tag,
          pgtt: PGTT.SL_ONLY,
          slptptr: hwptB.domain.root,
          aw: VTD_AGAW_48,
        })
        w.next.pasidDir = dir
      }
    }
  }
}

/** The switch itself: the stores and invalidations a kernel performs, DMA running in between. */
export function runSwitch(w: SwitchWorld, method: SwitchMethod): void {
  const ctx = w.backend.context
  const sid = w.requesterId
  if (w.hardware.startsWith('smmuv3')) {
    const drv = w.backend.driver as Smmuv3IommuDriver
    const smmu = drv.smmuDriver
    const old = w.hwptA.domain as Smmuv3Domain
    switch (method) {
      case 'cd-ttb0-swap-keep-asid':
      case 'cd-ttb0-swap-keep-asid-resized':
      case 'ste-s2ttb-swap-keep-vmid':
      case 'ste-s2ttb-swap-keep-vmid-resized': {
        // The driver's attach path with a domain of the same tag: one qword changes.
        drv.attach(ctx.driver.devices[0], w.next!.domain!, old)
        if (old.stage === 1) smmu.tlbiAsid(old.tag)
        else smmu.tlbiVmall(old.tag)
        return
      }
      case 'cd-swap-new-asid':
      case 'ste-s2ttb-swap-new-vmid':
        ctx.deviceReplace(w.devId, w.next!.hwptB!.id)
        return
      case 'break-invalid': {
        // STE V=0 → CFGI_STE+SYNC → new CD → STE V=1 → CFGI_STE+SYNC.
        const stePa = smmu.stePa(sid)
        const q0 = w.port.read64(stePa)
        w.port.store64(stePa, q0 & ~1n)
        smmu.submit([{ op: 'CFGI_STE', sid, leaf: true }])
        const t = drv.targetEntries(ctx.driver.devices[0], w.next!.hwptB!.domain as Smmuv3Domain)
        smmu.writeCd([sid], t.cdTable!, 0, t.cd!)
        w.port.store64(stePa, q0)
        smmu.submit([{ op: 'CFGI_STE', sid, leaf: true }])
        return
      }
      case 'adopt-existing-tables': {
        const adopted = drv.domainAdopt(old.stage, old.tag, old.root)
        drv.attach(ctx.driver.devices[0], adopted, old) // identical entries: nothing is written
        return
      }
    }
    throw new Error(`${method} does not apply to ${w.hardware}`)
  }
  const drv = w.backend.driver as VtdIommuDriver
  const low = drv.vtdDriver
  const old = w.hwptA.domain
  const b = w.next?.hwptB?.domain
  switch (method) {
    case 'context-cmpxchg128':
    case 'context-two-stores': {
      const how = method === 'context-cmpxchg128' ? 'cmpxchg128' : 'two-stores'
      if (!low.scalable) {
        drv.contextWriteMethod = how
        ctx.deviceReplace(w.devId, w.next!.hwptB!.id)
      } else {
        const { dir, pdts } = w.next!.pasidDir!
        low.setScalableContext(sid, { pasidDirPtr: dir, pdts }, how)
        low.flushIotlbDomain(old.tag)
      }
      return
    }
    case 'pasid-clear-invalidate-set':
      ctx.deviceReplace(w.devId, w.next!.hwptB!.id)
      return
    case 'pasid-chunk0-cmpxchg128': {
      const dir = drv.pasidDirs.get(sid)!
      const pa = low.pasidEntryAddress(dir, 0, false)
      const q = encodePasidEntry({
        p: true,
        did: b!.tag,
        pgtt: PGTT.SL_ONLY,
        slptptr: b!.root,
        aw: VTD_AGAW_48,
      })
      low.writer.cmpxchg128(pa, w.port.read64(pa), w.port.read64(pa + 8), q[0], q[1])
      low.flushPasidCache(old.tag, 0)
      low.flushIotlbDomain(old.tag)
      return
    }
    case 'break-invalid':
      low.clearContext(sid, [old.tag])
      if (!low.scalable)
        low.setLegacyContext(sid, {
          p: true,
          fpd: false,
          tt: 0,
          slptptr: b!.root,
          aw: VTD_AGAW_48,
          did: b!.tag,
        })
      else low.setScalableContext(sid, { pasidDirPtr: w.next!.pasidDir!.dir, pdts: w.next!.pasidDir!.pdts })
      return
    case 'adopt-existing-tables':
      drv.domainAdopt(old.tag, old.root)
      return
  }
  throw new Error(`${method} does not apply to ${w.hardware}`)
}
