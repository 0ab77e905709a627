import {
  type Attachment,
  type ConfigEntry,
  decodeSnapshot,
  type DmaEvidence,
  type FaultState,
  PAGE_SIZE,
  PROT,
  type Snapshot,
  SnapshotBuilder,
  type SnapshotCapabilities,
} from '@hitless/protocol'
import { randInt, seededRandom } from './seeded-random.js'

/**
 * A synthetic host's IOMMU state, for tests and the benchmark: what a backend would walk, kept
 * as columns so that a million mappings stay cheap. Addresses in 4 KiB pages.
 */
export interface HostModel {
  phase: 'pre' | 'post'
  backend: string
  hardware: string
  kernel: { version: string; bootId: string }
  capabilities: SnapshotCapabilities
  ioas: {
    key: string
    id: number
    areas: { iova: number; pages: number; file: string; offset: number; prot: number }[]
  }[]
  hwpts: ModelHwpt[]
  attachments: Attachment[]
  config: ConfigEntry[]
  faults: FaultState
  dma: DmaEvidence
  blackoutMs?: number
}

export interface ModelHwpt {
  key: string
  id: number
  ioas: string
  file: string
  count: number
  iova: Float64Array
  sizeLog2: Uint8Array
  prot: Uint8Array
  pa: Float64Array
  offset: Float64Array
}

export const FULL_CAPABILITIES: SnapshotCapabilities = {
  leafView: true,
  physicalAddresses: true,
  backing: true,
  configEntries: true,
  hardwareFaultCounters: true,
  groundTruthFaults: true,
  dmaContinuity: true,
}

export interface SyntheticOptions {
  seed: number
  /** 4 KiB mappings (discontiguous runs, shuffled physical pages). Default 2000. */
  mappings?: number
  /** 2 MiB leaves besides. Default 4. */
  hugeLeaves?: number
  hardware?: 'smmuv3-bbml2' | 'vtd-scalable'
  fromKernel?: string
  capabilities?: Partial<SnapshotCapabilities>
}

const RW = PROT.READ | PROT.WRITE | PROT.CACHE

