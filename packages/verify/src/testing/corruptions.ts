import { PROT, type Verdict } from '@hitless/protocol'
import type { HostModel, ModelHwpt } from './synthetic-host.js'
import { randInt } from './seeded-random.js'

/** One class of broken update: what it does to the post state and what the verifier must say. */
export interface Corruption {
  name: string
  apply(post: HostModel, rnd: () => number): void
  verdict: Verdict
  /** The kind every reason about it starts with. */
  reason: string
}

function removeLeaves(h: ModelHwpt, drop: (i: number) => boolean): void {
  let n = 0
  for (let i = 0; i < h.count; i++) {
    if (drop(i)) continue
    h.iova[n] = h.iova[i]
    h.sizeLog2[n] = h.sizeLog2[i]
    h.prot[n] = h.prot[i]
    h.pa[n] = h.pa[i]
    h.offset[n] = h.offset[i]
    n++
  }
  h.count = n
}

function grow(h: ModelHwpt, extra: number): void {
  const cap = h.count + extra
  const g = <T extends Float64Array | Uint8Array>(a: T): T => {
    const b = new (a.constructor as new (n: number) => T)(cap)
    b.set(a.subarray(0, h.count))
    return b
  }
  h.iova = g(h.iova)
  h.sizeLog2 = g(h.sizeLog2)
  h.prot = g(h.prot)
  h.pa = g(h.pa)
  h.offset = g(h.offset)
}

/** A 4 KiB leaf of the main HWPT (not one of the 2 MiB ones). */
function smallLeaf(h: ModelHwpt, rnd: () => number): number {
  for (;;) {
    const i = randInt(rnd, h.count)
    if (h.sizeLog2[i] === 12) return i
  }
}

/** An unmapped 4 KiB IOVA between two mappings of the main HWPT (runs have gaps). */
function unmappedIova(h: ModelHwpt, rnd: () => number): number {
  for (;;) {
    const i = randInt(rnd, h.count - 1)
    if (h.sizeLog2[i] === 12 && h.iova[i + 1] > h.iova[i] + 1) return h.iova[i] + 1
  }
}

export function missingMappings(h: ModelHwpt, rnd: () => number, count: number): void {
  const drop = new Set<number>()
  while (drop.size < count) drop.add(smallLeaf(h, rnd))
  removeLeaves(h, (i) => drop.has(i))
}

export function extraMappings(h: ModelHwpt, rnd: () => number, count: number): void {
  const used = new Set<number>()
  while (used.size < count) used.add(unmappedIova(h, rnd))
  grow(h, count)
  for (const iova of used) {
    const i = h.count++
    h.iova[i] = iova
    h.sizeLog2[i] = 12
    h.prot[i] = PROT.READ | PROT.WRITE
    h.pa[i] = 0x7000000 + i
    h.offset[i] = 0x7000000 + i
  }
}

export function shiftedPas(h: ModelHwpt, rnd: () => number, count: number): void {
  for (let k = 0; k < count; k++) h.pa[smallLeaf(h, rnd)] += 1
}

export function changedPermissions(h: ModelHwpt, rnd: () => number, count: number): void {
  for (let k = 0; k < count; k++) h.prot[smallLeaf(h, rnd)] ^= PROT.WRITE
}

/** The catalogue of corruption classes (issue 6), each with the verdict and reason it must get. */
export const CORRUPTIONS: Corruption[] = [
  {
    name: 'missing mapping',
    apply: (p, r) => missingMappings(p.hwpts[0], r, 1),
    verdict: 'diverged',
    reason: 'leaf.missing',
  },
  {
    name: 'extra mapping',
    apply: (p, r) => extraMappings(p.hwpts[0], r, 1),
    verdict: 'diverged',
    reason: 'leaf.extra',
  },
  {
    name: 'shifted PA',
    apply: (p, r) => shiftedPas(p.hwpts[0], r, 1),
    verdict: 'diverged',
    reason: 'leaf.pa',
  },
  {
    name: 'permission change',
    apply: (p, r) => changedPermissions(p.hwpts[0], r, 1),
    verdict: 'diverged',
    reason: 'leaf.prot',
  },
  {
    name: 'leaf-size change (2 MiB leaf split into 512 pages, same translation)',
    apply: (p) => {
      const h = p.hwpts[0]
      const i = h.sizeLog2.indexOf(21)
      const [iova, pa, off, prot] = [h.iova[i], h.pa[i], h.offset[i], h.prot[i]]
      removeLeaves(h, (k) => k === i)
      grow(h, 512)
      for (let k = 0; k < 512; k++) {
        const j = h.count++
        h.iova[j] = iova + k
        h.sizeLog2[j] = 12
        h.pa[j] = pa + k
        h.offset[j] = off + k
        h.prot[j] = prot
      }
    },
    verdict: 'diverged',
    reason: 'leaf.size',
  },
  {
    name: 'device moved to another domain',
    apply: (p) => {
      p.attachments[0].hwpt = 'vm2/s2'
    },
    verdict: 'diverged',
    reason: 'attachment.moved',
  },
  {
    name: 'STE/CD or context entry changed',
    apply: (p) => {
      const c = p.config[0]
      const field = Object.keys(c.fields).find(
        (f) => !c.pointerFields?.includes(f) && typeof c.fields[f] === 'number',
      )!
      c.fields = { ...c.fields, [field]: (c.fields[field] as number) + 1 }
    },
    verdict: 'diverged',
    reason: 'config.changed',
  },
  {
    name: 'fault counter increased',
    apply: (p) => {
      p.faults = {
        ...p.faults,
        hardware: { ...p.faults.hardware!, recorded: p.faults.hardware!.recorded + 1 },
      }
      p.faults.groundTruth = (p.faults.groundTruth ?? 0) + 1
    },
    verdict: 'faulted',
    reason: 'fault.recorded',
  },
  {
    name: 'lost fault (queue overflow)',
    apply: (p) => {
      p.faults = { ...p.faults, hardware: { ...p.faults.hardware!, lost: p.faults.hardware!.lost + 1 } }
      p.faults.groundTruth = (p.faults.groundTruth ?? 0) + 1
    },
    verdict: 'faulted',
    reason: 'fault.lost',
  },
  {
    name: 'fault seen only by ground truth',
    apply: (p) => {
      p.faults = { ...p.faults, groundTruth: (p.faults.groundTruth ?? 0) + 3 }
    },
    verdict: 'faulted',
    reason: 'fault.groundTruth',
  },
  {
    name: 'wrong kernel',
    apply: (p) => {
      p.kernel = { ...p.kernel, version: '7.2.12-hitless1' }
    },
    verdict: 'diverged',
    reason: 'kernel.version',
  },
  {
    name: 'unchanged boot ID',
    apply: (p) => {
      p.kernel = { ...p.kernel, bootId: p.kernel.bootId.replace(/-b$/, '-a') }
    },
    verdict: 'diverged',
    reason: 'boot.unchanged',
  },
  {
    name: 'blackout over SLO',
    apply: (p) => {
      p.blackoutMs = 5000
    },
    verdict: 'diverged',
    reason: 'blackout.slo',
  },
  {
    name: 'IOAS area unmapped',
    apply: (p) => {
      p.ioas[0] = { ...p.ioas[0], areas: p.ioas[0].areas.slice(1) }
    },
    verdict: 'diverged',
    reason: 'area.missing',
  },
]
