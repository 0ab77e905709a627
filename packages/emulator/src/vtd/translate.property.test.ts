import assert from 'node:assert/strict'
import { test } from 'node:test'
import { SeededRandom } from '../dma/seeded-random.js'
import type { SlLeafSize } from '../pagetable/vtd-sl/sl-pte.js'
import { makeTestMachine, sidOf } from './test-machine.js'

/**
 * Property: after any sequence of map/unmap (each followed by the invalidation the kernel
 * issues), every mapped IOVA reaches its page with its permissions, and every unmapped one
 * faults. Random 4 KiB and 2 MiB leaves over a 64 MiB window; seeded, the seed printed on failure.
 */
const SID = sidOf(2, 0, 0)
const WINDOW = 64 * 1024 * 1024
const SIZES: SlLeafSize[] = [4096, 2097152]

for (const scalable of [false, true]) {
  for (const seed of [1, 2, 3, 0xbeef]) {
    test(`random map/unmap (${scalable ? 'scalable' : 'legacy'}, seed ${seed})`, () => {
      const rnd = new SeededRandom(seed)
      const m = makeTestMachine({ scalable, memoryBytes: 32 * 1024 * 1024 })
      const t = m.table()
      const did = 4
      if (scalable) {
        const { dir } = m.driver.allocPasidDirectory()
        m.driver.setScalableContext(SID, { pasidDirPtr: dir })
        m.driver.setPasidSecondLevel(dir, 0, did, t.root)
      } else {
        m.driver.setLegacyContext(SID, { p: true, fpd: false, tt: 0, slptptr: t.root, aw: 2, did })
      }
      // model: leaf base IOVA → {size, pa, r, w}
      const model = new Map<number, { size: SlLeafSize; pa: number; r: boolean; w: boolean }>()
      const covering = (iova: number) => {
        for (const size of SIZES) {
          const base = iova - (iova % size)
          const e = model.get(base)
          if (e && e.size === size) return { base, ...e }
        }
        return undefined
      }
      const check = (iova: number) => {
        const e = covering(iova)
        for (const access of ['read', 'write'] as const) {
          const out = m.iommu.translate(SID, iova, access)
          const allowed = e !== undefined && (access === 'read' ? e.r : e.w)
          const where = `seed ${seed} iova 0x${iova.toString(16)} ${access}`
          if (allowed) assert.equal(out.pa, e.pa + (iova - e.base), where)
          else assert.notEqual(out.fault, 0, where)
        }
      }
      for (let step = 0; step < 400; step++) {
        const size = SIZES[rnd.int(4) === 0 ? 1 : 0]
        const iova = rnd.int(WINDOW / size) * size
        const existing = covering(iova)
        if (existing && rnd.chance(0.7)) {
          t.unmap(existing.base, existing.size)
          model.delete(existing.base)
          m.driver.flushIotlbPages(did, existing.base, existing.size === 4096 ? 0 : 9)
        } else if (!existing) {
          // A 2 MiB leaf needs its whole range free of 4 KiB leaves.
          let free = true
          if (size !== 4096)
            for (const [b, e] of model) if (b >= iova && b < iova + size && e.size === 4096) free = false
          if (!free) continue
          const r = rnd.chance(0.8)
          const w = !r || rnd.chance(0.5)
          const pa = (1 + rnd.int(4096)) * size
          t.map(iova, pa, size, { r, w })
          model.set(iova, { size, pa, r, w })
          // A superpage replacing an empty table: flush before the table frame is reused.
          if (t.unlinkedTables.length) {
            m.driver.flushIotlbPages(did, iova, 9)
            for (const f of t.unlinkedTables.splice(0)) m.frames.free(f)
          }
        }
        check(iova + rnd.int(size))
        check(rnd.int(WINDOW))
      }
      for (const [base, e] of model) check(base + rnd.int(e.size))
      m.driver.drainFaults()
    })
  }
}