/** The state before the update (phase `pre`). */
export function syntheticHost(o: SyntheticOptions): HostModel {
  const rnd = seededRandom(o.seed)
  const n = o.mappings ?? 2000
  const huge = o.hugeLeaves ?? 4
  const smmu = (o.hardware ?? 'smmuv3-bbml2').startsWith('smmu')
  // Shuffled physical frames: neighbours in IOVA are nowhere near each other in PA.
  const frames = new Float64Array(n)
  for (let i = 0; i < n; i++) frames[i] = 0x80000 + i
  for (let i = n - 1; i > 0; i--) {
    const j = randInt(rnd, i + 1)
    const t = frames[i]
    frames[i] = frames[j]
    frames[j] = t
  }
  const total = n + huge
  const h: ModelHwpt = {
    key: 'vm1/s2',
    id: 7,
    ioas: 'vm1',
    file: 'memfd:vm1-ram',
    count: total,
    iova: new Float64Array(total),
    sizeLog2: new Uint8Array(total),
    prot: new Uint8Array(total),
    pa: new Float64Array(total),
    offset: new Float64Array(total),
  }
  const areas: HostModel['ioas'][number]['areas'] = []
  let iova = 0x100
  let i = 0
  while (i < n) {
    const run = Math.min(n - i, 1 + randInt(rnd, 128))
    const prot = rnd() < 0.1 ? PROT.READ | PROT.CACHE : RW
    areas.push({ iova, pages: run, file: h.file, offset: i, prot })
    for (let k = 0; k < run; k++, i++) {
      h.iova[i] = iova + k
      h.sizeLog2[i] = 12
      h.prot[i] = prot
      h.pa[i] = frames[i]
      h.offset[i] = i
    }
    iova += run + 1 + randInt(rnd, 16)
  }
  // 2 MiB leaves above, naturally aligned, physically contiguous.
  let hugeIova = Math.ceil((iova + 512) / 512) * 512
  for (let k = 0; k < huge; k++, i++, hugeIova += 1024) {
    h.iova[i] = hugeIova
    h.sizeLog2[i] = 21
    h.prot[i] = RW
    h.pa[i] = 0x400000 + k * 512
    h.offset[i] = n + k * 512
    areas.push({ iova: hugeIova, pages: 512, file: h.file, offset: n + k * 512, prot: RW })
  }
  const devices = ['0000:00:03.0', '0000:00:04.0', '0000:00:05.0']
  const attachments: Attachment[] = devices.map((d, k) => ({
    device: smmu ? `sid:0x${(0x10 + k).toString(16)}` : `pci:${d}`,
    hwpt: k === 2 ? 'vm2/s2' : 'vm1/s2',
  }))
  const config: ConfigEntry[] = attachments.flatMap((a, k): ConfigEntry[] =>
    smmu
      ? [
          {
            kind: 'ste',
            key: a.device,
            fields: {
              'STE.V': 1,
              'STE.CONFIG': 6,
              'STE.S2VMID': k + 1,
              'STE.S2T0SZ': 16,
              'STE.S2TTB': `0x${(0x9000 + k).toString(16)}000`,
            },
            pointerFields: ['STE.S2TTB'],
            hwpt: a.hwpt,
          },
        ]
      : [
          {
            kind: 'context',
            key: `bdf:${devices[k].slice(5)}`,
            fields: {
              'CE.P': 1,
              'CE.DID': k + 1,
              'CE.PASIDE': 1,
              'CE.PASIDDIRPTR': `0x${(0x9000 + k).toString(16)}000`,
            },
            pointerFields: ['CE.PASIDDIRPTR'],
          },
          {
            kind: 'pasid',
            key: `bdf:${devices[k].slice(5)}/pasid:0`,
            fields: {
              'PE.P': 1,
              'PE.PGTT': 2,
              'PE.DID': k + 1,
              'PE.AW': 2,
              'PE.SSPTPTR': `0x${(0xa000 + k).toString(16)}000`,
            },
            pointerFields: ['PE.SSPTPTR'],
            hwpt: a.hwpt,
          },
        ],
  )
  const history = randInt(rnd, 5)
  const accesses = 1e6 + randInt(rnd, 1e6)
  return {
    phase: 'pre',
    backend: smmu ? 'emulated-smmuv3' : 'emulated-vtd',
    hardware: o.hardware ?? 'smmuv3-bbml2',
    kernel: { version: o.fromKernel ?? '7.1.0-hitless1', bootId: `boot-${o.seed}-a` },
    capabilities: { ...FULL_CAPABILITIES, ...o.capabilities },
    ioas: [
      { key: 'vm1', id: 3, areas },
      { key: 'vm2', id: 4, areas: [{ iova: 0x100, pages: 16, file: 'memfd:vm2-ram', offset: 0, prot: RW }] },
    ],
    hwpts: [
      h,
      {
        key: 'vm2/s2',
        id: 8,
        ioas: 'vm2',
        file: 'memfd:vm2-ram',
        count: 16,
        iova: Float64Array.from({ length: 16 }, (_, k) => 0x100 + k),
        sizeLog2: new Uint8Array(16).fill(12),
        prot: new Uint8Array(16).fill(RW),
        pa: Float64Array.from({ length: 16 }, (_, k) => 0x300000 + 16 - k),
        offset: Float64Array.from({ length: 16 }, (_, k) => k),
      },
    ],
    attachments,
    config,
    faults: {
      hardware: { source: smmu ? 'smmuv3-evtq' : 'vtd-frr', recorded: history, lost: 0 },
      groundTruth: history,
      kernel: { groundTruth: history, recorded: history, lost: 0 },
    },
    dma: { accessCounter: accesses },
  }
}

function cloneHwpt(h: ModelHwpt): ModelHwpt {
  return {
    ...h,
    iova: h.iova.slice(),
    sizeLog2: h.sizeLog2.slice(),
    prot: h.prot.slice(),
    pa: h.pa.slice(),
    offset: h.offset.slice(),
  }
}

/**
 * The state after a clean update: the same translations, with everything a correct update
 * legitimately changes — new boot ID and kernel, renumbered kernel objects, moved table
 * pointers, an IOAS area split in two, kernel fault counters restarted, DMA counters advanced.
 */
export function cleanPost(pre: HostModel, seed: number, targetKernel = '7.2.13-hitless1'): HostModel {
  const rnd = seededRandom(seed ^ 0x5bd1e995)
  const areas = pre.ioas[0].areas.slice()
  const splitAt = randInt(rnd, areas.length)
  const a = areas[splitAt]
  if (a.pages > 1) {
    const half = 1 + randInt(rnd, a.pages - 1)
    areas.splice(
      splitAt,
      1,
      { ...a, pages: half },
      { ...a, iova: a.iova + half, pages: a.pages - half, offset: a.offset + half },
    )
  }
  const during = 1 + randInt(rnd, 5000)
  return {
    ...pre,
    phase: 'post',
    kernel: { version: targetKernel, bootId: pre.kernel.bootId.replace(/-a$/, '-b') },
    ioas: [{ ...pre.ioas[0], id: pre.ioas[0].id + 10, areas }, ...pre.ioas.slice(1)],
    hwpts: pre.hwpts.map((h) => ({ ...cloneHwpt(h), id: h.id + 10 })),
    attachments: pre.attachments.map((x) => ({ ...x })),
    config: pre.config.map((c) => ({
      ...c,
      fields: Object.fromEntries(
        Object.entries(c.fields).map(([k, v]) => [
          k,
          c.pointerFields?.includes(k) ? `0x${(0xc000 + randInt(rnd, 0x1000)).toString(16)}000` : v,
        ]),
      ),
    })),
    faults: {
      ...(pre.faults.hardware ? { hardware: { ...pre.faults.hardware } } : {}),
      ...(pre.faults.groundTruth !== undefined ? { groundTruth: pre.faults.groundTruth } : {}),
      kernel: { groundTruth: 0, recorded: 0, lost: 0 },
    },
    dma: {
      accessCounter: (pre.dma.accessCounter ?? 0) + during + randInt(rnd, 100000),
      duringBlackout: during,
    },
    blackoutMs: 5 + randInt(rnd, 200),
  }
}

/** The snapshot a backend would produce for this state, through the shared builder. */
export function buildSnapshot(m: HostModel, takenAt = '2025-06-01T00:00:00.000Z'): SnapshotBuilder {
  const b = new SnapshotBuilder({
    phase: m.phase,
    backend: m.backend,
    hardware: m.hardware,
    takenAt,
    kernel: m.kernel,
    capabilities: m.capabilities,
  })
  for (const io of m.ioas) {
    const w = b.ioas(io.key, io.id)
    for (const a of io.areas) {
      w.area({
        iova: a.iova * PAGE_SIZE,
        length: a.pages * PAGE_SIZE,
        prot: a.prot,
        file: a.file,
        offset: a.offset * PAGE_SIZE,
      })
    }
  }
  for (const h of m.hwpts) {
    const w = b.hwpt(h.key, h.ioas, h.id)
    for (let i = 0; i < h.count; i++) {
      w.leaf(
        h.iova[i] * PAGE_SIZE,
        2 ** h.sizeLog2[i],
        h.prot[i],
        h.pa[i] * PAGE_SIZE,
        h.file,
        h.offset[i] * PAGE_SIZE,
      )
    }
  }
  for (const a of m.attachments) b.attach(a.device, a.hwpt, a.pasid)
  for (const c of m.config) b.config(c)
  b.faults(m.faults).dma(m.dma)
  if (m.blackoutMs !== undefined) b.blackout(m.blackoutMs)
  return b
}

/** Encoded and decoded again, as the verifier sees it (with Merkle trees). */
export function snapshotOf(m: HostModel): Snapshot {
  return decodeSnapshot(buildSnapshot(m).encode())
}
